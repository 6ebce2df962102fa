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
from cython.parallel cimport parallel, prange
from libc.stdlib cimport malloc, free

# Columns of eq (20) handled by one task: wide enough for long contiguous
# inner loops, narrow enough that N = 1 still splits across threads.
cdef Py_ssize_t _BLOCK = 512


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
                           floating[:, ::1] dw, Py_ssize_t i, double scale,
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
        dw[i, j] = <floating> (row[j] * scale)


def affine_backward_weight(const floating[:, ::1] delta,  # IN  (N, I)
                           const floating[:, ::1] z,      # IN  (N, J)
                           floating[:, ::1] dw,           # OUT (I, J)
                           double scale, int num_threads):
    """Eq (18): dw[i,j] = scale * sum_n delta[n,i] z[n,j]."""
    cdef Py_ssize_t I = dw.shape[0], J = dw.shape[1]
    cdef Py_ssize_t i
    cdef Py_ssize_t skipped = 0
    cdef double* row = NULL
    with nogil, parallel(num_threads=num_threads):
        row = <double*> malloc(J * sizeof(double))
        for i in prange(I, schedule="static"):
            if row == NULL:
                skipped += 1
            else:
                _weight_grad_row(delta, z, dw, i, scale, row)
        free(row)
    if skipped:
        raise MemoryError("affine_backward_weight: could not allocate the per-thread row")


def affine_backward_bias(const floating[:, ::1] delta,  # IN  (N, I)
                         floating[::1] db,             # OUT (I,)
                         double scale, int num_threads):
    """Eq (19): db[i] = scale * sum_n delta[n,i]."""
    cdef Py_ssize_t N = delta.shape[0], I = delta.shape[1]
    cdef Py_ssize_t n, i
    cdef double acc
    with nogil:
        for i in prange(I, schedule="static", num_threads=num_threads):
            acc = 0.0
            for n in range(N):
                acc = acc + delta[n, i]
            db[i] = <floating> (acc * scale)


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
                          int num_threads):
    """Eq (20): dz[n,j] = sum_i delta[n,i] w[i,j]."""
    cdef Py_ssize_t N = dz.shape[0], J = dz.shape[1]
    cdef Py_ssize_t blocks = (J + _BLOCK - 1) // _BLOCK
    cdef Py_ssize_t task, n, j0, j1
    cdef Py_ssize_t skipped = 0
    cdef double* row = NULL
    with nogil, parallel(num_threads=num_threads):
        row = <double*> malloc(_BLOCK * sizeof(double))
        for task in prange(N * blocks, schedule="static"):
            if row == NULL:
                skipped += 1
            else:
                n = task // blocks
                j0 = (task % blocks) * _BLOCK
                j1 = j0 + _BLOCK
                if j1 > J:
                    j1 = J
                _input_grad_block(delta, w, dz, n, j0, j1, row)
        free(row)
    if skipped:
        raise MemoryError("affine_backward_input: could not allocate the per-thread row")
