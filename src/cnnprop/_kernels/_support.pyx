"""Facts about the compiled kernels, and Python access to the shared index helpers.

The index helpers are exported only so that the tests can check the exact C
code the kernels run (not a Python twin) against a brute-force search.
"""
import numpy as np
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
