# OpenMP shim: the same declarations compile with and without OpenMP, so a
# compiler without it still builds (serial) kernels. Cython's prange already
# degrades to a plain loop without _OPENMP; this covers the runtime calls.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CNNPROP_OPENMP_ENABLED 1
    #else
    #define CNNPROP_OPENMP_ENABLED 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    #endif
    #ifdef CNNPROP_BOUNDSCHECK
    #define CNNPROP_BOUNDSCHECK_ENABLED 1
    #else
    #define CNNPROP_BOUNDSCHECK_ENABLED 0
    #endif
    """
    bint CNNPROP_OPENMP_ENABLED
    bint CNNPROP_BOUNDSCHECK_ENABLED
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
