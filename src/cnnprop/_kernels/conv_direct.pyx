"""Literal convolution kernels: eqs (4g), (5g), (6) and (7g), as the equations read.

Design
------
These are the reference path. Each kernel computes the sum of its equation
term by term, in a fixed order, so the result does not depend on the thread
count. Sums accumulate in double whatever the data type: the reference must
not lose digits on long reductions (eq (5g) sums N*P*Q terms).

The general geometry of docs/spec-beyond.md: tap offsets r*dh, s*dw
(dilation), top/left paddings pt, pl (the bottom/right paddings only set P
and Q), groups through the channel offset gamma(k)*C_g. With dh = dw = 1,
pt = pb, pl = pr and groups = 1 every loop is the source's eq (4), (5), (7)
in the same order, so the results are bitwise those of the source kernels.

Zero padding and non-finite values (docs/conventions.md): a padded position
holds a zero that is multiplied like any input, so a non-finite weight
(eq (4g)) or delta (eq (5g)) facing the padding gives NaN, as on the fast
path and in PyTorch. The terms are only added when the other factor is not
finite, so finite data pays nothing and keeps the exact old sums.

Every kernel is a gather: the parallel index (prange, static schedule) owns a
disjoint block of the output, so no two threads write the same element and no
lock is needed. Eq (7g) is computed as written, over the general window ranges
(the dilation divisibility rule of window_first_dilated/window_step), not as a
transposed convolution.

Padding modes other than zeros reach these kernels as a padded input (the
gather through the mode's index map, done by cnnprop.conv) with pt = pl = 0.

The Python layer (cnnprop.conv) validates shapes, dtypes, contiguity and
geometry before calling; these kernels run without bounds checks.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._index cimport (tap_first, tap_stop, window_first_dilated, window_last,
                      window_step)
from ._openmp cimport omp_get_thread_num


cdef inline bint _finite(double x) noexcept nogil:
    # false for inf and NaN (x - x is NaN for both)
    return x - x == 0.0


cdef void _forward_plane(const floating[:, :, :, ::1] z,
                         const floating[:, :, :, ::1] f,
                         const floating[::1] b,
                         floating[:, :, :, ::1] out,
                         Py_ssize_t n, Py_ssize_t k,
                         Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                         Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                         double* acc) noexcept nogil:
    # Eq (4g) for one (n, k) plane. The sum over (c', r, s) is taken one kernel
    # tap at a time across the whole output plane, so the innermost loop runs
    # along q (contiguous in the accumulator, stride v in z).
    cdef Py_ssize_t Cg = f.shape[1], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = out.shape[2], Q = out.shape[3]
    cdef Py_ssize_t c0 = (k // (f.shape[0] // groups)) * Cg     # gamma(k) * C_g
    cdef Py_ssize_t cg, c, r, s, p, q, p0, p1, q0, q1, h, w0
    cdef double weight
    cdef double* row

    for p in range(P * Q):
        acc[p] = b[k]
    for cg in range(Cg):
        c = c0 + cg
        for r in range(R):
            p0 = tap_first(r * dh, u, ph)
            p1 = tap_stop(r * dh, H, P, u, ph)
            for s in range(S):
                q0 = tap_first(s * dw, v, pw)
                q1 = tap_stop(s * dw, W, Q, v, pw)
                weight = f[k, cg, r, s]
                for p in range(p0, p1):
                    h = p * u + r * dh - ph
                    w0 = s * dw - pw
                    row = acc + p * Q
                    for q in range(q0, q1):
                        row[q] += z[n, c, h, q * v + w0] * weight
                if not _finite(weight):
                    # the padding's zeros times a non-finite weight
                    for p in range(P):
                        for q in range(Q):
                            if p < p0 or p >= p1 or q < q0 or q >= q1:
                                acc[p * Q + q] += 0.0 * weight
    for p in range(P):
        for q in range(Q):
            out[n, k, p, q] = <floating> acc[p * Q + q]


def conv2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                   const floating[:, :, :, ::1] f,   # IN  (K, C/groups, R, S)
                   const floating[::1] b,            # IN  (K,)
                   floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                   double[:, ::1] scratch,           # SCRATCH (threads, P*Q)
                   Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups):
    """Eq (4g): out[n,k,p,q] = sum_{c',r,s} z[n,gamma(k)C_g+c',p*u+r*dh-ph,q*v+s*dw-pw] f[k,c',r,s] + b[k].

    Runs on scratch.shape[0] threads, each accumulating in its own row of scratch.
    """
    cdef Py_ssize_t N = out.shape[0], K = out.shape[1]
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t nk
    with nogil:
        for nk in prange(N * K, schedule="static", num_threads=threads):
            _forward_plane(z, f, b, out, nk // K, nk % K, u, v, dh, dw, ph, pw, groups,
                           &scratch[omp_get_thread_num(), 0])


cdef void _filter_grad_block(const floating[:, :, :, ::1] delta,
                             const floating[:, :, :, ::1] z,
                             floating[:, :, :, ::1] df,
                             Py_ssize_t k, Py_ssize_t cg,
                             Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                             Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                             double divisor, bint nonfinite) noexcept nogil:
    # Eq (5g) for one (k, c') block of the kernel gradient: each tap (r, s) sums
    # over n, then over the outputs p, q whose input h, w lies inside the
    # image; the padding's zeros only matter when a delta is not finite.
    cdef Py_ssize_t N = z.shape[0], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t R = df.shape[2], S = df.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t c = (k // (df.shape[0] // groups)) * df.shape[1] + cg
    cdef Py_ssize_t n, r, s, p, q, p0, p1, q0, q1, h, w0
    cdef double acc, d
    for r in range(R):
        p0 = tap_first(r * dh, u, ph)
        p1 = tap_stop(r * dh, H, P, u, ph)
        for s in range(S):
            q0 = tap_first(s * dw, v, pw)
            q1 = tap_stop(s * dw, W, Q, v, pw)
            w0 = s * dw - pw
            acc = 0.0
            for n in range(N):
                for p in range(p0, p1):
                    h = p * u + r * dh - ph
                    for q in range(q0, q1):
                        acc += <double> delta[n, k, p, q] * z[n, c, h, q * v + w0]
            if nonfinite:
                # a non-finite delta times the padding's zeros
                for n in range(N):
                    for p in range(P):
                        for q in range(Q):
                            if p < p0 or p >= p1 or q < q0 or q >= q1:
                                d = delta[n, k, p, q]
                                if not _finite(d):
                                    acc += d * 0.0
            df[k, cg, r, s] = <floating> (acc / divisor)


def conv2d_backward_filter(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                           const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                           floating[:, :, :, ::1] df,           # OUT (K, C/groups, R, S)
                           Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                           Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                           double divisor, bint nonfinite, int num_threads):
    """Eq (5g): df[k,c',r,s] = sum_{n,p,q} delta[n,k,p,q] z[n,gamma(k)C_g+c',h,w] / divisor.

    ``nonfinite``: delta holds an inf or NaN (then padded terms are added).
    """
    cdef Py_ssize_t K = df.shape[0], Cg = df.shape[1]
    cdef Py_ssize_t kc
    with nogil:
        for kc in prange(K * Cg, schedule="static", num_threads=num_threads):
            _filter_grad_block(delta, z, df, kc // Cg, kc % Cg, u, v, dh, dw, ph, pw, groups,
                               divisor, nonfinite)


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
                            Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                            Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups) noexcept nogil:
    # Eq (7g) for one (n, c) plane: each input element gathers from the
    # outputs k of its group and the windows (p, q) that hold it: p from
    # window_first_dilated to window_last in steps of dh / gcd(u, dh) (the
    # rows whose tap r = (h + ph - p*u) / dh is an integer), q alike. Rows the
    # stride or dilation skips get an empty range, hence 0.
    cdef Py_ssize_t K = delta.shape[1], P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3]
    cdef Py_ssize_t Cg = f.shape[1], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t Kg = K // groups
    cdef Py_ssize_t g = c // Cg
    cdef Py_ssize_t cg = c - g * Cg
    cdef Py_ssize_t p_step = window_step(u, dh), q_step = window_step(v, dw)
    # stepping p by p_step moves the tap r down by p_step*u/dh (an integer)
    cdef Py_ssize_t r_down = p_step * u // dh, s_down = q_step * v // dw
    cdef Py_ssize_t h, w, k, p, q, p_min, p_max, q_min, q_max, r, r0, s, s0
    cdef double acc
    for h in range(H):
        p_min = window_first_dilated(h, R, u, ph, dh, P)
        p_max = window_last(h, P, u, ph)
        r0 = (h - p_min * u + ph) // dh             # the tap of window p_min (if any)
        for w in range(W):
            q_min = window_first_dilated(w, S, v, pw, dw, Q)
            q_max = window_last(w, Q, v, pw)
            s0 = (w - q_min * v + pw) // dw
            acc = 0.0
            for k in range(g * Kg, (g + 1) * Kg):
                p = p_min
                r = r0
                while p <= p_max:
                    q = q_min
                    s = s0
                    while q <= q_max:
                        acc += <double> delta[n, k, p, q] * f[k, cg, r, s]
                        q += q_step
                        s -= s_down
                    p += p_step
                    r -= r_down
            dz[n, c, h, w] = <floating> acc


def conv2d_backward_input(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                          const floating[:, :, :, ::1] f,      # IN  (K, C/groups, R, S)
                          floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                          Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                          Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                          int num_threads):
    """Eq (7g): dz[n,c,h,w] = sum over k of c's group and the windows holding (h, w) of delta f."""
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1]
    cdef Py_ssize_t nc
    with nogil:
        for nc in prange(N * C, schedule="static", num_threads=num_threads):
            _input_grad_plane(delta, f, dz, nc // C, nc % C, u, v, dh, dw, ph, pw, groups)
