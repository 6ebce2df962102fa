"""Facts about the compiled kernels, and Python access to the shared index helpers.

The index helpers are exported only so that the tests can check the exact C
code the kernels run (not a Python twin) against a brute-force search.
"""
import numpy as np
from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport prange

from ._openmp cimport (CNNPROP_OPENMP_ENABLED, CNNPROP_BOUNDSCHECK_ENABLED,
                       omp_get_max_threads, omp_get_thread_num)
from ._index cimport (window_first, window_last, tap_first, tap_stop, window_first_dilated,
                      window_step)


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(CNNPROP_OPENMP_ENABLED)


def boundscheck_enabled():
    """True when the kernels were compiled with Cython bounds checks."""
    return bool(CNNPROP_BOUNDSCHECK_ENABLED)


def openmp_max_threads():
    """omp_get_max_threads(): OMP_NUM_THREADS as read when OpenMP started, or 1."""
    return omp_get_max_threads()


def c_window_range(Py_ssize_t i, Py_ssize_t out_size, Py_ssize_t kernel,
                   Py_ssize_t stride, Py_ssize_t pad):
    """(Pmin, Pmax) of eqs (8)-(9) exactly as the kernels compute them."""
    return (window_first(i, kernel, stride, pad),
            window_last(i, out_size, stride, pad))


def c_window_range_dilated(Py_ssize_t i, Py_ssize_t out_size, Py_ssize_t kernel,
                           Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t dil):
    """(first, last, step) of the windows holding input i, as the kernels compute them.

    ``first == out_size`` when no window holds i.
    """
    return (window_first_dilated(i, kernel, stride, pad, dil, out_size),
            window_last(i, out_size, stride, pad), window_step(stride, dil))


def c_tap_range(Py_ssize_t r, Py_ssize_t in_size, Py_ssize_t out_size,
                Py_ssize_t stride, Py_ssize_t pad):
    """[first, stop) of the outputs whose kernel tap r lands inside the input."""
    return (tap_first(r, stride, pad),
            tap_stop(r, in_size, out_size, stride, pad))


def threads_in_parallel_region(int num_threads):
    """How many distinct OpenMP threads run a prange of num_threads iterations.

    The kernels' own parallel construct, exercised directly: 1 on a serial
    build, num_threads on an OpenMP build.
    """
    cdef Py_ssize_t i, seen = 0
    cdef int[::1] flags = np.zeros(num_threads, dtype=np.intc)
    with nogil:
        for i in prange(num_threads, schedule="static", chunksize=1, num_threads=num_threads):
            flags[omp_get_thread_num()] = 1
    for i in range(num_threads):
        seen += flags[i]
    return seen


ctypedef void (*_set_threads_t)(int) noexcept nogil
ctypedef int (*_get_threads_t)() noexcept nogil


cdef class BlasPin:
    """The state of one BLAS thread-count limit, changed only by compiled code.

    ``enter`` and ``leave`` are C code that calls no Python: CPython runs
    signal handlers (and so raises KeyboardInterrupt) only between bytecodes,
    and switches threads only there, so each runs whole or not at all, and
    two Python threads never interleave them. That is why there is no lock,
    and why no interrupt can leave the depth raised or BLAS pinned (the
    ``with`` statement calls ``__exit__`` for any exception raised after
    ``__enter__`` returned). On a free-threaded CPython the GIL is enabled
    again on import of these modules (they do not declare otherwise).

    Parameters
    ----------
    setter, getter : int
        Addresses of the library's ``void set(int)`` and ``int get(void)``.
    """
    cdef _set_threads_t _set
    cdef _get_threads_t _get
    cdef readonly int depth       # open limits, over all threads
    cdef readonly int saved       # thread count before the outermost limit
    cdef readonly int pinned      # thread count the outermost limit set
    cdef readonly long generation  # bumped on fork: limits opened before it are void

    def __cinit__(self, size_t setter, size_t getter):
        self._set = <_set_threads_t>setter
        self._get = <_get_threads_t>getter

    def get(self):
        """The library's thread count now."""
        return self._get()

    def set(self, int count):
        """Set the library's thread count."""
        self._set(count)

    def limit(self, int count):
        """A context manager: BLAS runs ``count`` threads within it (nested: the outermost wins)."""
        return _BlasLimit(self, count)

    cdef void enter(self, int count) noexcept:
        if self.depth == 0:
            self.saved = self._get()
            self.pinned = count
            if self.saved != count:
                self._set(count)
        self.depth += 1

    cdef void leave(self) noexcept:
        if self.depth <= 0:
            return
        self.depth -= 1
        # restore only what we changed: a count another thread set meanwhile
        # (threadpoolctl, openblas_set_num_threads) is left as it is
        if self.depth == 0 and self.saved != self.pinned and self._get() == self.pinned:
            self._set(self.saved)

    def after_fork_in_child(self):
        """Forget the limits open in other threads of the parent; restore their count.

        The threads that opened them do not exist in the child, so they never
        close them.
        """
        if self.depth > 0 and self.saved != self.pinned and self._get() == self.pinned:
            self._set(self.saved)
        self.depth = 0
        self.generation += 1


cdef class _BlasLimit:
    """One use of :meth:`BlasPin.limit`: ``__enter__`` and ``__exit__`` run no bytecode."""
    cdef BlasPin pin
    cdef int count
    cdef long generation
    cdef bint entered

    def __cinit__(self, BlasPin pin, int count):
        self.pin = pin
        self.count = count

    def __enter__(self):
        if not self.entered:
            self.entered = True
            self.generation = self.pin.generation
            self.pin.enter(self.count)
        return self

    def __exit__(self, *exc):
        if self.entered:
            self.entered = False
            if self.generation == self.pin.generation:
                self.pin.leave()
        return False


def check_signals():
    """Run pending signal handlers now (``PyErr_CheckSignals``); raise what they raise.

    For kernels that run in chunks: call between chunks, with the GIL, on the
    main thread (elsewhere it does nothing).
    """
    PyErr_CheckSignals()
