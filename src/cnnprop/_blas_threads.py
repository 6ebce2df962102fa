"""Keep the BLAS behind scipy.linalg.cython_blas on one thread while our kernels call it.

The fast kernels call BLAS from inside OpenMP parallel loops, one call per
task on each thread. If BLAS also spread each call over its own thread pool,
the two pools would fight for the same cores (oversubscription). So around a
kernel call BLAS is set to one thread, and set back afterwards.

scipy's wheels link OpenBLAS (``libscipy_openblas``), whose thread count is
set with ``scipy_openblas_set_num_threads`` (``openblas_set_num_threads`` in
other builds). The library is looked up once, among the shared objects this
process has loaded, and cached. With another BLAS (MKL, Accelerate, a
system BLAS), :func:`controller` returns a controller that does nothing, and
its ``available`` says so.

threadpoolctl does the same job for any BLAS, but a ``limit`` of it costs
50-110 us per call (measured against 0.5 us here, and about 50 us for a
whole small call), and its limits, opened by concurrent threads, would
restore each other's counts out of order.
"""
import contextlib
import ctypes
import functools
import glob
import os

from ._kernels import _support

__all__ = ["controller", "BlasThreads"]

# (setter, getter) pairs tried in order, for the builds of OpenBLAS in the wild
_SYMBOLS = (
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
)


class BlasThreads:
    """Get and temporarily limit the thread count of one BLAS library.

    The state of the limit (how many are open, the count to restore) lives in
    a compiled :class:`cnnprop._kernels._support.BlasPin`, whose ``__enter__``
    and ``__exit__`` run no Python bytecode: a KeyboardInterrupt lands either
    before a limit is opened or after it is (and then ``__exit__`` closes it),
    never half-way, and two threads never interleave them, so no lock is
    needed (and none can be left held by a fork).
    """

    def __init__(self, path=None, setter=None, getter=None):
        self.path = path
        self._set = setter
        self._get = getter
        self._pin = None
        if setter is not None:
            self._pin = _support.BlasPin(_address(setter), _address(getter))

    @property
    def available(self):
        """True when this process's BLAS thread count can be controlled."""
        return self._pin is not None

    def get(self):
        """BLAS threads now, or None when unknown."""
        return self._pin.get() if self._pin is not None else None

    def set(self, count):
        """Set the BLAS thread count (nothing when unavailable)."""
        if self._pin is not None:
            self._pin.set(count)

    def limit(self, count=1):
        """A context manager within which BLAS runs ``count`` threads.

        Nested and concurrent limits (any thread) share one state: the
        outermost sets the count, the last to close restores the count found
        before, unless someone else changed the count meanwhile (their value
        is kept).
        """
        if self._pin is None:
            return contextlib.nullcontext()
        return self._pin.limit(count)

    def _after_fork_in_child(self):
        if self._pin is not None:
            self._pin.after_fork_in_child()


def _address(function):
    """The C address of a ctypes function."""
    return ctypes.cast(function, ctypes.c_void_p).value


def _loaded_libraries():
    """Paths of the shared objects loaded in this process (Linux), else scipy's bundled ones."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "/" in line}
        return sorted(p for p in paths if os.path.isfile(p))
    except OSError:
        import scipy

        root = os.path.dirname(scipy.__file__)
        return sorted(glob.glob(os.path.join(root, "..", "scipy.libs", "*"))
                      + glob.glob(os.path.join(root, ".dylibs", "*")))


@functools.lru_cache(maxsize=None)
def controller():
    """The cached :class:`BlasThreads` of the BLAS that scipy.linalg.cython_blas uses."""
    import scipy.linalg.cython_blas  # noqa: F401  (loads the library)

    # numpy's wheels bundle their own OpenBLAS (numpy.libs), which scipy does
    # not use; prefer the one bundled with scipy, else a shared one (conda)
    candidates = [p for p in _loaded_libraries()
                  if "openblas" in os.path.basename(p).lower() and "numpy.libs" not in p]
    candidates.sort(key=lambda p: "scipy" not in p.lower())
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            setter, getter = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return BlasThreads(path, setter, getter)
    return BlasThreads()


def _after_fork_in_child():
    # A fork copies the limits other threads of the parent had open, and BLAS
    # pinned by them; those threads do not exist in the child. Only a
    # controller already made can hold such state.
    if controller.cache_info().currsize:
        controller()._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
