"""Literal convolution kernels: eqs (4), (5), (6) and (7)-(9), as the equations read.

Design
------
These are the reference path. Each kernel computes the sum of its equation
term by term, in a fixed order, so the result does not depend on the thread
count. Sums accumulate in double whatever the data type: the reference must
not lose digits on long reductions (eq (5) sums N*P*Q terms).

Every kernel is a gather: the parallel index (prange, static schedule) owns a
disjoint block of the output, so no two threads write the same element and no
lock is needed. Eq (7) is computed as written, over the window ranges of eqs
(8)-(9), not as a transposed convolution.

The Python layer (cnnprop.conv) validates shapes, dtypes, contiguity and
geometry before calling; these kernels run without bounds checks.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._index cimport tap_first, tap_stop, window_first, window_last
from ._openmp cimport omp_get_thread_num


cdef void _forward_plane(const floating[:, :, :, ::1] z,
                         const floating[:, :, :, ::1] f,
                         const floating[::1] b,
                         floating[:, :, :, ::1] out,
                         Py_ssize_t n, Py_ssize_t k,
                         Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                         double* acc) noexcept nogil:
    # Eq (4) for one (n, k) plane. The sum over (c, r, s) is taken one kernel
    # tap at a time across the whole output plane, so the innermost loop runs
    # along q (contiguous in the accumulator, stride v in z).
    cdef Py_ssize_t C = z.shape[1], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = out.shape[2], Q = out.shape[3]
    cdef Py_ssize_t c, r, s, p, q, p0, p1, q0, q1, h, w0
    cdef double weight
    cdef double* row

    for p in range(P * Q):
        acc[p] = b[k]
    for c in range(C):
        for r in range(R):
            p0 = tap_first(r, u, ph)
            p1 = tap_stop(r, H, P, u, ph)
            for s in range(S):
                q0 = tap_first(s, v, pw)
                q1 = tap_stop(s, W, Q, v, pw)
                weight = f[k, c, r, s]
                for p in range(p0, p1):
                    h = p * u + r - ph
                    w0 = s - pw
                    row = acc + p * Q
                    for q in range(q0, q1):
                        row[q] += z[n, c, h, q * v + w0] * weight
    for p in range(P):
        for q in range(Q):
            out[n, k, p, q] = <floating> acc[p * Q + q]


def conv2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                   const floating[:, :, :, ::1] f,   # IN  (K, C, R, S)
                   const floating[::1] b,            # IN  (K,)
                   floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                   double[:, ::1] scratch,           # SCRATCH (threads, P*Q)
                   Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw):
    """Eq (4): out[n,k,p,q] = sum_{c,r,s} z[n,c,p*u+r-ph, q*v+s-pw] f[k,c,r,s] + b[k].

    Runs on scratch.shape[0] threads, each accumulating in its own row of scratch.
    """
    cdef Py_ssize_t N = out.shape[0], K = out.shape[1]
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t nk
    with nogil:
        for nk in prange(N * K, schedule="static", num_threads=threads):
            _forward_plane(z, f, b, out, nk // K, nk % K, u, v, ph, pw,
                           &scratch[omp_get_thread_num(), 0])


cdef void _filter_grad_block(const floating[:, :, :, ::1] delta,
                             const floating[:, :, :, ::1] z,
                             floating[:, :, :, ::1] df,
                             Py_ssize_t k, Py_ssize_t c,
                             Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                             double divisor) noexcept nogil:
    # Eq (5) for one (k, c) block of the kernel gradient: each tap (r, s) sums
    # over n, then over the outputs p, q whose input h, w lies inside the
    # image (the padding contributes 0, so those terms are skipped).
    cdef Py_ssize_t N = z.shape[0], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t R = df.shape[2], S = df.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t n, r, s, p, q, p0, p1, q0, q1, h, w0
    cdef double acc
    for r in range(R):
        p0 = tap_first(r, u, ph)
        p1 = tap_stop(r, H, P, u, ph)
        for s in range(S):
            q0 = tap_first(s, v, pw)
            q1 = tap_stop(s, W, Q, v, pw)
            w0 = s - pw
            acc = 0.0
            for n in range(N):
                for p in range(p0, p1):
                    h = p * u + r - ph
                    for q in range(q0, q1):
                        acc += <double> delta[n, k, p, q] * z[n, c, h, q * v + w0]
            df[k, c, r, s] = <floating> (acc / divisor)


def conv2d_backward_filter(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                           const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                           floating[:, :, :, ::1] df,           # OUT (K, C, R, S)
                           Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                           double divisor, int num_threads):
    """Eq (5): df[k,c,r,s] = sum_{n,p,q} delta[n,k,p,q] z[n,c,p*u+r-ph, q*v+s-pw] / divisor."""
    cdef Py_ssize_t K = df.shape[0], C = df.shape[1]
    cdef Py_ssize_t kc
    with nogil:
        for kc in prange(K * C, schedule="static", num_threads=num_threads):
            _filter_grad_block(delta, z, df, kc // C, kc % C, u, v, ph, pw, divisor)


def conv2d_backward_bias(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                         floating[::1] db,                   # OUT (K,)
                         double divisor, int num_threads):
    """Eq (6): db[k] = sum_{n,p,q} delta[n,k,p,q] / divisor."""
    cdef Py_ssize_t N = delta.shape[0], K = delta.shape[1]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t n, k, p, q
    cdef double acc
    with nogil:
        for k in prange(K, schedule="static", num_threads=num_threads):
            acc = 0.0
            for n in range(N):
                for p in range(P):
                    for q in range(Q):
                        acc = acc + delta[n, k, p, q]
            db[k] = <floating> (acc / divisor)


cdef void _input_grad_plane(const floating[:, :, :, ::1] delta,
                            const floating[:, :, :, ::1] f,
                            floating[:, :, :, ::1] dz,
                            Py_ssize_t n, Py_ssize_t c,
                            Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # Eqs (7)-(9) for one (n, c) plane: each input element gathers from the
    # outputs p in [Pmin, Pmax], q in [Qmin, Qmax] whose windows cover it, with
    # the kernel tap r = h - p*u + ph, s = w - q*v + pw. Rows and columns the
    # stride skips get an empty range, hence 0.
    cdef Py_ssize_t K = delta.shape[1], P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3]
    cdef Py_ssize_t R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t h, w, k, p, q, p_min, p_max, q_min, q_max, r
    cdef double acc
    for h in range(H):
        p_min = window_first(h, R, u, ph)
        p_max = window_last(h, P, u, ph)
        for w in range(W):
            q_min = window_first(w, S, v, pw)
            q_max = window_last(w, Q, v, pw)
            acc = 0.0
            for k in range(K):
                for p in range(p_min, p_max + 1):
                    r = h - p * u + ph
                    for q in range(q_min, q_max + 1):
                        acc += <double> delta[n, k, p, q] * f[k, c, r, w - q * v + pw]
            dz[n, c, h, w] = <floating> acc


def conv2d_backward_input(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                          const floating[:, :, :, ::1] f,      # IN  (K, C, R, S)
                          floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                          Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                          int num_threads):
    """Eqs (7)-(9): dz[n,c,h,w] = sum_k sum_{p=Pmin..Pmax} sum_{q=Qmin..Qmax} delta[n,k,p,q] f[k,c,r,s]."""
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1]
    cdef Py_ssize_t nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _input_grad_plane(delta, f, dz, nc // C, nc % C, u, v, ph, pw)
