"""Sphinx configuration of the cnnprop documentation site.

Build: ``python -m pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``.

Three things are generated here rather than written by hand, so that they
cannot drift from the code:

- the API pages (``docs/api/*.rst``), written from each module's ``__all__``
  at configuration time: a new public function gets its page with no edit;
- the kernel sources on the equations page (directive ``kernel-source``),
  included from the ``.pyx`` files by block name, so no line number is written
  down anywhere;
- the table of verification checks per equation (directive ``verify-checks``),
  read from ``cnnprop.verify.CHECKS``.

MathJax is served from the ``sphinx-mathjax-offline`` package (no CDN).
"""
import importlib
import inspect
import os
import re
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.directives.code import LiteralInclude
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
KERNELS = ROOT / "src" / "cnnprop" / "_kernels"

# An in-place build (python setup.py build_ext --inplace) is documented as it
# is; an installed cnnprop is used otherwise.
if any(KERNELS.glob("_support*.so")) or any(KERNELS.glob("_support*.pyd")):
    sys.path.insert(0, str(ROOT / "src"))

import cnnprop  # noqa: E402

project = "cnnprop"
copyright = "the cnnprop developers"
author = "the cnnprop developers"
release = cnnprop.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx-mathjax-offline",  # MathJax 3 from a package: the site works offline
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "gallery/README.rst", "**/README.md"]
templates_path = ["_templates"]

html_theme = "alabaster"
html_title = f"cnnprop {release}"
html_theme_options = {
    "description": "Exact, verified forward and backward propagation of CNNs, equation by equation",
    "fixed_sidebar": False,
    "page_width": "1100px",
    "body_max_width": "none",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}

# MyST: the Markdown pages of docs/ are the one source of their page
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# numpydoc: the docstrings are numpydoc; autosummary writes the member pages
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"

