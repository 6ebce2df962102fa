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
exclude_patterns = ["_build", "_bench", "Thumbs.db", ".DS_Store", "gallery/README.rst", "**/README.md"]
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
# heading levels that skip (# then ###) are the pages' style, not an error
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
    "write_computation_times": False,  # no docs/sg_execution_times.rst for the contents to pick up
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
# The equations in LaTeX, 0-based: one source for the equations page
# (directive ``equation``) and for each function's page (appended to the
# docstring of every function whose summary line cites the equation).

EQUATIONS = {
    # key: (equation numbers it states, LaTeX)
    "table1": ((), r"""P = \left\lceil \frac{H - R + 1 + 2 p_h}{u} \right\rceil
        = \left\lfloor \frac{H + 2 p_h - R}{u} \right\rfloor + 1, \qquad
        Q = \left\lfloor \frac{W + 2 p_w - S}{v} \right\rfloor + 1"""),
    "1-3": ((1, 2, 3), r"""Z^{(l+1)} = f\left(Z^{(l)}; W^{(l)}\right), \qquad
        \Delta^{(l)} = g\left(\Delta^{(l+1)}\right), \qquad
        \frac{\partial E}{\partial W^{(l)}} = h\left(\Delta^{(l+1)}\right), \\
        E = \frac{1}{N} \sum_{n=0}^{N-1} E_n, \qquad \Delta^{(l)} = \frac{\partial E_n}{\partial Z^{(l)}}"""),
    "4": ((4,), r"""Z^{(l+1)}_{n,k,p,q} = \sum_{c=0}^{C-1} \sum_{r=0}^{R-1} \sum_{s=0}^{S-1}
        Z^{(l)}_{n,c,\,p u + r - p_h,\, q v + s - p_w}\; F_{k,c,r,s} + b_k \tag{4}"""),
    "5": ((5,), r"""\frac{\partial E}{\partial F_{k,c,r,s}} = \frac{1}{N}
        \sum_{n=0}^{N-1} \sum_{p=0}^{P-1} \sum_{q=0}^{Q-1}
        \Delta^{(l+1)}_{n,k,p,q}\; Z^{(l)}_{n,c,\,p u + r - p_h,\, q v + s - p_w} \tag{5}"""),
    "6": ((6,), r"""\frac{\partial E}{\partial b_k} = \frac{1}{N}
        \sum_{n=0}^{N-1} \sum_{p=0}^{P-1} \sum_{q=0}^{Q-1} \Delta^{(l+1)}_{n,k,p,q} \tag{6}"""),
    "7": ((7,), r"""\Delta^{(l)}_{n,c,h,w} = \sum_{k=0}^{K-1}
        \sum_{p=P_{\min}}^{P_{\max}} \sum_{q=Q_{\min}}^{Q_{\max}}
        \Delta^{(l+1)}_{n,k,p,q}\; F_{k,c,\,h - p u + p_h,\, w - q v + p_w} \tag{7}"""),
    "8-9": ((8, 9), r"""P_{\min} = \max\left(0, \left\lceil \frac{h + p_h - R + 1}{u} \right\rceil\right), \qquad
        P_{\max} = \min\left(P - 1, \left\lfloor \frac{h + p_h}{u} \right\rfloor\right) \tag{8, 9}"""),
    "12": ((12,), r"""p u - p_h \le h \le p u - p_h + R - 1 \tag{12}"""),
    "13": ((13,), r"""Z^{(l+1)}_{n,c,p,q} = \max_{0 \le r < R,\; 0 \le s < S}
        Z^{(l)}_{n,c,\,p u + r - p_h,\, q v + s - p_w} \tag{13}"""),
    "14": ((14,), r"""\Delta^{(l)}_{n,c,h,w} = \sum_{p=P_{\min}}^{P_{\max}} \sum_{q=Q_{\min}}^{Q_{\max}}
        \Delta^{(l+1)}_{n,c,p,q}\; B_{n,c,p,q,h,w}, \qquad
        B_{n,c,p,q,h,w} = \begin{cases} 1 & Z^{(l+1)}_{n,c,p,q} = Z^{(l)}_{n,c,h,w} \\
                                        0 & \text{otherwise} \end{cases} \tag{14}"""),
    "15": ((15,), r"""Z^{(l+1)} = \varphi\left(Z^{(l)}\right) \tag{15}"""),
    "16": ((16,), r"""\Delta^{(l)} = \Delta^{(l+1)} \odot \varphi'\left(Z^{(l)}\right) \tag{16}"""),
    "17": ((17,), r"""Z^{(l+1)}_{n,i} = \sum_{j} w_{i,j}\, Z^{(l)}_{n,j} + b_i \tag{17}"""),
    "18": ((18,), r"""\frac{\partial E}{\partial w_{i,j}} = \frac{1}{N} \sum_{n=0}^{N-1}
        \Delta^{(l+1)}_{n,i}\, Z^{(l)}_{n,j} \tag{18}"""),
    "19": ((19,), r"""\frac{\partial E}{\partial b_i} = \frac{1}{N} \sum_{n=0}^{N-1} \Delta^{(l+1)}_{n,i} \tag{19}"""),
    "20": ((20,), r"""\Delta^{(l)}_{n,j} = \sum_{i=0}^{I-1} \Delta^{(l+1)}_{n,i}\, w_{i,j} \tag{20}"""),
    # Beyond the source (docs/spec-beyond.md, docs/pooling.md): no source number, so
    # they are never matched from a docstring's "(N)"; the equations page shows them.
    "geometry-g": ((), r"""h = p u + r d_h - p_t, \quad w = q v + s d_w - p_l, \qquad
        P = \left\lfloor \frac{H + p_t + p_b - d_h (R - 1) - 1}{u} \right\rfloor + 1, \\
        p \text{ holds } h \iff P_{\min} \le p \le P_{\max} \text{ and } d_h \mid h + p_t - p u, \quad
        P_{\min} = \max\left(0, \left\lceil \frac{h + p_t - (R - 1) d_h}{u} \right\rceil\right)"""),
    "4g": ((), r"""Z'_{n,k,p,q} = b_k + \sum_{c'=0}^{C_g-1} \sum_{r,s}
        Z^{p}_{n,\,\gamma(k) C_g + c',\, h,\, w}\; F_{k,c',r,s}, \qquad
        \gamma(k) = \lfloor k / K_g \rfloor \tag{4g}"""),
    "5g": ((), r"""\frac{\partial E}{\partial F_{k,c',r,s}} = \frac{1}{N} \sum_{n,p,q}
        \Delta'_{n,k,p,q}\; Z^{p}_{n,\,\gamma(k) C_g + c',\, h,\, w} \tag{5g}"""),
    "7g": ((), r"""\Delta_{n,c,h,w} = \sum_{k:\, \gamma(k) = \lfloor c / C_g \rfloor}\;
        \sum_{(p, r),\, (q, s)} \Delta'_{n,k,p,q}\; F_{k,\, c - \gamma(k) C_g,\, r,\, s} \tag{7g}"""),
    "T": ((), r"""y = \operatorname{conv\_T}(x) = (7\text{g}) \text{ with } x \text{ as } \Delta',
        \qquad \langle \operatorname{conv}(z), y \rangle = \langle z, \operatorname{conv\_T}(y) \rangle
        \tag{T1-T3}"""),
    "13g": ((), r"""Y_{n,c,p,q} = \max_{r,s:\; 0 \le h < H,\; 0 \le w < W} Z_{n,c,h,w},
        \qquad I_{n,c,p,q} = h^{*} W + w^{*} \text{ (first maximum)} \tag{13g}"""),
    "14i": ((), r"""\Delta_{n,c,h,w} = \sum_{(p,q):\; I_{n,c,p,q} = h W + w} \Delta'_{n,c,p,q}
        \tag{14, indices}"""),
    "A1": ((), r"""Y_{n,c,p,q} = \frac{1}{D(p,q)} \sum_{r,s} Z^{p}_{n,c,h,w} \tag{A1}"""),
    "A2": ((), r"""\Delta_{n,c,h,w} = \sum_{(p,q) \ni (h,w)} \frac{\Delta'_{n,c,p,q}}{D(p,q)} \tag{A2}"""),
}


