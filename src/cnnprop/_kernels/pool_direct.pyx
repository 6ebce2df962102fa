"""Literal max-pooling kernels: eqs (13g) and (14), and the backward pass from indices.

Design
------
Parallel over (n, c) planes: pooling never mixes channels, so each thread owns
whole planes of the output and of the input delta.

Geometry (docs/pooling.md): window (p, q) reads the taps
h = p*u + r*dh - pt, w = q*v + s*dw - pl. Taps outside the input are not
visited, so padding never wins (erratum E8) and a ceil_mode window that runs
past the bottom padding simply holds fewer positions. The Python layer
guarantees every window holds at least one input position.

NaN: a window that contains a NaN pools to its first NaN in row-major scan
order (and that NaN's index), as numpy.max would give NaN. In the backward
pass the NaN inputs are that window's maxima. `_same` encodes this: two
values match when they are equal or both NaN.

Eq (14) with ties="all" is computed as written, a gather over the window
ranges with B = [y == z]; it accumulates where windows overlap.
ties="first" routes each window's delta to its first maximum in row-major
scan order; the backward pass from indices does the same with the indices the
forward pass saved. Both are scatters inside the thread's own plane (no
lock), in a fixed order (windows in row-major order), summing in float64 and
rounding once.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t

from ._index cimport window_first_dilated, window_last, window_step
from ._openmp cimport omp_get_thread_num


cdef inline bint _same(double a, double b) noexcept nogil:
    return a == b or (a != a and b != b)


cdef void _pool_plane(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] y,
                      int64_t[:, :, :, ::1] idx, Py_ssize_t n, Py_ssize_t c,
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, r, s, h, w, at
    cdef floating m, x
    for p in range(P):
        for q in range(Q):
            m = -INFINITY
            at = -1
            for r in range(R):
                h = p * u + r * dh - pt
                if h < 0 or h >= H:
                    continue
                for s in range(S):
                    w = q * v + s * dw - pl
                    if w < 0 or w >= W:
                        continue
                    x = z[n, c, h, w]
                    # strictly larger: the first maximum in row-major order stays
                    if x > m or x != x or at < 0:
                        m = x
                        at = h * W + w
                        if x != x:
                            break
                if m != m:
                    break
            y[n, c, p, q] = m
            idx[n, c, p, q] = at


def maxpool2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                      floating[:, :, :, ::1] y,         # OUT (N, C, P, Q)
                      int64_t[:, :, :, ::1] idx,        # OUT (N, C, P, Q), flat h*W + w
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                      int num_threads):
    """Eq (13g): y[n,c,p,q] = max_{r,s} z[n,c,p*u+r*dh-pt, q*v+s*dw-pl], padding excluded."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1]
    cdef Py_ssize_t nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _pool_plane(z, y, idx, nc // C, nc % C, R, S, u, v, pt, pl, dh, dw)


cdef void _unpool_all_plane(const floating[:, :, :, ::1] delta,
                            const floating[:, :, :, ::1] z,
                            const floating[:, :, :, ::1] y,
                            floating[:, :, :, ::1] dz,
                            Py_ssize_t n, Py_ssize_t c,
                            Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                            Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    # Eq (14) as written: dz[h, w] = sum over the windows holding (h, w) of delta * B.
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t h, w, p, q, p_min, p_max, q_min, q_max
    cdef Py_ssize_t p_step = window_step(u, dh), q_step = window_step(v, dw)
    cdef double acc, x
    for h in range(H):
        p_min = window_first_dilated(h, R, u, pt, dh, P)
        p_max = window_last(h, P, u, pt)
        for w in range(W):
            q_min = window_first_dilated(w, S, v, pl, dw, Q)
            q_max = window_last(w, Q, v, pl)
            x = z[n, c, h, w]
            acc = 0.0
            # (a while loop: Cython's range() needs a constant step without the GIL)
            p = p_min
            while p <= p_max:
                q = q_min
                while q <= q_max:
                    if _same(y[n, c, p, q], x):
                        acc += delta[n, c, p, q]
                    q += q_step
                p += p_step
            dz[n, c, h, w] = <floating> acc


cdef void _unpool_first_plane(const floating[:, :, :, ::1] delta,
                              const floating[:, :, :, ::1] z,
                              const floating[:, :, :, ::1] y,
                              floating[:, :, :, ::1] dz,
                              Py_ssize_t n, Py_ssize_t c,
                              Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                              Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                              double* acc) noexcept nogil:
    # Erratum E7, framework rule: each window's delta goes to the first input
    # (row-major scan) equal to its maximum. Windows are visited in row-major
    # order and add into a float64 plane, so overlapping contributions are
    # summed in a fixed order and rounded once.
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t h, w, p, q, r, s
    cdef bint found
    cdef double m
    for h in range(H * W):
        acc[h] = 0.0
    for p in range(P):
        for q in range(Q):
            m = y[n, c, p, q]
            found = False
            for r in range(R):
                h = p * u + r * dh - pt
                if h < 0 or h >= H:
                    continue
                for s in range(S):
                    w = q * v + s * dw - pl
                    if w < 0 or w >= W:
                        continue
                    if _same(z[n, c, h, w], m):
                        acc[h * W + w] += delta[n, c, p, q]
                        found = True
                        break
                if found:
                    break
    for h in range(H):
        for w in range(W):
            dz[n, c, h, w] = <floating> acc[h * W + w]


def maxpool2d_backward(const floating[:, :, :, ::1] delta,  # IN  (N, C, P, Q)
                       const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                       const floating[:, :, :, ::1] y,      # IN  (N, C, P, Q)
                       floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                       double[:, ::1] scratch,              # SCRATCH (threads, H*W), ties="first"
                       Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                       bint first_only):
    """Eq (14), general: dz[n,c,h,w] = sum over the windows holding (h, w) of delta[n,c,p,q] B[n,c,p,q,h,w].

    Runs on scratch.shape[0] threads.
    """
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1]
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t nc
    with nogil:
        if first_only:
            for nc in prange(N * C, schedule="static", num_threads=threads):
                _unpool_first_plane(delta, z, y, dz, nc // C, nc % C, R, S, u, v, pt, pl, dh, dw,
                                    &scratch[omp_get_thread_num(), 0])
        else:
            for nc in prange(N * C, schedule="static", num_threads=threads):
                _unpool_all_plane(delta, z, y, dz, nc // C, nc % C, R, S, u, v, pt, pl, dh, dw)


cdef void _unpool_indices_plane(const floating[:, :, :, ::1] delta,
                                const int64_t[:, :, :, ::1] idx,
                                floating[:, :, :, ::1] dz,
                                Py_ssize_t n, Py_ssize_t c, double* acc) noexcept nogil:
    # D[h, w] = sum of D'[p, q] over the windows with I[p, q] = h*W + w,
    # windows in row-major order, in float64, rounded once.
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3], P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t k, p, q
    for k in range(H * W):
        acc[k] = 0.0
    for p in range(P):
        for q in range(Q):
            acc[idx[n, c, p, q]] += delta[n, c, p, q]
    for p in range(H):
        for q in range(W):
            dz[n, c, p, q] = <floating> acc[p * W + q]


def maxpool2d_backward_indices(const floating[:, :, :, ::1] delta,  # IN  (N, C, P, Q)
                               const int64_t[:, :, :, ::1] idx,     # IN  (N, C, P, Q), in [0, H*W)
                               floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                               double[:, ::1] scratch):             # SCRATCH (threads, H*W)
    """Eq (14), ties="first", from saved indices: dz[n,c,h,w] = sum_{I[n,c,p,q] = h*W+w} delta[n,c,p,q].

    The caller has checked every index is in [0, H*W). Runs on scratch.shape[0] threads.
    """
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1]
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=threads):
            _unpool_indices_plane(delta, idx, dz, nc // C, nc % C, &scratch[omp_get_thread_num(), 0])
