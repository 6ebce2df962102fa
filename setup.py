"""Build of cnnprop's Cython kernels: the extension list and OpenMP detection.

Everything else (metadata, dependencies, extras) lives in pyproject.toml.

Environment switches read at build time:

CNNPROP_BOUNDSCHECK=1
    Compile the kernels with Cython's bounds and initialisation checks on, for
    hunting memory errors. Much slower; never for production use.
CNNPROP_DISABLE_OPENMP=1
    Build serial kernels even when the compiler supports OpenMP.
"""
import os
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
KERNELS = HERE / "src" / "cnnprop" / "_kernels"


def _flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


BOUNDSCHECK = _flag("CNNPROP_BOUNDSCHECK")
DISABLE_OPENMP = _flag("CNNPROP_DISABLE_OPENMP")

# Central directives. Wraparound and initializedcheck are off because the Python
# layer validates every shape before a kernel runs; cdivision is on because all
# index arithmetic is on non-negative values or goes through the explicit
# floor/ceil helpers of _kernels/_index.pxd.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": BOUNDSCHECK,
    "initializedcheck": BOUNDSCHECK,
    "wraparound": False,
    "cdivision": True,
    "embedsignature": True,
}

MODE = f"boundscheck={int(BOUNDSCHECK)} openmp_disabled={int(DISABLE_OPENMP)}"
STAMP = HERE / "build" / "cnnprop-build-mode"


def _read_stamp():
    try:
        return STAMP.read_text()
    except OSError:
        return None


def _write_stamp():
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(MODE)


OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n);
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler_type):
    """Compile and link flags that turn on OpenMP for this compiler."""
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang needs the preprocessor route and an installed libomp.
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


class BuildExtWithOpenMP(build_ext):
    """build_ext that probes for OpenMP once and adds its flags to every kernel."""

    def finalize_options(self):
        super().finalize_options()
        # Objects of the bounds-checked build live in their own folder (as
        # does its generated C, see _extensions), so switching
        # CNNPROP_BOUNDSCHECK never reuses an object of the other mode, and
        # a rebuild compiles only the kernels whose sources changed.
        if BOUNDSCHECK:
            self.build_temp = os.path.join(self.build_temp, "boundscheck")
        # The extension modules themselves (in build/lib*, or in src/ with
        # --inplace) have one path in both modes: recompile everything when
        # the last build here was of the other mode.
        if _read_stamp() != MODE:
            self.force = True
        # One compiler process a core: the kernels are independent modules.
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def _probe_openmp(self, compile_args, link_args):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "probe_openmp.c"
            src.write_text(OPENMP_PROBE)
            try:
                objects = self.compiler.compile(
                    [str(src)], output_dir=tmp, extra_postargs=compile_args
                )
                self.compiler.link_executable(
                    objects, "probe_openmp", output_dir=tmp, extra_postargs=link_args
                )
            except Exception:  # any compile or link failure means: no OpenMP
                return False
        return True

    def build_extensions(self):
        compile_args, link_args = _openmp_flags(self.compiler.compiler_type)
        if DISABLE_OPENMP:
            use_openmp = False
            reason = "CNNPROP_DISABLE_OPENMP is set"
        else:
            use_openmp = self._probe_openmp(compile_args, link_args)
            reason = "the compiler could not build an OpenMP test program"
        if use_openmp:
            for ext in self.extensions:
                ext.extra_compile_args += compile_args
                ext.extra_link_args += link_args
        else:
            message = (
                "\n" + "*" * 72 + "\n"
                f"cnnprop: building SERIAL kernels without OpenMP ({reason}).\n"
                "Every kernel will run on one thread whatever num_threads says.\n"
                "Install an OpenMP-capable compiler (gcc, or clang with libomp)\n"
                "for parallel kernels. The test suite fails on such a build unless\n"
                "CNNPROP_SKIP_OPENMP_TEST=1 is set.\n" + "*" * 72
            )
            warnings.warn(message, stacklevel=1)
            print(message, file=sys.stderr)
        super().build_extensions()
        _write_stamp()


# What every kernel cimports: without them no kernel builds.
REQUIRED_DECLARATIONS = ("_index.pxd", "_blas.pxd", "_openmp.pxd")


def _kernel_sources():
    """The kernels' .pyx files; stops the build, loudly, when they are missing.

    Without them setuptools would happily build a pure-Python wheel with no
    kernels (an sdist made without MANIFEST.in did exactly that), which then
    fails at import.
    """
    sources = sorted(KERNELS.glob("*.pyx"))
    missing = [name for name in REQUIRED_DECLARATIONS if not (KERNELS / name).is_file()]
    if not sources or missing:
        raise SystemExit(
            f"cnnprop: cannot build: the Cython kernel sources are missing from {KERNELS} "
            f"(found {len(sources)} .pyx files; missing {missing or 'no .pxd'}). "
            "Build from a git checkout or a complete sdist (MANIFEST.in lists what it must hold)."
        )
    return sources


def _extensions():
    sources = _kernel_sources()
    # imported after the check, so that a tree without kernels says so even
    # where Cython is not installed
    from Cython.Build import cythonize

    macros = [("CNNPROP_BOUNDSCHECK", "1")] if BOUNDSCHECK else []
    # -fno-math-errno: nothing here reads errno, and without it GCC treats
    # libm calls as having side effects. NaN and infinity semantics are
    # untouched (no -ffast-math).
    compile_args = [] if sys.platform == "win32" else ["-O3", "-fno-math-errno"]
    extensions = [
        Extension(
            f"cnnprop._kernels.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            define_macros=list(macros),
            # C helpers included by the kernels (cdef extern from "_vmath.h")
            include_dirs=[str(KERNELS.relative_to(HERE))],
            extra_compile_args=list(compile_args),
        )
        for pyx in sources
    ]
    # Separate folders for the C of each mode, so a normal build never picks up
    # C generated with bounds checks (cythonize only regenerates stale files).
    build_dir = "build/cython-boundscheck" if BOUNDSCHECK else "build/cython"
    return cythonize(extensions, compiler_directives=DIRECTIVES, build_dir=build_dir,
                     nthreads=os.cpu_count() or 1)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExtWithOpenMP})