def _math_lines(key):
    latex = EQUATIONS[key][1]
    return [".. math::", ""] + ["   " + line.strip() for line in latex.splitlines()] + [""]


class Equation(SphinxDirective):
    """``.. equation:: 4``: the LaTeX of EQUATIONS['4'], displayed."""

    required_arguments = 1

    def run(self):
        from docutils.statemachine import StringList

        if self.arguments[0] not in EQUATIONS:
            raise self.error(f"no equation {self.arguments[0]!r} in docs/conf.py EQUATIONS")
        container = nodes.container(classes=["equation"])
        self.state.nested_parse(StringList(_math_lines(self.arguments[0]), source="docs/conf.py"),
                                self.content_offset, container)
        return container.children


def cited_equations(summary):
    """EQUATIONS keys cited by a docstring's summary line: 'eqs (7)-(9)' -> ['7', '8-9']."""
    numbers = set()
    for a, b in re.findall(r"\((\d+)\)(?:\s*-\s*\((\d+)\))?", summary):
        numbers.update(range(int(a), int(b or a) + 1))
    keys = [key for key, (nums, _) in EQUATIONS.items() if numbers & set(nums)]
    if "Table 1" in summary:
        keys.insert(0, "table1")
    return keys


def append_equations(app, what, name, obj, options, lines):
    """Show, on each function's page, the equations its summary line cites, rendered."""
    summary = next((line for line in lines if line.strip()), "")  # numpydoc puts a blank line first
    if what != "function" or not name.startswith("cnnprop."):
        return
    keys = cited_equations(summary)
    if not keys:
        return
    lines += ["", ".. rubric:: Equations (0-based, :doc:`/equations-rendered`)", ""]
    for key in keys:
        lines += _math_lines(key)


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
    # not \b: a token may start or end with a parenthesis, as "(4g)" does
    return re.search(r"(?<!\w)" + re.escape(token) + r"(?!\w)", equations) is not None


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

