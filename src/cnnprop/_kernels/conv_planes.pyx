"""Fast plane kernels: eqs (4g), (5g) and (7g) for groups of few channels (depthwise, small groups).

Design
------
With C_g input and K_g output channels a group (depthwise: C_g = 1, K_g = m,
the channel multiplier) the GEMMs of the im2col route are K_g rows tall, far
too thin for BLAS. These kernels work plane by plane instead: one task a
(sample, group) for eqs (4g) and (7g) (prange over them; a task owns its
outputs), one a (span of samples, group) for eq (5g), with the inner loops in
C (_planes_simd.pxd) that the compiler vectorises along the output columns.

Each plane is cut into bands of output rows (``band`` rows, chosen by the
caller so that the bands of a group's channels stay in the L2 cache). A
band's input rows are first copied into a zero-padded scratch band, one a
channel (``cstep`` elements apart), so the inner loops have no border cases;
with a column stride v > 1 each band row is stored phase by phase (``v`` runs
of ``Wq = Q + (S - 1) d_w // v`` columns: phase f holds the columns ``f, f +
v, f + 2v, ...``), so that the columns tap s reads for the outputs q = 0, 1,
... are one contiguous run, starting at ``soff[s] = (s d_w mod v) Wq + s d_w // v``:

- eq (4g): ``out[n,k,p,q] = b[k] + sum_{c',r,s} f[k,c',r,s] band_c'[p u + r d_h, soff[s] + q]``;
- eq (7g): the input delta is the correlation of the delta, spread out by
  the stride (u - 1 zeros between rows, v - 1 between columns) and padded,
  with the flipped kernels: ``dz[n,c,h,w] = sum_{k,r,s} f[k,c',R-1-r,S-1-s]
  B_k[h + r d_h, w + s d_w]`` over the K_g outputs k of c's group; any stride
  and dilation, the stride's zeros multiplied like any other;
- eq (5g): per (k, c', r, s), lane-wise running sums of ``delta[n,k,p,q]
  band_c'[...]`` over the rows p and the samples n of a fixed span of
  samples, then the lanes and the spans added in a fixed order.

The padding's zeros are multiplied like any input (the NaN rule of
docs/conventions.md). The input delta's spread-out zeros are multiplied too,
so a non-finite kernel weight would spoil positions no window holds: the
caller sends non-finite kernels to the GEMM path.

Sums run in the data type (the fast path's rule); every output is computed
by the same operations in the same order whatever the thread count, so the
results are bitwise independent of ``num_threads``.

The caller (cnnprop._conv_planes) validates nothing itself: cnnprop.conv
validates everything first, and _conv_planes sizes the scratch; these
kernels run without bounds checks.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from ._planes_simd cimport (CNNPROP_DW_ACC_D, CNNPROP_DW_ACC_F, CNNPROP_DW_LANES_D,
                            CNNPROP_DW_LANES_F, cnnprop_dw_corr_d, cnnprop_dw_corr_f,
                            cnnprop_dw_cpu_has_avx2, cnnprop_dw_dot12_d, cnnprop_dw_dot12_f,
                            cnnprop_dw_dot_d, cnnprop_dw_dot_f, cnnprop_dw_select)
from ._openmp cimport omp_get_thread_num

AVX2 = bool(cnnprop_dw_cpu_has_avx2())      # the CPU's, whatever use_avx2 says
cnnprop_dw_select(1)


def use_avx2(bint on):
    """Run the AVX2 + FMA loops (when the CPU has them) or the generic ones; returns which runs.

    For tests and benchmarks of the generic loops on an AVX2 machine; not thread-safe
    against running kernels.
    """
    return bool(cnnprop_dw_select(on))
LANES = {"float32": CNNPROP_DW_ACC_F, "float64": CNNPROP_DW_ACC_D}


cdef inline void _corr(floating* out, Py_ssize_t ostep, Py_ssize_t rows, const floating* src,
                       Py_ssize_t ystep, Py_ssize_t cstep, Py_ssize_t nch,
                       Py_ssize_t rstep, const Py_ssize_t* soff, const floating* w,
                       Py_ssize_t R, Py_ssize_t S, Py_ssize_t Q, floating bias) noexcept nogil:
    if floating is float:
        cnnprop_dw_corr_f(out, ostep, rows, src, ystep, cstep, nch, rstep, soff, w, R, S, Q, bias)
    else:
        cnnprop_dw_corr_d(out, ostep, rows, src, ystep, cstep, nch, rstep, soff, w, R, S, Q, bias)


cdef inline void _dot(floating* acc, const floating* d, Py_ssize_t dstep, const floating* x,
                      Py_ssize_t xstep, Py_ssize_t Q, Py_ssize_t rows) noexcept nogil:
    if floating is float:
        cnnprop_dw_dot_f(acc, d, dstep, x, xstep, Q, rows)
    else:
        cnnprop_dw_dot_d(acc, d, dstep, x, xstep, Q, rows)


cdef inline void _dot12(floating* acc, Py_ssize_t akstep, Py_ssize_t atstep, const floating* d,
                        Py_ssize_t dkstep, Py_ssize_t dstep, const floating* x, Py_ssize_t o0,
                        Py_ssize_t o1, Py_ssize_t o2, Py_ssize_t xstep, Py_ssize_t Q,
                        Py_ssize_t rows) noexcept nogil:
    if floating is float:
        cnnprop_dw_dot12_f(acc, akstep, atstep, d, dkstep, dstep, x, o0, o1, o2, xstep, Q, rows)
    else:
        cnnprop_dw_dot12_d(acc, akstep, atstep, d, dkstep, dstep, x, o0, o1, o2, xstep, Q, rows)


cdef inline Py_ssize_t _tap_offset(Py_ssize_t t, Py_ssize_t RS, Py_ssize_t S, Py_ssize_t cstep,
                                   Py_ssize_t rstep, const Py_ssize_t* soff) noexcept nogil:
    # where tap t = (c', r, s) of a kernel starts in the bands: c' cstep + r rstep + soff[s]
    return (t // RS) * cstep + ((t % RS) // S) * rstep + soff[t % S]


cdef void _pad_band(const floating* plane, Py_ssize_t H, Py_ssize_t W,
                    Py_ssize_t h0, Py_ssize_t rows, Py_ssize_t w0, Py_ssize_t v, Py_ssize_t Wq,
                    floating* band) noexcept nogil:
    # Row i of the band holds input row h0 + i, phase by phase: band[i, f Wq + j]
    # = plane[h0 + i, w0 + j v + f] for the phases f < v (0 outside the plane),
    # so that the columns a strided window row reads are contiguous.
    cdef Py_ssize_t i, h, a, e, f, j, w
    cdef floating* dst
    cdef const floating* src
    for i in range(rows):
        h = h0 + i
        dst = band + i * v * Wq
        if h < 0 or h >= H:
            memset(dst, 0, v * Wq * sizeof(floating))
            continue
        src = plane + h * W
        if v == 1:
            a = max(0, -w0)                   # first band column inside the plane
            e = max(a, min(Wq, W - w0))       # one past the last
            if a > 0:
                memset(dst, 0, a * sizeof(floating))
            memcpy(dst + a, src + w0 + a, (e - a) * sizeof(floating))
            if e < Wq:
                memset(dst + e, 0, (Wq - e) * sizeof(floating))
            continue
        for f in range(v):
            for j in range(Wq):
                w = w0 + j * v + f
                dst[f * Wq + j] = src[w] if 0 <= w < W else 0


cdef void _spread_band(const floating* plane, Py_ssize_t P, Py_ssize_t Q,
                       Py_ssize_t u, Py_ssize_t v, Py_ssize_t t0, Py_ssize_t rows,
                       Py_ssize_t c0, Py_ssize_t Wb, floating* band) noexcept nogil:
    # band[i, j] = plane[(t0 + i) / u, (c0 + j) / v] where u divides t0 + i and
    # v divides c0 + j and the quotients are inside the plane, else 0: the
    # delta spread out by the stride.
    cdef Py_ssize_t i, j, t, p, c, q
    for i in range(rows):
        memset(band + i * Wb, 0, Wb * sizeof(floating))
        t = t0 + i
        if t < 0 or t % u != 0:
            continue
        p = t // u
        if p >= P:
            continue
        if v == 1 and c0 <= 0:
            # a contiguous run: columns j = q - c0 for q in [0, min(Q, Wb + c0))
            if Wb + c0 > 0:
                memcpy(band + i * Wb - c0, plane + p * Q, min(Q, Wb + c0) * sizeof(floating))
            continue
        for j in range(Wb):
            c = c0 + j
            if c < 0 or c % v != 0:
                continue
            q = c // v
            if q < Q:
                band[i * Wb + j] = plane[p * Q + q]


def conv2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                   const floating[:, :, :, ::1] f,   # IN  (K, C_g, R, S)
                   const floating[::1] b,            # IN  (K,)
                   floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                   floating[:, ::1] scratch,         # SCRATCH (threads, C_g cstep)
                   const Py_ssize_t[::1] soff,       # IN  (S,): where tap s starts in a band row
                   Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups, Py_ssize_t Wq,
                   Py_ssize_t band):
    """Eq (4g): out[n,k] = b[k] + sum over c' of z[n, gamma(k) C_g + c'] correlated with f[k, c']."""
    cdef Py_ssize_t N = z.shape[0], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = f.shape[0], Cg = f.shape[1], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = out.shape[2], Q = out.shape[3]
    cdef Py_ssize_t Kg = K // groups, Wrow = v * Wq
    cdef Py_ssize_t cstep = ((band - 1) * u + (R - 1) * dh + 1) * Wrow
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t task, n, g, k, cg, p0, p1, rows
    cdef floating* buf
    with nogil:
        for task in prange(N * groups, schedule="static", num_threads=threads):
            n = task // groups
            g = task % groups
            buf = &scratch[omp_get_thread_num(), 0]
            p0 = 0
            while p0 < P:
                p1 = min(P, p0 + band)
                rows = (p1 - 1 - p0) * u + (R - 1) * dh + 1
                for cg in range(Cg):
                    _pad_band(&z[n, g * Cg + cg, 0, 0], H, W, p0 * u - ph, rows, -pw, v, Wq,
                              buf + cg * cstep)
                for k in range(g * Kg, (g + 1) * Kg):
                    _corr(&out[n, k, p0, 0], Q, p1 - p0, buf, u * Wrow, cstep, Cg, dh * Wrow,
                          &soff[0], &f[k, 0, 0, 0], R, S, Q, b[k])
                p0 = p1


def conv2d_backward_input(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                          const floating[:, :, :, ::1] f,      # IN  (K, C_g, R, S), finite
                          floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                          floating[:, ::1] scratch,            # SCRATCH (threads, C_g K_g R S + K_g cstep)
                          const Py_ssize_t[::1] soff,          # IN  (S,): s d_w
                          Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                          Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups, Py_ssize_t band):
    """Eq (7g): dz[n,c] = sum over the K_g outputs k of c's group of the spread-out
    delta[n,k] correlated with the flipped f[k, c']."""
    cdef Py_ssize_t N = dz.shape[0], C = dz.shape[1], H = dz.shape[2], W = dz.shape[3]
    cdef Py_ssize_t K = f.shape[0], Cg = f.shape[1], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t Kg = K // groups, RS = R * S
    cdef Py_ssize_t Wb = W + (S - 1) * dw
    cdef Py_ssize_t cstep = (band - 1 + (R - 1) * dh + 1) * Wb
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t task, n, g, kk, cg, h0, h1, rows, i
    cdef floating* wflip
    cdef floating* buf
    with nogil:
        for task in prange(N * groups, schedule="static", num_threads=threads):
            n = task // groups
            g = task % groups
            wflip = &scratch[omp_get_thread_num(), 0]
            buf = wflip + Cg * Kg * RS
            # wflip[c', k, :] = f[g K_g + k, c'] flipped in both axes
            for cg in range(Cg):
                for kk in range(Kg):
                    for i in range(RS):
                        wflip[(cg * Kg + kk) * RS + i] = f[g * Kg + kk, cg, (RS - 1 - i) // S,
                                                           (RS - 1 - i) % S]
            h0 = 0
            while h0 < H:
                h1 = min(H, h0 + band)
                rows = (h1 - 1 - h0) + (R - 1) * dh + 1
                # band row i holds spread row t = h0 + i - (R - 1) dh + ph
                for kk in range(Kg):
                    _spread_band(&delta[n, g * Kg + kk, 0, 0], P, Q, u, v,
                                 h0 - (R - 1) * dh + ph, rows, pw - (S - 1) * dw, Wb,
                                 buf + kk * cstep)
                for cg in range(Cg):
                    _corr(&dz[n, g * Cg + cg, h0, 0], W, h1 - h0, buf, Wb, cstep, Kg, dh * Wb,
                          &soff[0], wflip + cg * Kg * RS, R, S, W, <floating> 0)
                h0 = h1


def conv2d_backward_filter(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                           const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                           floating[:, :, :, ::1] df,           # OUT (K, C_g, R, S)
                           const long long[:, ::1] spans,       # IN  (spans, 2): sample ranges
                           floating[:, ::1] partials,           # SCRATCH (spans, K C_g R S)
                           floating[:, ::1] scratch,            # SCRATCH (threads, K_g C_g R S L + C_g cstep)
                           const Py_ssize_t[::1] soff,          # IN  (S,): where tap s starts in a band row
                           Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                           Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups, Py_ssize_t Wq,
                           Py_ssize_t band, double divisor):
    """Eq (5g): df[k,c',r,s] = sum_{n,p,q} delta[n,k,p,q] Zp[n,gamma(k) C_g + c',h,w] / divisor.

    One task a (span of samples, group): L lanes of running sums a (k, c', tap),
    over the span's samples and rows in order; then the lanes in order, then
    the spans in order.
    """
    cdef Py_ssize_t N = z.shape[0], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = df.shape[0], Cg = df.shape[1], R = df.shape[2], S = df.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t Kg = K // groups, RS = R * S, CRS = Cg * R * S, nspans = spans.shape[0]
    cdef Py_ssize_t L = CNNPROP_DW_ACC_F if floating is float else CNNPROP_DW_ACC_D
    # 4 outputs x 3 taps at once when they tile the group (lanes: L/4 + 1 a pair)
    cdef bint tiled = Kg % 4 == 0 and CRS % 3 == 0
    cdef Py_ssize_t LW = ((CNNPROP_DW_LANES_F if floating is float else CNNPROP_DW_LANES_D) // 4
                          + 1) if tiled else L
    cdef Py_ssize_t Wrow = v * Wq
    cdef Py_ssize_t cstep = ((band - 1) * u + (R - 1) * dh + 1) * Wrow
    cdef int threads = <int> scratch.shape[0]
    cdef Py_ssize_t task, sp, g, n, kk, cg, p0, p1, rows, r, s, i, e, t
    cdef floating* lanes
    cdef floating* buf
    cdef floating total
    cdef floating* dst = &df[0, 0, 0, 0]
    cdef double acc
    with nogil:
        for task in prange(nspans * groups, schedule="static", num_threads=threads):
            sp = task // groups
            g = task % groups
            lanes = &scratch[omp_get_thread_num(), 0]
            buf = lanes + Kg * CRS * L
            memset(lanes, 0, Kg * CRS * LW * sizeof(floating))
            for n in range(spans[sp, 0], spans[sp, 1]):
                p0 = 0
                while p0 < P:
                    p1 = min(P, p0 + band)
                    rows = (p1 - 1 - p0) * u + (R - 1) * dh + 1
                    for cg in range(Cg):
                        _pad_band(&z[n, g * Cg + cg, 0, 0], H, W, p0 * u - ph, rows, -pw, v, Wq,
                                  buf + cg * cstep)
                    if tiled:
                        for kk in range(0, Kg, 4):
                            for t in range(0, CRS, 3):
                                _dot12(lanes + (kk * CRS + t) * LW, CRS * LW, LW,
                                       &delta[n, g * Kg + kk, p0, 0], P * Q, Q, buf,
                                       _tap_offset(t, RS, S, cstep, dh * Wrow, &soff[0]),
                                       _tap_offset(t + 1, RS, S, cstep, dh * Wrow, &soff[0]),
                                       _tap_offset(t + 2, RS, S, cstep, dh * Wrow, &soff[0]),
                                       u * Wrow, Q, p1 - p0)
                    else:
                        for kk in range(Kg):
                            for cg in range(Cg):
                                for r in range(R):
                                    for s in range(S):
                                        _dot(lanes + (kk * CRS + cg * RS + r * S + s) * L,
                                             &delta[n, g * Kg + kk, p0, 0], Q,
                                             buf + cg * cstep + r * dh * Wrow + soff[s], u * Wrow,
                                             Q, p1 - p0)
                    p0 = p1
            for i in range(Kg * CRS):
                total = 0
                for e in range(LW):
                    total = total + lanes[i * LW + e]
                partials[sp, g * Kg * CRS + i] = total
        for i in prange(K * CRS, schedule="static", num_threads=threads):
            acc = partials[0, i]
            for sp in range(1, nspans):
                acc = acc + partials[sp, i]
            dst[i] = <floating> (acc / divisor)
