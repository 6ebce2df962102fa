"""Literal max-pooling kernels: eqs (13) and (14).

Design
------
Parallel over (n, c) planes: pooling never mixes channels, so each thread owns
whole planes of the output and of the input delta.

Padding never wins (erratum E8): padded positions are simply not visited, so
they behave as minus infinity. The Python layer guarantees padding < window,
so every window holds at least one real input.

NaN: a window that contains a NaN pools to NaN (as numpy.max does), and in the
backward pass the NaN inputs are that window's maxima. `_same` encodes this:
two values match when they are equal or both NaN.

Eq (14) with ties="all" is computed as written, a gather over the window
ranges of eqs (8)-(9) with B = [y == z]; it accumulates where windows overlap.
ties="first" routes each window's delta to its first maximum in row-major scan
order; as a scatter inside the thread's own plane it needs no lock. Both
rules sum in float64 and round once.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY

from ._index cimport span_start, span_stop, window_first, window_last
from ._openmp cimport omp_get_thread_num


cdef inline bint _same(double a, double b) noexcept nogil:
    return a == b or (a != a and b != b)


cdef void _pool_plane(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] y,
                      Py_ssize_t n, Py_ssize_t c,
                      Py_ssize_t R, Py_ssize_t S,
                      Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t p, q, h, w, h0, h1, w0, w1
    cdef floating m, x
    for p in range(P):
        # the rows and columns of window (p, q) that lie inside the image
        h0 = span_start(p, u, ph)
        h1 = span_stop(p, u, ph, R, H)
        for q in range(Q):
            w0 = span_start(q, v, pw)
            w1 = span_stop(q, v, pw, S, W)
            m = -INFINITY
            for h in range(h0, h1):
                for w in range(w0, w1):
                    x = z[n, c, h, w]
                    if x > m or x != x:
                        m = x
                        if x != x:
                            break
                if m != m:
                    break
            y[n, c, p, q] = m


def maxpool2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                      floating[:, :, :, ::1] y,         # OUT (N, C, P, Q)
                      Py_ssize_t R, Py_ssize_t S,
                      Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                      int num_threads):
    """Eq (13): y[n,c,p,q] = max_{r,s} z[n,c,p*u+r-ph, q*v+s-pw], padding excluded."""
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1]
    cdef Py_ssize_t nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _pool_plane(z, y, nc // C, nc % C, R, S, u, v, ph, pw)


cdef void _unpool_all_plane(const floating[:, :, :, ::1] delta,
                            const floating[:, :, :, ::1] z,
                            const floating[:, :, :, ::1] y,
                            floating[:, :, :, ::1] dz,
                            Py_ssize_t n, Py_ssize_t c,
                            Py_ssize_t R, Py_ssize_t S,
                            Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # Eq (14) as written: dz[h, w] = sum over covering windows of delta * B.
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t h, w, p, q, p_min, p_max, q_min, q_max
    cdef double acc, x
    for h in range(H):
        p_min = window_first(h, R, u, ph)
        p_max = window_last(h, P, u, ph)
        for w in range(W):
            q_min = window_first(w, S, v, pw)
            q_max = window_last(w, Q, v, pw)
            x = z[n, c, h, w]
            acc = 0.0
            for p in range(p_min, p_max + 1):
                for q in range(q_min, q_max + 1):
                    if _same(y[n, c, p, q], x):
                        acc += delta[n, c, p, q]
            dz[n, c, h, w] = <floating> acc


cdef void _unpool_first_plane(const floating[:, :, :, ::1] delta,
                              const floating[:, :, :, ::1] z,
                              const floating[:, :, :, ::1] y,
                              floating[:, :, :, ::1] dz,
                              Py_ssize_t n, Py_ssize_t c,
                              Py_ssize_t R, Py_ssize_t S,
                              Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                              double* acc) noexcept nogil:
    # Erratum E7, framework rule: each window's delta goes to the first input
    # (row-major scan) equal to its maximum. Windows are visited in row-major
    # order and add into a float64 plane, so overlapping contributions are
    # summed in a fixed order and rounded once.
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3], P = y.shape[2], Q = y.shape[3]
    cdef Py_ssize_t h, w, p, q, h0, h1, w0, w1
    cdef bint found
    cdef double m
    for h in range(H * W):
        acc[h] = 0.0
    for p in range(P):
        # the rows and columns of window (p, q) that lie inside the image
        h0 = span_start(p, u, ph)
        h1 = span_stop(p, u, ph, R, H)
        for q in range(Q):
            w0 = span_start(q, v, pw)
            w1 = span_stop(q, v, pw, S, W)
            m = y[n, c, p, q]
            found = False
            for h in range(h0, h1):
                for w in range(w0, w1):
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
                       Py_ssize_t R, Py_ssize_t S,
                       Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                       bint first_only):
    """Eq (14): dz[n,c,h,w] = sum_{p=Pmin..Pmax} sum_{q=Qmin..Qmax} delta[n,c,p,q] B[n,c,p,q,h,w].

    Runs on scratch.shape[0] threads.
    """
    cdef Py_ssize_t N = z.shape[0], C = z.shape[1]
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t nc
    with nogil:
        if first_only:
            for nc in prange(N * C, schedule="static", num_threads=threads):
                _unpool_first_plane(delta, z, y, dz, nc // C, nc % C, R, S, u, v, ph, pw,
                                    &scratch[omp_get_thread_num(), 0])
        else:
            for nc in prange(N * C, schedule="static", num_threads=threads):
                _unpool_all_plane(delta, z, y, dz, nc // C, nc % C, R, S, u, v, ph, pw)
