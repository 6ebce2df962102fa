"""Fast average-pooling kernels: eqs (A1) and (A2), one window tap at a time.

Design
------
As the fast max-pooling kernels: one tap (r, s) at a time across a whole
output row, the innermost loop along q with fixed strides and no branch, so
it vectorises. (A1) adds the taps of each window in row-major order in the
data type, then divides by D(p, q); (A2) first scales a row of deltas by
1 / D(p, q) (a division, as (A1) divides), then scatters it tap by tap into
the input-delta plane. Parallel over (n, c) planes, which own their planes:
each element's sum runs in a fixed order, so results do not depend on the
thread count.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from ._index cimport tap_first, tap_stop
from ._openmp cimport omp_get_thread_num


cdef void _pool_plane(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] y,
                      const double[:, ::1] divisor, Py_ssize_t n, Py_ssize_t c,
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl) noexcept nogil:
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, r, s, h, q0, q1
    cdef floating* out
    cdef const floating* row
    cdef const double* div
    for p in range(P):
        out = &y[n, c, p, 0]
        div = &divisor[p, 0]
        for q in range(Q):
            out[q] = 0
        for r in range(R):
            h = p * u + r - pt
            if h < 0 or h >= H:
                continue
            for s in range(S):
                q0 = tap_first(s, v, pl)
                q1 = tap_stop(s, W, Q, v, pl)
                row = &z[n, c, h, 0] + s - pl
                for q in range(q0, q1):
                    out[q] += row[q * v]
        for q in range(Q):
            out[q] = <floating> (out[q] / div[q])


def avgpool2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                      floating[:, :, :, ::1] y,         # OUT (N, C, P, Q)
                      const double[:, ::1] divisor,     # IN  (P, Q), D(p, q) > 0
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl, int num_threads):
    """Eq (A1), tap by tap across output rows, summing in the data type."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1], nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _pool_plane(z, y, divisor, nc // C, nc % C, R, S, u, v, pt, pl)


cdef void _unpool_plane(const floating[:, :, :, ::1] delta, floating[:, :, :, ::1] dz,
                        const double[:, ::1] divisor, Py_ssize_t n, Py_ssize_t c,
                        Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                        Py_ssize_t pt, Py_ssize_t pl, floating* g) noexcept nogil:
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3], P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t p, q, r, s, h, q0, q1
    cdef const floating* drow
    cdef const double* div
    cdef floating* grow
    memset(&dz[n, c, 0, 0], 0, H * W * sizeof(floating))
    for p in range(P):
        drow = &delta[n, c, p, 0]
        div = &divisor[p, 0]
        for q in range(Q):
            g[q] = <floating> (drow[q] / div[q])
        for r in range(R):
            h = p * u + r - pt
            if h < 0 or h >= H:
                continue
            for s in range(S):
                q0 = tap_first(s, v, pl)
                q1 = tap_stop(s, W, Q, v, pl)
                grow = &dz[n, c, h, 0] + s - pl
                for q in range(q0, q1):
                    grow[q * v] += g[q]


def avgpool2d_backward(const floating[:, :, :, ::1] delta,  # IN  (N, C, P, Q)
                       floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                       const double[:, ::1] divisor,        # IN  (P, Q), D(p, q) > 0
                       floating[:, ::1] scratch,            # SCRATCH (threads, Q)
                       Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                       Py_ssize_t pt, Py_ssize_t pl):
    """Eq (A2) as a scatter of delta / D, tap by tap; on scratch.shape[0] threads."""
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1], nc
    cdef int threads = <int> scratch.shape[0]
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=threads):
            _unpool_plane(delta, dz, divisor, nc // C, nc % C, R, S, u, v, pt, pl,
                          &scratch[omp_get_thread_num(), 0])