# sphinx-gallery: each example runs at build time and its figures are kept
sphinx_gallery_conf = {
    "examples_dirs": ["gallery"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "plot_gallery": "True",
}

# ---------------------------------------------------------------------------
# API pages from __all__

API_MODULES = [
    # (module, page, title, intro)
    ("cnnprop", "functions", "The functions (cnnprop)",
     "Every public name of :mod:`cnnprop` (``cnnprop.__all__``), one page each; "
     "each function's docstring cites the equation it computes "
     "(see :doc:`../equations-rendered`)."),
    ("cnnprop.nn", "nn", "The network API (cnnprop.nn)",
     "Layers, :class:`~cnnprop.nn.Sequential`, losses and optimisers: eqs (1)-(3) "
     "built from the functions. See also :doc:`../training`."),
    ("cnnprop.verify", "verify", "Verification (cnnprop.verify)",
     "The named checks that prove every equation on this build. See also :doc:`../verification`."),
    ("cnnprop.testing", "testing", "Testing helpers (cnnprop.testing)",
     "Helpers to check another implementation against cnnprop."),
]


def public_names(module):
    """The module's ``__all__`` split into routines/classes (own pages) and data."""
    pages, data = [], []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        (pages if inspect.isroutine(obj) or inspect.isclass(obj) else data).append(name)
    return pages, data


def write_api_pages():
    """Write docs/api/<page>.rst for each importable module and the API index."""
    api = DOCS / "api"
    api.mkdir(exist_ok=True)
    written = []
    for modname, page, title, intro in API_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError:
            continue  # cnnprop.testing before it lands
        pages, data = public_names(module)
        lines = [".. This page is generated by docs/conf.py from __all__; do not edit.", "",
                 title, "=" * len(title), "", f".. automodule:: {modname}", "   :no-members:", "",
                 intro, "", f".. currentmodule:: {modname}", ""]
        if pages:
            lines += [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
            lines += [f"   {name}" for name in pages] + [""]
        if data:
            lines += ["Constants", "---------", ""]
            for name in data:
                lines += [f".. autodata:: {name}", ""]
        content = "\n".join(lines)
        target = api / f"{page}.rst"
        if not target.exists() or target.read_text() != content:
            target.write_text(content)
        written.append(page)
    index = ["API reference", "=============", "",
             "Generated from each module's ``__all__``.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {page}" for page in written] + [""]
    content = "\n".join(index)
    target = api / "index.rst"
    if not target.exists() or target.read_text() != content:
        target.write_text(content)


write_api_pages()

# ---------------------------------------------------------------------------
# Kernel sources included from the .pyx files by block name


def find_block(path, name):
    """1-based (first, last) lines of the top-level ``def``/``cdef`` block ``name`` in path.

    The block starts at its ``def name(`` / ``cdef ... name(`` line (and any
    decorators above it) and runs to the last non-blank line before the next
    statement at column 0.
    """
    lines = Path(path).read_text().splitlines()
    head = re.compile(r"^(?:cp?def|def)\b[^(]*\b" + re.escape(name) + r"\s*\(")
    for i, line in enumerate(lines):
        if head.match(line):
            first = i
            while first > 0 and lines[first - 1].startswith("@"):
                first -= 1
            last = i
            for j in range(i + 1, len(lines)):
                if lines[j].strip() and not lines[j][0].isspace() and not lines[j].startswith(")"):
                    break
                if lines[j].strip():
                    last = j
            return first + 1, last + 1
    raise ValueError(f"no top-level def/cdef {name!r} in {path}")


class KernelSource(LiteralInclude):
    """``.. kernel-source:: conv_direct.pyx`` with ``:blocks: _forward_plane conv2d_forward``.

    A literalinclude of the named top-level blocks of a file of
    src/cnnprop/_kernels (Cython has no ``:pyobject:``).
    """

    option_spec = dict(LiteralInclude.option_spec, blocks=directives.unchanged_required)

    def run(self):
        path = KERNELS / self.arguments[0]
        ranges = [find_block(path, name) for name in self.options.pop("blocks").split()]
        self.options["lines"] = ",".join(f"{a}-{b}" for a, b in ranges)
        self.options.setdefault("language", "cython")
        self.options.setdefault("caption", f"src/cnnprop/_kernels/{self.arguments[0]}")
        self.arguments[0] = "/" + os.path.relpath(path, DOCS).replace(os.sep, "/")
        return super().run()


class VerifyChecks(SphinxDirective):
    """``.. verify-checks:: (4)``: the table of verify checks tied to these equations.

    Matches the argument (space-separated tokens such as ``(4)`` or ``E7``)
    against each check's ``equations`` field.
    """

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        from cnnprop.verify import CHECKS

        tokens = self.arguments[0].split()
        rows = [c for c in _checks(CHECKS) if any(_cites(c.equations, t) for t in tokens)]
        if not rows:
            raise self.error(f"no verify check cites {self.arguments[0]!r}")
        table = nodes.table(classes=["verify-checks"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (3, 2, 8):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += _row([nodes.Text("check"), nodes.Text("equations"), nodes.Text("what it compares")])
        body = nodes.tbody()
        group += body
        for c in rows:
            body += _row([nodes.literal(text=c.name), nodes.Text(c.equations), nodes.Text(c.summary)])
        note = nodes.paragraph()
        note += nodes.Text("Run them on your build: ")
        note += nodes.literal(text="python -m cnnprop verify " + " ".join(f"--check {c.name}" for c in rows))
        return [table, note]


def _checks(checks):
    return list(checks.values()) if hasattr(checks, "values") else list(checks)


def _cites(equations, token):
    """Does an equations field such as '(7)-(9), E11' cite token '(8)' or 'E11'?"""
    numbers = set()
    for a, b in re.findall(r"\((\d+)\)(?:\s*-\s*\((\d+)\))?", equations):
        numbers.update(range(int(a), int(b or a) + 1))
    m = re.fullmatch(r"\((\d+)\)", token)
    if m:
        return int(m.group(1)) in numbers
    return re.search(r"\b" + re.escape(token) + r"\b", equations) is not None


def _row(cells):
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        para = nodes.paragraph()
        para += cell
        entry += para
        row += entry
    return row


# ---------------------------------------------------------------------------
# Benchmark results and the asv dashboard, when they exist (never run here)

def copy_asv_dashboard(app, exc):
    """Publish a built asv dashboard (asv_benchmarks/.asv/html) under asv/ of the site."""
    html = ROOT / "asv_benchmarks" / ".asv" / "html"
    if exc is None and app.builder.format == "html" and (html / "index.html").exists():
        shutil.copytree(html, Path(app.outdir) / "asv", dirs_exist_ok=True)


def setup(app):
    app.add_directive("kernel-source", KernelSource)
    app.add_directive("verify-checks", VerifyChecks)
    app.connect("build-finished", copy_asv_dashboard)
