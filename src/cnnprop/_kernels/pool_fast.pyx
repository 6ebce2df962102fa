"""Fast max-pooling kernels: eqs (13g) and (14), one window tap at a time, and
the backward pass from indices as a single scatter.

Design
------
The literal kernels visit window after window (eq (13g)) and, for eq (14),
gather over the window ranges of each input with divisions per element.
These kernels sweep one tap (r, s) at a time across a whole output row
instead: the innermost loop runs along q with fixed strides, with no
division and no data-dependent exit, so the compiler vectorises it.

- eq (13g): y[p, q] = max over taps of z[p*u + r*dh - pt, q*v + s*dw - pl];
  with indices, a select per tap keeps the first maximum (strictly larger
  wins; taps in row-major order) and its tap number, turned into the flat
  index h*W + w after the sweep;
- eq (14): a sweep of the taps finds, per window, the first input equal to
  its maximum (taps in row-major order: r, then s) and how many are equal;
  each window then adds its delta there. ties="all" with a tie in a row of
  windows takes a second sweep adding the delta to every equal input;
- eq (14) from indices: one pass over the windows in row-major order adding
  each delta at its saved index.

Parallel over (n, c) planes, which own their output and input-delta
planes: no two threads write the same element, and each element's sum runs
in a fixed order, in the data type. Padding and NaN follow the literal
kernels: taps outside the input are skipped (padding never wins; ceil_mode
windows past the bottom hold fewer taps), a NaN input wins its window (the
first NaN, with indices).
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t
from libc.string cimport memset

from ._index cimport ceil_div, tap_first, tap_stop
from ._openmp cimport omp_get_thread_num


cdef void _pool_plane(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] y,
                      Py_ssize_t n, Py_ssize_t c, Py_ssize_t R, Py_ssize_t S,
                      Py_ssize_t u, Py_ssize_t v, Py_ssize_t pt, Py_ssize_t pl,
                      Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, r, s, h, q0, q1
    cdef floating* out
    cdef const floating* row
    cdef floating x, m
    for p in range(P):
        out = &y[n, c, p, 0]
        for q in range(Q):
            out[q] = -INFINITY
        for r in range(R):
            h = p * u + r * dh - pt
            if h < 0 or h >= H:
                continue
            for s in range(S):
                q0 = tap_first(s * dw, v, pl)
                q1 = tap_stop(s * dw, W, Q, v, pl)
                row = &z[n, c, h, 0] + s * dw - pl
                for q in range(q0, q1):
                    x = row[q * v]
                    m = out[q]
                    # x wins if larger, or NaN; a NaN maximum stays (x > NaN is false)
                    out[q] = x if (x > m or x != x) else m


cdef void _pool_indices_plane(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] y,
                              int64_t[:, :, :, ::1] idx,
                              Py_ssize_t n, Py_ssize_t c, Py_ssize_t R, Py_ssize_t S,
                              Py_ssize_t u, Py_ssize_t v, Py_ssize_t pt, Py_ssize_t pl,
                              Py_ssize_t dh, Py_ssize_t dw, int* tap) noexcept nogil:
    # The sweep keeps, per window, the tap number r*S + s of its first
    # maximum in an int (the width of a float32 lane, so that the select
    # vectorises; an int64 flat index in the loop did not), and converts it to
    # the flat index h*W + w once per window after the sweep. (The caller
    # checks R*S fits an int.)
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, r, s, h, q0, q1, w, r0
    cdef int t, k
    cdef floating* out
    cdef int64_t* at
    cdef const floating* row
    cdef floating x, m
    cdef bint take
    for p in range(P):
        out = &y[n, c, p, 0]
        at = &idx[n, c, p, 0]
        # start every window at its first tap inside the input (the Python
        # layer guarantees there is one), so that the sweep below needs no
        # "nothing yet" test: its first row and column inside the input
        r0 = 0 if pt <= p * u else ceil_div(pt - p * u, dh)
        h = p * u + r0 * dh - pt
        for q in range(Q):
            s = 0 if pl <= q * v else ceil_div(pl - q * v, dw)
            w = q * v + s * dw - pl
            out[q] = z[n, c, h, w]
            tap[q] = <int> (r0 * S + s)
        for r in range(R):
            h = p * u + r * dh - pt
            if h < 0 or h >= H:
                continue
            for s in range(S):
                q0 = tap_first(s * dw, v, pl)
                q1 = tap_stop(s * dw, W, Q, v, pl)
                row = &z[n, c, h, 0] + s * dw - pl
                t = <int> (r * S + s)
                for q in range(q0, q1):
                    x = row[q * v]
                    m = out[q]
                    # the first maximum stays: strictly larger wins, a NaN wins
                    # unless a NaN already has
                    take = (x > m) | ((x != x) & (m == m))
                    out[q] = x if take else m
                    tap[q] = t if take else tap[q]
        for q in range(Q):
            k = tap[q]
            r = k // S
            at[q] = (p * u + r * dh - pt) * W + q * v + (k - r * S) * dw - pl


def maxpool2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                      floating[:, :, :, ::1] y,         # OUT (N, C, P, Q)
                      int64_t[:, :, :, ::1] idx,        # OUT (N, C, P, Q) or (0, 0, 0, 0): no indices
                      int[:, ::1] scratch,              # SCRATCH (threads, Q), R*S < 2**31
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                      Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw):
    """Eq (13g), tap by tap across output rows; indices too when idx is not empty; on scratch.shape[0] threads."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1], nc
    cdef bint with_indices = idx.shape[0] > 0
    cdef int threads = <int> scratch.shape[0]
    with nogil:
        if with_indices:
            for nc in prange(N * C, schedule="static", num_threads=threads):
                _pool_indices_plane(z, y, idx, nc // C, nc % C, R, S, u, v, pt, pl, dh, dw,
                                    &scratch[omp_get_thread_num(), 0])
        else:
            for nc in prange(N * C, schedule="static", num_threads=threads):
                _pool_plane(z, y, nc // C, nc % C, R, S, u, v, pt, pl, dh, dw)


cdef inline bint _same(floating a, floating b) noexcept nogil:
    return a == b or (a != a and b != b)


cdef void _unpool_plane(const floating[:, :, :, ::1] delta, const floating[:, :, :, ::1] z,
                        const floating[:, :, :, ::1] y, floating[:, :, :, ::1] dz,
                        Py_ssize_t n, Py_ssize_t c, Py_ssize_t R, Py_ssize_t S,
                        Py_ssize_t u, Py_ssize_t v, Py_ssize_t pt, Py_ssize_t pl,
                        Py_ssize_t dh, Py_ssize_t dw,
                        bint first_only, int* idx, int* count) noexcept nogil:
    # Per output row p: a sweep of the taps in *reverse* row-major order
    # records, per window q, how many inputs equal its maximum and, since
    # the last match written wins, where the first one in row-major order is
    # (idx, an offset in the plane). Each window then adds its delta at idx.
    # Only a row with a tie under ties="all" needs a second sweep that adds
    # the delta to every equal input. (int counters keep the sweep
    # vectorisable; the caller checks H*W fits an int.)
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, r, s, h, q0, q1
    cdef int off, e, ties
    cdef const floating* zrow
    cdef const floating* yrow
    cdef const floating* drow
    cdef floating* plane = &dz[n, c, 0, 0]
    cdef floating* grow
    memset(plane, 0, H * W * sizeof(floating))
    for p in range(P):
        yrow = &y[n, c, p, 0]
        drow = &delta[n, c, p, 0]
        for q in range(Q):
            count[q] = 0
            idx[q] = 0
        for r in range(R - 1, -1, -1):
            h = p * u + r * dh - pt
            if h < 0 or h >= H:
                continue
            for s in range(S - 1, -1, -1):
                q0 = tap_first(s * dw, v, pl)
                q1 = tap_stop(s * dw, W, Q, v, pl)
                zrow = &z[n, c, h, 0] + s * dw - pl
                off = <int> (h * W + s * dw - pl)
                for q in range(q0, q1):
                    e = _same(zrow[q * v], yrow[q])
                    idx[q] = off + <int> (q * v) if e else idx[q]
                    count[q] += e
        ties = 0
        if not first_only:
            for q in range(Q):
                ties += count[q] > 1
        if ties == 0:
            for q in range(Q):
                if count[q] > 0:
                    plane[idx[q]] += drow[q]
            continue
        for r in range(R):
            h = p * u + r * dh - pt
            if h < 0 or h >= H:
                continue
            for s in range(S):
                q0 = tap_first(s * dw, v, pl)
                q1 = tap_stop(s * dw, W, Q, v, pl)
                zrow = &z[n, c, h, 0] + s * dw - pl
                grow = &dz[n, c, h, 0] + s * dw - pl
                for q in range(q0, q1):
                    if _same(zrow[q * v], yrow[q]):
                        grow[q * v] += drow[q]


def maxpool2d_backward(const floating[:, :, :, ::1] delta,  # IN  (N, C, P, Q)
                       const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                       const floating[:, :, :, ::1] y,      # IN  (N, C, P, Q)
                       floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                       int[:, ::1] scratch,                 # SCRATCH (threads, 2 * Q)
                       Py_ssize_t R, Py_ssize_t S, Py_ssize_t u, Py_ssize_t v,
                       Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t dh, Py_ssize_t dw,
                       bint first_only):
    """Eq (14): find each window's maxima, then add its delta there; on scratch.shape[0] threads."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1], Q = y.shape[3], nc
    cdef int threads = <int> scratch.shape[0]
    cdef int t
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=threads):
            t = omp_get_thread_num()
            _unpool_plane(delta, z, y, dz, nc // C, nc % C, R, S, u, v, pt, pl, dh, dw,
                          first_only, &scratch[t, 0], &scratch[t, Q])


cdef void _unpool_indices_plane(const floating[:, :, :, ::1] delta,
                                const int64_t[:, :, :, ::1] idx,
                                floating[:, :, :, ::1] dz,
                                Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3], PQ = delta.shape[2] * delta.shape[3]
    cdef Py_ssize_t k
    cdef floating* plane = &dz[n, c, 0, 0]
    cdef const floating* d = &delta[n, c, 0, 0]
    cdef const int64_t* at = &idx[n, c, 0, 0]
    memset(plane, 0, H * W * sizeof(floating))
    for k in range(PQ):
        plane[at[k]] += d[k]


def maxpool2d_backward_indices(const floating[:, :, :, ::1] delta,  # IN  (N, C, P, Q)
                               const int64_t[:, :, :, ::1] idx,     # IN  (N, C, P, Q), in [0, H*W)
                               floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                               int num_threads):
    """Eq (14), ties="first", from saved indices: one scatter pass, windows in row-major order."""
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1], nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _unpool_indices_plane(delta, idx, dz, nc // C, nc % C)
