"""The documentation site builds with no warning, and renders in a browser.

The build test is skipped when the docs requirements (the ``docs`` extra,
also in the ``test`` extra) are missing; the browser checks are skipped when
Chromium is missing (.ci/run installs Debian's chromium). It builds the site
as the README says (``python -m sphinx -W -b html docs ...``, gallery
included), serves it on localhost, loads pages in headless Chromium with no
network, and checks that the mathematics was typeset by MathJax, that the
API pages list every public name, and that every internal link resolves. A
screenshot of the equations page is saved as artifacts/docs-equations.png.

The doctests of every module and of the getting-started page run without
Sphinx.
"""
import doctest
import functools
import html.parser
import http.server
import importlib
import importlib.util
import inspect
import pkgutil
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

import cnnprop

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
DOCS_PACKAGES = ("sphinx", "numpydoc", "myst_parser", "sphinx_gallery", "sphinx-mathjax-offline", "matplotlib")
API_MODULES = {"cnnprop": "functions", "cnnprop.nn": "nn", "cnnprop.verify": "verify", "cnnprop.testing": "testing"}


def _modules():
    names = ["cnnprop"]
    for info in pkgutil.walk_packages(cnnprop.__path__, "cnnprop."):
        if not info.name.endswith("__main__") and "._kernels" not in info.name:
            names.append(info.name)
    return names


