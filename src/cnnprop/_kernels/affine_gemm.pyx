"""Fast affine kernels: eqs (17), (18), (20) as tiled matrix products.

Design
------
C = alpha op(A) op(B) (+ a bias row) is cut into fixed tiles of C; each tile
is one single-threaded BLAS call over the whole inner dimension, and the
tiles are spread over OpenMP threads. Every element of C is therefore
computed by one BLAS call whatever the thread count: results are bitwise
identical for any num_threads. The tiles depend on the shapes only.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._blas cimport gemm


def gemm_tiled(bint trans_a, bint trans_b,
               const floating[:, ::1] a,         # IN  (M, Kd), or (Kd, M) when trans_a
               const floating[:, ::1] b,         # IN  (Kd, Nc), or (Nc, Kd) when trans_b
               floating[:, ::1] c,               # OUT (M, Nc)
               const floating[::1] bias,         # IN  (Nc,) added to every row, or empty
               double alpha,
               const long long[:, ::1] tiles,    # IN  (tiles, 4): m0, m1, n0, n1
               int num_threads):
    """C[m0:m1, n0:n1] = alpha op(A)[m0:m1, :] op(B)[:, n0:n1] (+ bias[n0:n1]), one tile a task."""
    cdef int kdim = <int> (a.shape[0] if trans_a else a.shape[1])
    cdef int lda = <int> a.shape[1], ldb = <int> b.shape[1], ldc = <int> c.shape[1]
    cdef bint has_bias = bias.shape[0] > 0
    cdef Py_ssize_t t, m0, m1, n0, n1, i, j
    cdef const floating* pa
    cdef const floating* pb
    with nogil:
        for t in prange(tiles.shape[0], schedule="dynamic", num_threads=num_threads):
            m0, m1, n0, n1 = tiles[t, 0], tiles[t, 1], tiles[t, 2], tiles[t, 3]
            pa = &a[0, m0] if trans_a else &a[m0, 0]
            pb = &b[n0, 0] if trans_b else &b[0, n0]
            gemm(trans_a, trans_b, <int> (m1 - m0), <int> (n1 - n0), kdim, <floating> alpha,
                 pa, lda, pb, ldb, <floating> 0, &c[m0, n0], ldc)
            if has_bias:
                for i in range(m0, m1):
                    for j in range(n0, n1):
                        c[i, j] = c[i, j] + bias[j]
