"""Winograd minimal filtering F(m x m, 3 x 3) for stride-1 3x3 correlations.

Design
------
The output planes are cut into m x m tiles (the last row and column of
tiles may stick out of the plane: those outputs are computed and dropped).
Tile ``t`` of the whole batch is sample ``t // (TP TQ)``, tile row
``(t // TQ) % TP``, tile column ``t % TQ``; its input tile is the
``alpha x alpha`` patch (``alpha = m + 2``) starting at
``(tp m - pt, tq m - pl)``, read as 0 outside the input (any offset, also a
negative padding). With ``U[xi] = (G g G^T)[xi]`` (the caller's filter
transform, laid out (alpha^2, K, C)) and ``V[xi] = (B^T d B)[xi]``:

    M[xi] (K x T) = U[xi] (K x C) @ V[xi] (C x T)      one GEMM per point xi
    y = A^T M A + b                                     per (k, tile)

(Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
CVPR 2016, eqs (7)-(8)). The tiles are processed in blocks (``blocks[i] =
t0, t1``, consecutive tiles), one block a task: a block's V and M fit the
per-thread scratch. The blocks depend on the shapes only and each output tile
is computed by one block, in a fixed order: results are bitwise identical
for any num_threads. The kernel transform runs in float64 and is rounded
once; the input and output transforms and the GEMMs run in the data type
(bound (W3) of docs/winograd.md counts their roundings).

The caller (cnnprop._winograd) validates everything and sizes the scratch;
these kernels run without bounds checks.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._blas cimport gemm
from ._openmp cimport omp_get_thread_num

cdef enum:
    MAX_ALPHA = 6
    # tiles a run transforms at once: the inner loop of every transform runs
    # over them, so that the compiler vectorises it; their scratch
    # (2 alpha^2 RUN values) stays in the L1 cache
    RUN = 32


# The 1-D transforms of Lavin and Gray's matrices written out (their zeros and
# ones skipped), each over L tiles at once: inputs x[e * sx + l], outputs
# y[e * sy + l] for the transform's entries e and tiles l < L. cnnprop._winograd
# holds the matrices these spell; tests/test_winograd.py checks the kernel
# against the float64 references.

cdef inline void _bt2(const floating* x, Py_ssize_t sx, floating* y, Py_ssize_t sy,
                      Py_ssize_t L) noexcept nogil:
    # B^T of F(2, 3)
    cdef Py_ssize_t l
    cdef floating x0, x1, x2, x3
    for l in range(L):
        x0 = x[l]
        x1 = x[sx + l]
        x2 = x[2 * sx + l]
        x3 = x[3 * sx + l]
        y[l] = x0 - x2
        y[sy + l] = x1 + x2
        y[2 * sy + l] = x2 - x1
        y[3 * sy + l] = x1 - x3


cdef inline void _bt4(const floating* x, Py_ssize_t sx, floating* y, Py_ssize_t sy,
                      Py_ssize_t L) noexcept nogil:
    # B^T of F(4, 3)
    cdef Py_ssize_t l
    cdef floating x0, x1, x2, x3, x4, x5
    for l in range(L):
        x0 = x[l]
        x1 = x[sx + l]
        x2 = x[2 * sx + l]
        x3 = x[3 * sx + l]
        x4 = x[4 * sx + l]
        x5 = x[5 * sx + l]
        y[l] = 4 * x0 - 5 * x2 + x4
        y[sy + l] = x3 + x4 - 4 * (x1 + x2)
        y[2 * sy + l] = x4 - x3 + 4 * (x1 - x2)
        y[3 * sy + l] = x4 - x2 + 2 * (x3 - x1)
        y[4 * sy + l] = x4 - x2 + 2 * (x1 - x3)
        y[5 * sy + l] = 4 * x1 - 5 * x3 + x5


cdef inline void _at2(const floating* x, Py_ssize_t sx, floating* y, Py_ssize_t sy,
                      Py_ssize_t L) noexcept nogil:
    # A^T of F(2, 3)
    cdef Py_ssize_t l
    cdef floating x1, x2
    for l in range(L):
        x1 = x[sx + l]
        x2 = x[2 * sx + l]
        y[l] = x[l] + x1 + x2
        y[sy + l] = x1 - x2 - x[3 * sx + l]


cdef inline void _at4(const floating* x, Py_ssize_t sx, floating* y, Py_ssize_t sy,
                      Py_ssize_t L) noexcept nogil:
    # A^T of F(4, 3)
    cdef Py_ssize_t l
    cdef floating s1, d1, s2, d2
    for l in range(L):
        s1 = x[sx + l] + x[2 * sx + l]
        d1 = x[sx + l] - x[2 * sx + l]
        s2 = x[3 * sx + l] + x[4 * sx + l]
        d2 = x[3 * sx + l] - x[4 * sx + l]
        y[l] = x[l] + s1 + s2
        y[sy + l] = d1 + 2 * d2
        y[2 * sy + l] = s1 + 4 * s2
        y[3 * sy + l] = d1 + 8 * d2 + x[5 * sx + l]


cdef inline void _input_run(const floating* plane, Py_ssize_t H, Py_ssize_t W,
                            Py_ssize_t h0, Py_ssize_t w0, Py_ssize_t L,
                            floating* dst, Py_ssize_t stride, floating* d, floating* e,
                            const int m, const int alpha) noexcept nogil:
    # dst[xi * stride + l] = (B^T d_l B)[xi] for the L patches d_l at (h0, w0 + l m)
    cdef Py_ssize_t a, bb, i, l, lo, hi, w
    cdef const floating* row
    cdef floating* drow
    # d[(a alpha + b) L + l] = the patches, 0 outside the plane
    for a in range(alpha):
        for bb in range(alpha):
            drow = d + (a * alpha + bb) * L
            if h0 + a < 0 or h0 + a >= H:
                for l in range(L):
                    drow[l] = 0
                continue
            row = plane + (h0 + a) * W
            w = w0 + bb                   # the column tile l reads: w + l m
            lo = 0 if w >= 0 else min(L, (-w + m - 1) // m)
            hi = max(lo, min(L, (W - w + m - 1) // m)) if W > w else lo
            for l in range(lo):
                drow[l] = 0
            for l in range(lo, hi):
                drow[l] = row[w + l * m]
            for l in range(hi, L):
                drow[l] = 0
    # e = B^T d (down each column of the patches), then dst = e B (along each
    # row, straight into the transform points' rows of V)
    for bb in range(alpha):
        if alpha == 4:
            _bt2(d + bb * L, alpha * L, e + bb * L, alpha * L, L)
        else:
            _bt4(d + bb * L, alpha * L, e + bb * L, alpha * L, L)
    for i in range(alpha):
        if alpha == 4:
            _bt2(e + i * alpha * L, L, dst + i * alpha * stride, stride, L)
        else:
            _bt4(e + i * alpha * L, L, dst + i * alpha * stride, stride, L)


cdef inline void _output_run(const floating* src, Py_ssize_t stride, double bias,
                             floating* plane, Py_ssize_t P, Py_ssize_t Q,
                             Py_ssize_t p0, Py_ssize_t q0, Py_ssize_t L, floating* d, floating* e,
                             const int m, const int alpha) noexcept nogil:
    # plane[p0 + i, q0 + l m + j] = (A^T M_l A)[i, j] + bias inside the plane, with
    # M_l[xi] = src[xi * stride + l]
    cdef Py_ssize_t i, j, l, rows, cols
    # e = A^T M (m x alpha, read straight from the GEMM's rows), then d = e A (m x m)
    for j in range(alpha):
        if alpha == 4:
            _at2(src + j * stride, alpha * stride, e + j * L, alpha * L, L)
        else:
            _at4(src + j * stride, alpha * stride, e + j * L, alpha * L, L)
    for i in range(m):
        if alpha == 4:
            _at2(e + i * alpha * L, L, d + i * m * L, L, L)
        else:
            _at4(e + i * alpha * L, L, d + i * m * L, L, L)
    rows = min(m, P - p0)
    for i in range(rows):
        for j in range(m):
            # tiles whose column q0 + l m + j is inside the plane
            cols = min(L, (Q - q0 - j + m - 1) // m) if Q > q0 + j else 0
            for l in range(cols):
                plane[(p0 + i) * Q + q0 + l * m + j] = d[(i * m + j) * L + l] + <floating> bias


cdef inline void _block(const floating[:, :, :, ::1] z, const floating[:, :, ::1] U,
                        const floating[::1] b, floating[:, :, :, ::1] out,
                        Py_ssize_t t0, Py_ssize_t t1,
                        floating* V, floating* M, Py_ssize_t pt, Py_ssize_t pl,
                        const int m, const int alpha) noexcept nogil:
    # One block of tiles t0 .. t1: input transform, alpha^2 GEMMs, output transform,
    # the transforms in runs of at most RUN tiles of one tile row.
    cdef Py_ssize_t C = z.shape[1], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = out.shape[1], P = out.shape[2], Q = out.shape[3]
    cdef Py_ssize_t TQ = (Q + m - 1) // m, TP = (P + m - 1) // m
    cdef Py_ssize_t T = t1 - t0, A2 = alpha * alpha
    cdef Py_ssize_t c, k, t, n, tp, tq, xi, L
    cdef floating d[MAX_ALPHA * MAX_ALPHA * RUN]
    cdef floating e[MAX_ALPHA * MAX_ALPHA * RUN]
    t = t0
    while t < t1:
        n = t // (TP * TQ)
        tp = (t // TQ) % TP
        tq = t % TQ
        L = min(RUN, min(t1 - t, TQ - tq))
        for c in range(C):
            _input_run(&z[n, c, 0, 0], H, W, tp * m - pt, tq * m - pl, L,
                       V + c * T + (t - t0), C * T, d, e, m, alpha)
        t += L
    for xi in range(A2):
        gemm(False, False, <int> K, <int> T, <int> C, <floating> 1, &U[xi, 0, 0], <int> C,
             V + xi * C * T, <int> T, <floating> 0, M + xi * K * T, <int> T)
    t = t0
    while t < t1:
        n = t // (TP * TQ)
        tp = (t // TQ) % TP
        tq = t % TQ
        L = min(RUN, min(t1 - t, TQ - tq))
        for k in range(K):
            _output_run(M + k * T + (t - t0), K * T, b[k], &out[n, k, 0, 0], P, Q,
                        tp * m, tq * m, L, d, e, m, alpha)
        t += L


def winograd_correlate(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                       const floating[:, :, ::1] U,      # IN  (alpha^2, K, C): G g G^T
                       const floating[::1] b,            # IN  (K,)
                       floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                       int m,                            # IN  tile size: 2 or 4
                       const long long[:, ::1] blocks,   # IN  (blocks, 2): t0, t1
                       floating[:, ::1] v_scratch,       # SCRATCH (threads, alpha^2 C T)
                       floating[:, ::1] m_scratch,       # SCRATCH (threads, alpha^2 K T)
                       Py_ssize_t pt, Py_ssize_t pl):
    """``out[n,k,p,q] = sum_{c,r,s} z[n,c,p+r-pt,q+s-pl] g[k,c,r,s] + b[k]`` (0 outside z) by F(m x m, 3 x 3)."""
    cdef int threads = <int> v_scratch.shape[0]
    cdef Py_ssize_t i
    cdef int t
    with nogil:
        for i in prange(blocks.shape[0], schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            # constant tile sizes, so that the compiler unrolls the small transforms
            if m == 2:
                _block(z, U, b, out, blocks[i, 0], blocks[i, 1], &v_scratch[t, 0],
                       &m_scratch[t, 0], pt, pl, 2, 4)
            else:
                _block(z, U, b, out, blocks[i, 0], blocks[i, 1], &v_scratch[t, 0],
                       &m_scratch[t, 0], pt, pl, 4, 6)


cdef inline void _filter_one(const floating[:, :, :, ::1] f, const double[:, ::1] G,
                             floating[:, :, ::1] U, Py_ssize_t k, Py_ssize_t c,
                             bint transpose) noexcept nogil:
    # One kernel's transform (its own stack arrays: called once per prange task)
    cdef Py_ssize_t alpha = G.shape[0], i, j, r
    cdef double g[9]
    cdef double t[MAX_ALPHA * 3]
    cdef double acc
    for r in range(9):
        g[r] = f[k, c, 2 - r // 3, 2 - r % 3] if transpose else f[k, c, r // 3, r % 3]
    # t = G g (alpha x 3), then U = t G^T (alpha x alpha)
    for i in range(alpha):
        for j in range(3):
            acc = 0
            for r in range(3):
                acc = acc + G[i, r] * g[r * 3 + j]
            t[i * 3 + j] = acc
    for i in range(alpha):
        for j in range(alpha):
            acc = 0
            for r in range(3):
                acc = acc + t[i * 3 + r] * G[j, r]
            if transpose:
                U[i * alpha + j, c, k] = <floating> acc
            else:
                U[i * alpha + j, k, c] = <floating> acc


def filter_transform(const floating[:, :, :, ::1] f,     # IN  (K, C, 3, 3)
                     const double[:, ::1] G,              # IN  (alpha, 3)
                     floating[:, :, ::1] U,               # OUT (alpha^2, K, C), or (alpha^2, C, K)
                     bint transpose, int threads):
    """``U[xi, k, c] = (G f[k, c] G^T)[xi]``, in float64 and rounded once; with
    ``transpose``, of the rotated kernel of (W2): ``U[xi, c, k] = (G f[k, c, ::-1, ::-1] G^T)[xi]``."""
    cdef Py_ssize_t K = f.shape[0], C = f.shape[1]
    cdef Py_ssize_t kc
    with nogil:
        for kc in prange(K * C, schedule="static", num_threads=threads):
            _filter_one(f, G, U, kc // C, kc % C, transpose)