@pytest.mark.parametrize("module", _modules())
def test_every_module_docstring_example_runs(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_getting_started_example_runs():
    result = doctest.testfile(str(DOCS / "getting-started.rst"), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


def test_kernel_blocks_are_found_by_name():
    # the conf.py helper that includes kernel sources without line numbers
    spec = importlib.util.spec_from_file_location("_docs_conf_blocks", DOCS / "conf.py")
    if any(importlib.util.find_spec(p) is None for p in ("sphinx", "numpydoc")):
        pytest.skip("the docs requirements are not installed")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    path = REPO / "src" / "cnnprop" / "_kernels" / "conv_direct.pyx"
    lines = path.read_text().splitlines()
    first, last = conf.find_block(path, "conv2d_forward")
    assert lines[first - 1].startswith("def conv2d_forward(")
    assert lines[last - 1].strip() and lines[last - 1][0].isspace()
    assert all(not line.strip() or line[0].isspace() for line in lines[first:last])
    assert last == len(lines) or not lines[last].strip() or not lines[last][0].isspace()
    with pytest.raises(ValueError, match="no top-level"):
        conf.find_block(path, "no_such_kernel")
    assert conf._cites("(7)-(9), E11", "(8)") and conf._cites("(7)-(9), E11", "E11")
    assert not conf._cites("(7)-(9)", "(10)") and not conf._cites("E1", "E11")


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and key == "href" and attrs.get("rel") == ["canonical"]):
                self.hrefs.append(attrs[key])


def _parse(path):
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _headless(chromium, profile, *args):
    """Chromium with every non-local host unresolvable: the page gets no network (no CDN)."""
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=20000", *args],
        capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    missing = [p for p in DOCS_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"the docs requirements are not installed ({', '.join(missing)}): pip install '.[docs]'")
    if cnnprop.build_info()["boundscheck"]:
        # the site checks nothing about the kernels, and the gallery would run them slowly
        pytest.skip("the documentation site is built once, on the normal build (CI step 2)")
    out = tmp_path_factory.mktemp("site")
    html = out / "html"
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-j", "1", "-q", "-b", "html",
                            "-d", str(out / "doctrees"), str(DOCS), str(html)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    assert not build.stderr.strip(), build.stderr[-4000:]
    return html


def test_the_site_builds_with_no_warning_and_every_page_is_there(site):
    for page in ("index", "getting-started", "equations-rendered", "api/index", "auto_examples/index",
                 *(Path(p).stem for p in DOCS.glob("*.md"))):
        assert (site / f"{page}.html").exists(), page
    # every page of docs/ is in the contents, including pages added later
    index = (site / "index.html").read_text(encoding="utf-8")
    for path in DOCS.glob("*.md"):
        assert f'href="{path.stem}.html"' in index, path.name
    # the gallery ran: each example produced its figure
    examples = sorted((DOCS / "gallery").glob("plot_*.py"))
    assert len(examples) >= 4
    for example in examples:
        assert list((site / "_images").glob(f"sphx_glr_{example.stem}_*.png")), example.name
    # MathJax is served by the site, not by a CDN
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in site.rglob("*.html"):
        assert "cdn.jsdelivr.net" not in page.read_text(encoding="utf-8"), page


def test_the_api_pages_list_every_public_name(site):
    for modname, page in API_MODULES.items():
        try:
            module = importlib.import_module(modname)
        except ImportError:
            continue
        text = (site / "api" / f"{page}.html").read_text(encoding="utf-8")
        for name in module.__all__:
            assert f"{name}" in text, (modname, name)
            obj = getattr(module, name)
            if callable(obj):
                # its own rendered page, with its docstring
                own = site / "api" / "generated" / f"{modname}.{name}.html"
                assert own.exists(), own
                assert f'id="{modname}.{name}"' in own.read_text(encoding="utf-8"), own
    # each function whose summary line cites an equation shows it, typeset, on its page
    for name in cnnprop.__all__:
        obj = getattr(cnnprop, name)
        summary = ((getattr(obj, "__doc__", "") or "").strip().splitlines() or [""])[0]
        cited = re.search(r"eqs? \((\d+)\)|Table 1", summary)
        if inspect.isfunction(obj) and cited:
            text = (site / "api" / "generated" / f"cnnprop.{name}.html").read_text(encoding="utf-8")
            assert '<div class="math' in text and "\\[" in text, name
            if cited.group(1):
                assert f"\\tag{{{cited.group(1)}" in text or f"{cited.group(1)}, " in text, name


def test_the_equations_page_links_every_function_that_cites_an_equation(site):
    text = (site / "equations-rendered.html").read_text(encoding="utf-8")
    for name in cnnprop.__all__:
        obj = getattr(cnnprop, name)
        summary = ((getattr(obj, "__doc__", "") or "").strip().splitlines() or [""])[0]
        if inspect.isfunction(obj) and re.search(r"eqs? \((\d+)\)|Table 1", summary):
            assert f'href="api/generated/cnnprop.{name}.html#cnnprop.{name}"' in text, name


def test_every_internal_link_resolves(site):
    # (a copied asv dashboard, under asv/, is asv's own page and not checked here)
    pages = {path: _parse(path) for path in site.rglob("*.html") if path.relative_to(site).parts[0] != "asv"}
    broken = []
    for page, parsed in pages.items():
        for href in parsed.hrefs:
            url = urllib.parse.urlsplit(href)
            if url.scheme or url.netloc or href.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = page if not url.path else (page.parent / urllib.parse.unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {href}")
            elif url.fragment and target.suffix == ".html" and target in pages:
                if urllib.parse.unquote(url.fragment) not in pages[target].ids:
                    broken.append(f"{page.relative_to(site)}: {href} (no such anchor)")
    assert not broken, "\n".join(broken[:40])


def test_the_equations_render_as_mathematics_in_chromium(site, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium package)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for page in ("equations-rendered.html", "api/generated/cnnprop.conv2d_forward.html"):
            run = _headless(chromium, tmp_path / page.replace("/", "_"), "--dump-dom", base + page)
            dom = run.stdout
            assert "</html>" in dom, run.stderr[-2000:]
            source = (site / page).read_text(encoding="utf-8")
            # Sphinx writes inline math as \(...\) and display math as \[...\]: each becomes one mjx-container
            expected = source.count("\\(") + source.count("\\[")
            typeset = dom.count("<mjx-container")
            assert typeset > 0 and typeset >= expected, (page, typeset, expected)
            text = re.sub(r"<script.*?</script>", "", dom, flags=re.S)
            for raw in ("\\sum", "\\frac", "\\begin{", "\\Delta"):
                assert raw not in text, (page, raw)
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shot = artifacts / "docs-equations.png"
        shot.unlink(missing_ok=True)
        _headless(chromium, tmp_path / "shot", "--window-size=1280,2200", "--hide-scrollbars",
                  f"--screenshot={shot}", base + "equations-rendered.html")
        assert shot.exists() and shot.stat().st_size > 20_000
    finally:
        server.shutdown()
        server.server_close()
