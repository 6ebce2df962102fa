"""Literal affine (fully connected) kernels: eqs (17)-(20).

Design
------
The input is seen as z[n, j], j < J = C*H*W (C-order flattening, done by the
Python layer without a copy). Sums accumulate in double, in a fixed order, so
the results do not depend on the thread count.

Each kernel is a gather whose parallel index owns disjoint outputs: (n, i) for
eq (17), i for eqs (18)-(19), and (n, block of j) for eq (20). Eqs (18) and
(20) sweep rows of z and w with the innermost loop along j (contiguous),
accumulating into a per-thread row of doubles.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._openmp cimport omp_get_thread_num

# Columns of eq (20) handled by one task: wide enough for long contiguous
# inner loops, narrow enough that N = 1 still splits across threads.
BLOCK = 512                      # Python-visible, to size the scratch
cdef Py_ssize_t _BLOCK = BLOCK


def affine_forward(const floating[:, ::1] z,   # IN  (N, J)
                   const floating[:, ::1] w,   # IN  (I, J)
                   const floating[::1] b,      # IN  (I,)
                   floating[:, ::1] out,       # OUT (N, I)
                   int num_threads):
    """Eq (17): out[n,i] = sum_j w[i,j] z[n,j] + b[i]."""
    cdef Py_ssize_t N = z.shape[0], J = z.shape[1], I = w.shape[0]
    cdef Py_ssize_t ni, n, i, j
    cdef double acc
    with nogil:
        for ni in prange(N * I, schedule="static", num_threads=num_threads):
            n = ni // I
            i = ni % I
            acc = b[i]
            for j in range(J):
                acc = acc + <double> w[i, j] * z[n, j]
            out[n, i] = <floating> acc


cdef void _weight_grad_row(const floating[:, ::1] delta, const floating[:, ::1] z,
                           floating[:, ::1] dw, Py_ssize_t i, double divisor,
                           double* row) noexcept nogil:
    cdef Py_ssize_t N = z.shape[0], J = z.shape[1]
    cdef Py_ssize_t n, j
    cdef double d
    for j in range(J):
        row[j] = 0.0
    for n in range(N):
        d = delta[n, i]
        for j in range(J):
            row[j] += d * z[n, j]
    for j in range(J):
        dw[i, j] = <floating> (row[j] / divisor)


def affine_backward_weight(const floating[:, ::1] delta,  # IN  (N, I)
                           const floating[:, ::1] z,      # IN  (N, J)
                           floating[:, ::1] dw,           # OUT (I, J)
                           double[:, ::1] scratch,        # SCRATCH (threads, J)
                           double divisor):
    """Eq (18): dw[i,j] = sum_n delta[n,i] z[n,j] / divisor, on scratch.shape[0] threads."""
    cdef Py_ssize_t I = dw.shape[0]
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t i
    with nogil:
        for i in prange(I, schedule="static", num_threads=threads):
            _weight_grad_row(delta, z, dw, i, divisor, &scratch[omp_get_thread_num(), 0])


def affine_backward_bias(const floating[:, ::1] delta,  # IN  (N, I)
                         floating[::1] db,             # OUT (I,)
                         double divisor, int num_threads):
    """Eq (19): db[i] = sum_n delta[n,i] / divisor."""
    cdef Py_ssize_t N = delta.shape[0], I = delta.shape[1]
    cdef Py_ssize_t n, i
    cdef double acc
    with nogil:
        for i in prange(I, schedule="static", num_threads=num_threads):
            acc = 0.0
            for n in range(N):
                acc = acc + delta[n, i]
            db[i] = <floating> (acc / divisor)


cdef void _input_grad_block(const floating[:, ::1] delta, const floating[:, ::1] w,
                            floating[:, ::1] dz, Py_ssize_t n,
                            Py_ssize_t j0, Py_ssize_t j1, double* row) noexcept nogil:
    cdef Py_ssize_t I = w.shape[0]
    cdef Py_ssize_t i, j
    cdef double d
    for j in range(j1 - j0):
        row[j] = 0.0
    for i in range(I):
        d = delta[n, i]
        for j in range(j0, j1):
            row[j - j0] += d * w[i, j]
    for j in range(j0, j1):
        dz[n, j] = <floating> row[j - j0]


def affine_backward_input(const floating[:, ::1] delta,  # IN  (N, I)
                          const floating[:, ::1] w,      # IN  (I, J)
                          floating[:, ::1] dz,           # OUT (N, J)
                          double[:, ::1] scratch):       # SCRATCH (threads, BLOCK)
    """Eq (20): dz[n,j] = sum_i delta[n,i] w[i,j], on scratch.shape[0] threads."""
    cdef Py_ssize_t N = dz.shape[0], J = dz.shape[1]
    cdef Py_ssize_t blocks = (J + _BLOCK - 1) // _BLOCK
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t task, j0
    with nogil:
        for task in prange(N * blocks, schedule="static", num_threads=threads):
            j0 = (task % blocks) * _BLOCK
            _input_grad_block(delta, w, dz, task // blocks, j0, min(j0 + _BLOCK, J),
                              &scratch[omp_get_thread_num(), 0])