BENCH = Path(os.environ.get("CNNPROP_DOCS_BENCH", DOCS / "_bench"))


class BenchResults(SphinxDirective):
    """``.. bench-results::``: the plot and table of ``cnnprop bench`` when they were written.

    The benchmark is never run by the documentation build (minutes of 100 %
    CPU); ``python -m cnnprop bench --json docs/_bench/bench.json --plot
    docs/_bench/bench.png`` writes what this page shows (or set
    ``CNNPROP_DOCS_BENCH`` to another folder).
    """

    def run(self):
        import json

        data_path, plot_path = BENCH / "bench.json", BENCH / "bench.png"
        out = []
        if plot_path.exists():
            self.env.note_dependency(str(plot_path))
            here = Path(self.env.doc2path(self.env.docname)).parent
            uri = os.path.relpath(plot_path, here).replace(os.sep, "/")  # image URIs are relative to the page
            out.append(nodes.image(uri=uri, alt="cnnprop bench: speed-up over each peer"))
        if not data_path.exists():
            para = nodes.paragraph()
            para += nodes.Text("No results in this build. Write them with ")
            para += nodes.literal(text="python -m cnnprop bench --json docs/_bench/bench.json "
                                       "--plot docs/_bench/bench.png")
            para += nodes.Text(" and build the documentation again.")
            return out + [para]
        self.env.note_dependency(str(data_path))
        data = json.loads(data_path.read_text())
        impls = []
        table_rows = {}
        for rec in data.get("records", []):
            impl = rec.get("impl")
            if impl not in impls:
                impls.append(impl)
            key = (rec.get("dtype"), rec.get("layer"), rec.get("direction"))
            table_rows.setdefault(key, {})[impl] = rec.get("ms")
        table = nodes.table(classes=["bench-results"])
        group = nodes.tgroup(cols=3 + len(impls))
        table += group
        for _ in range(3 + len(impls)):
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        head += _row([nodes.Text(t) for t in ["dtype", "layer", "direction"] + [f"{i} ms" for i in impls]])
        body = nodes.tbody()
        group += body
        for key, times in table_rows.items():
            cells = [nodes.Text(str(k)) for k in key]
            cells += [nodes.Text("-" if times.get(i) is None else f"{times[i]:.2f}") for i in impls]
            body += _row(cells)
        note = nodes.paragraph()
        note += nodes.Text(f"{data.get('threads')} threads, medians of {data.get('repeats')} rounds; "
                           f"machine: {data.get('machine')}.")
        return out + [table, note]


ASV_HTML = ROOT / "asv_benchmarks" / ".asv" / "html"


class AsvDashboard(SphinxDirective):
    """``.. asv-dashboard::``: a link to the asv dashboard when it was built, else how to build it."""

    def run(self):
        para = nodes.paragraph()
        if (ASV_HTML / "index.html").exists():
            para += nodes.Text("The dashboard built on this machine: ")
            para += nodes.reference("", "asv/index.html", refuri="asv/index.html")
            para += nodes.Text(" (copied into this site by the documentation build).")
        else:
            para += nodes.Text("No dashboard was built on the machine that built this site; after ")
            para += nodes.literal(text="python asv_benchmarks/run_history.py")
            para += nodes.Text(", build the documentation again and it is linked here, under asv/.")
        return [para]


def copy_asv_dashboard(app, exc):
    """Publish a built asv dashboard (asv_benchmarks/.asv/html) under asv/ of the site."""
    if exc is None and app.builder.format == "html" and (ASV_HTML / "index.html").exists():
        shutil.copytree(ASV_HTML, Path(app.outdir) / "asv", dirs_exist_ok=True)


def add_every_page_to_the_contents(app, docname, source):
    """Replace the ``*`` entry of index.rst's toctree by every docs/*.md, *.rst page not listed.

    A glob would do the same but warns (an error under -W) when it matches
    nothing; pages added to docs/ later appear with no edit of index.rst.
    """
    if docname != root_doc:
        return
    text = source[0]
    listed = set(re.findall(r"^   ([\w/.-]+)\s*$", text, flags=re.M))
    pages = sorted({path.stem for suffix in source_suffix for path in DOCS.glob("*" + suffix)}
                   - listed - {root_doc, "README"})
    source[0] = text.replace("\n   *\n", "\n" + "".join(f"   {page}\n" for page in pages), 1)


def reread_the_contents(app, env, added, changed, removed):
    """index.rst depends on the list of pages: read it again on every build."""
    return [root_doc]


def setup(app):
    app.connect("source-read", add_every_page_to_the_contents)
    app.connect("env-get-outdated", reread_the_contents)
    app.add_directive("kernel-source", KernelSource)
    app.add_directive("verify-checks", VerifyChecks)
    app.add_directive("bench-results", BenchResults)
    app.add_directive("equation", Equation)
    app.add_directive("asv-dashboard", AsvDashboard)
    app.connect("autodoc-process-docstring", append_equations)
    app.connect("build-finished", copy_asv_dashboard)
