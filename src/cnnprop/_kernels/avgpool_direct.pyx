"""Literal average-pooling kernels: eqs (A1) and (A2) of docs/pooling.md.

Design
------
Parallel over (n, c) planes, which own their output and input-delta planes.
Window (p, q) reads h = p*u + r - pt, w = q*v + s - pl; taps outside the
input add zero (Zp = 0 there) and are not visited. The divisor map D(p, q)
(PyTorch's rule, count_include_pad, divisor_override) comes from the Python
layer as float64, one value per window.

(A1) sums each window in float64 and divides once; (A2) is a gather over the
window ranges of eqs (8)-(9): dz[h, w] = sum of delta[p, q] / D(p, q) over
the windows holding (h, w), in float64, rounded once.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._index cimport window_first, window_last


cdef void _pool_plane(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] y,
                      const double[:, ::1] divisor, Py_ssize_t n, Py_ssize_t c,
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl) noexcept nogil:
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, r, s, h, w
    cdef double acc
    for p in range(P):
        for q in range(Q):
            acc = 0.0
            for r in range(R):
                h = p * u + r - pt
                if h < 0 or h >= H:
                    continue
                for s in range(S):
                    w = q * v + s - pl
                    if w < 0 or w >= W:
                        continue
                    acc += z[n, c, h, w]
            y[n, c, p, q] = <floating> (acc / divisor[p, q])


def avgpool2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                      floating[:, :, :, ::1] y,         # OUT (N, C, P, Q)
                      const double[:, ::1] divisor,     # IN  (P, Q), D(p, q) > 0
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl, int num_threads):
    """Eq (A1): y[n,c,p,q] = (1 / D(p,q)) sum_{r,s} Zp[n,c,p*u+r-pt, q*v+s-pl]."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1], nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _pool_plane(z, y, divisor, nc // C, nc % C, R, S, u, v, pt, pl)


cdef void _unpool_plane(const floating[:, :, :, ::1] delta, floating[:, :, :, ::1] dz,
                        const double[:, ::1] divisor, Py_ssize_t n, Py_ssize_t c,
                        Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                        Py_ssize_t pt, Py_ssize_t pl) noexcept nogil:
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3], P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t h, w, p, q, p_min, p_max, q_min, q_max
    cdef double acc
    for h in range(H):
        p_min = window_first(h, R, u, pt)
        p_max = window_last(h, P, u, pt)
        for w in range(W):
            q_min = window_first(w, S, v, pl)
            q_max = window_last(w, Q, v, pl)
            acc = 0.0
            for p in range(p_min, p_max + 1):
                for q in range(q_min, q_max + 1):
                    acc += delta[n, c, p, q] / divisor[p, q]
            dz[n, c, h, w] = <floating> acc


def avgpool2d_backward(const floating[:, :, :, ::1] delta,  # IN  (N, C, P, Q)
                       floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                       const double[:, ::1] divisor,        # IN  (P, Q), D(p, q) > 0
                       Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                       Py_ssize_t pt, Py_ssize_t pl, int num_threads):
    """Eq (A2): dz[n,c,h,w] = sum over the windows (p, q) holding (h, w) of delta[n,c,p,q] / D(p,q)."""
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1], nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _unpool_plane(delta, dz, divisor, nc // C, nc % C, R, S, u, v, pt, pl)
