"""Benchmark the last N commits of main with asv and publish a dashboard that works offline.

    python asv_benchmarks/run_history.py            # the last 10 commits
    python asv_benchmarks/run_history.py -n 3 --quick --skip-slow
    python asv_benchmarks/run_history.py --no-run   # publish what is already measured

Each commit is built and installed in its own virtualenv from the checkout
(asv.conf.json), its benchmarks are run, and ``asv publish`` writes the HTML
dashboard to asv_benchmarks/.asv/html. The third-party JavaScript and CSS of
the dashboard are then fetched from the npm registry, cached outside git and
copied next to the page (offline_assets.py), so it renders without internet.
Results, environments and HTML stay in asv_benchmarks/.asv/, which git
ignores. Needs the `asv` package (``pip install asv``).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import offline_assets  # noqa: E402


CONFIG = HERE / "asv.conf.json"


def _asv(*args, config=CONFIG, env=None):
    command = [sys.executable, "-m", "asv", *args, "--config", str(config)]
    print("+", " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=HERE, env=env).returncode


def _settings():
    from asv.util import load_json

    return load_json(str(CONFIG), js_comments=True)


def repository():
    """The repository asv.conf.json benchmarks (a relative "repo" is relative to this folder)."""
    return (HERE / _settings()["repo"]).resolve()


def config_for(branch):
    """asv.conf.json, or a copy whose "branches" is ``branch`` when that is not one of them.

    asv graphs the branches its configuration names; a checkout without a
    local main (a detached CI checkout) needs the branch it was given there.
    """
    settings = _settings()
    if branch in settings.get("branches", []):
        return CONFIG
    for key in ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir"):
        settings[key] = str((HERE / settings[key]).resolve())
    settings["branches"] = [branch]
    generated = HERE / ".asv" / "asv.conf.generated.json"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(json.dumps(settings, indent=2))
    return generated


def commits(count, branch):
    """The newest ``count`` commits of ``branch``, newest first."""
    out = subprocess.run(["git", "rev-list", "-n", str(count), branch], cwd=repository(),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"run_history: cannot list the commits of {branch!r}: {out.stderr.strip()}")
    return out.stdout.split()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--commits", type=int, default=10, help="how many commits of main (default 10)")
    parser.add_argument("--branch", default="main", help="branch to walk back from (default main)")
    parser.add_argument("--quick", action="store_true", help="run each benchmark once (asv --quick)")
    parser.add_argument("--skip-slow", action="store_true",
                        help="skip the literal kernels on realistic layers (CNNPROP_ASV_SKIP_SLOW=1)")
    parser.add_argument("--bench", "-b", action="append", help="only benchmarks matching this regex")
    parser.add_argument("--no-run", action="store_true", help="only publish the results already there")
    args = parser.parse_args(argv)
    if args.commits < 1:
        parser.error("--commits must be >= 1")

    env = dict(os.environ)
    if args.skip_slow:
        env["CNNPROP_ASV_SKIP_SLOW"] = "1"
    config = config_for(args.branch)
    if not args.no_run:
        if not Path(os.path.expanduser("~/.asv-machine.json")).exists():
            _asv("machine", "--yes", config=config)
        hashes = commits(args.commits, args.branch)
        hashfile = HERE / ".asv" / "commits.txt"
        hashfile.parent.mkdir(parents=True, exist_ok=True)
        hashfile.write_text("\n".join(hashes) + "\n")
        options = ["--skip-existing-commits", "--show-stderr"] + (["--quick"] if args.quick else [])
        for pattern in args.bench or []:
            options += ["--bench", pattern]
        # a failed benchmark is reported in the dashboard; carry on and publish
        status = _asv("run", f"HASHFILE:{hashfile}", *options, config=config, env=env)
        if status not in (0, 2):
            return status
    if _asv("publish", config=config) != 0:
        return 1
    offline_assets.vendor(HERE / ".asv" / "html")
    print(f"\nDashboard: {HERE / '.asv' / 'html' / 'index.html'} (works offline).\n"
          f"Open it with:  cd {HERE} && asv preview   then browse http://127.0.0.1:8080/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
