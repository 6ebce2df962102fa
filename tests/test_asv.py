"""The asv benchmarks run, and the published dashboard renders offline in Chromium.

Both tests need the repository checkout (asv_benchmarks/ and git history) and
the `asv` package (a test extra). They run asv on a copy of asv_benchmarks/,
with a private HOME, so nothing is written into the checkout or the user's
asv machine file. CI sets CNNPROP_SKIP_ASV=1 for its bounds-checked run, where
they would only repeat themselves.
"""
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ASV_DIR = REPO / "asv_benchmarks"

pytestmark = [
    pytest.mark.skipif(os.environ.get("CNNPROP_SKIP_ASV") == "1", reason="CNNPROP_SKIP_ASV=1"),
    pytest.mark.skipif(not (ASV_DIR / "asv.conf.json").exists() or not (REPO / ".git").exists(),
                       reason="needs the repository checkout (asv_benchmarks/ and .git)"),
]


@pytest.fixture
def asv_copy(tmp_path):
    """asv_benchmarks/ copied to tmp_path, pointing at this repository; env for asv."""
    pytest.importorskip("asv")
    work = tmp_path / "asv_benchmarks"
    shutil.copytree(ASV_DIR, work, ignore=shutil.ignore_patterns(".asv", "__pycache__"))
    conf = (work / "asv.conf.json").read_text()
    (work / "asv.conf.json").write_text(conf.replace('"repo": ".."', f'"repo": "{REPO.as_posix()}"'))
    home = tmp_path / "home"
    home.mkdir()
    real_cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=real_cache,
               PIP_CACHE_DIR=os.path.join(real_cache, "pip"),
               CNNPROP_ASV_PARAMS="ci", CNNPROP_ASV_SKIP_SLOW="1")
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], cwd=work, env=env,
                   capture_output=True, check=True, timeout=120)
    return work, env


def test_every_benchmark_runs_once_against_the_installed_package(asv_copy):
    work, env = asv_copy
    check = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([sys.executable, "-m", "asv", "run", "--python=same", "--quick", "--dry-run",
                          "--show-stderr"], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    # asv exits with 2 when a benchmark failed
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    ran = re.findall(r"··· (\S+)\s+ok$", run.stdout, re.M)
    assert len(ran) >= 30 and any("ConvForward" in name for name in ran), run.stdout[-3000:]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _headless(chromium, profile, *args):
    """Chromium with every non-local host unresolvable: the page gets no network."""
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=15000", *args],
        capture_output=True, text=True, timeout=180)


def test_the_dashboard_of_a_small_history_renders_offline(asv_copy, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    work, env = asv_copy
    # two real commits, each built in its own environment from the checkout
    history = subprocess.run([sys.executable, "run_history.py", "-n", "2", "--branch", "HEAD", "--quick",
                              "--skip-slow", "-b", "ConvForward"], cwd=work, env=env, capture_output=True,
                             text=True, timeout=1800)
    assert history.returncode == 0, history.stdout[-5000:] + history.stderr[-3000:]
    html = work / ".asv" / "html"
    sys.path.insert(0, str(work))
    try:
        import offline_assets
    finally:
        sys.path.pop(0)
    for page in html.glob("*.html"):
        assert offline_assets.external_references(page.read_text()) == [], page

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        grid = _headless(chromium, tmp_path / "p1", "--dump-dom", base)
        graph = _headless(chromium, tmp_path / "p2", "--dump-dom", base + "#bench_conv.ConvForward.time_call")
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shot = artifacts / "asv-dashboard.png"
        _headless(chromium, tmp_path / "p3", "--window-size=1400,900", f"--screenshot={shot}",
                  base + "#bench_conv.ConvForward.time_call")
    finally:
        server.shutdown()
        server.server_close()
    assert "failed to load" not in grid.stdout
    # the benchmark list, and a graph drawn by flot
    assert "bench_conv.ConvForward.time_call" in grid.stdout, grid.stdout[-2000:]
    assert 'id="graph"' in graph.stdout and 'class="flot-base"' in graph.stdout, graph.stdout[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
