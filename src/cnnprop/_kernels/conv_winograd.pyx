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
for any num_threads. The input and output transforms run in float64 (their
values are rounded to the data type once); the GEMMs sum in the data type.

The caller (cnnprop._winograd) validates everything and sizes the scratch;
these kernels run without bounds checks.
"""
from cython cimport floating
from cython.parallel cimport prange

from ._blas cimport gemm
from ._openmp cimport omp_get_thread_num

cdef enum:
    MAX_ALPHA = 6


cdef inline void _input_tile(const floating* plane, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t h0, Py_ssize_t w0, const double* bt,
                             floating* dst, Py_ssize_t stride, const int alpha) noexcept nogil:
    # dst[xi * stride] = (B^T d B)[xi] for the alpha x alpha patch d at (h0, w0)
    cdef double d[MAX_ALPHA * MAX_ALPHA]
    cdef double e[MAX_ALPHA * MAX_ALPHA]
    cdef double acc
    cdef Py_ssize_t i, j, a
    cdef const floating* row
    if h0 >= 0 and w0 >= 0 and h0 + alpha <= H and w0 + alpha <= W:
        for i in range(alpha):
            row = plane + (h0 + i) * W + w0
            for j in range(alpha):
                d[i * alpha + j] = row[j]
    else:
        for i in range(alpha):
            for j in range(alpha):
                if 0 <= h0 + i < H and 0 <= w0 + j < W:
                    d[i * alpha + j] = plane[(h0 + i) * W + w0 + j]
                else:
                    d[i * alpha + j] = 0
    # e = B^T d, then (B^T d) B = e B: row i of the result is sum_j e[i, j] B[j, :]
    for i in range(alpha):
        for j in range(alpha):
            acc = 0
            for a in range(alpha):
                acc = acc + bt[i * alpha + a] * d[a * alpha + j]
            e[i * alpha + j] = acc
    for i in range(alpha):
        for j in range(alpha):
            acc = 0
            for a in range(alpha):
                acc = acc + e[i * alpha + a] * bt[j * alpha + a]
            dst[(i * alpha + j) * stride] = <floating> acc


cdef inline void _output_tile(const floating* src, Py_ssize_t stride, const double* at,
                              double bias, floating* plane, Py_ssize_t P, Py_ssize_t Q,
                              Py_ssize_t p0, Py_ssize_t q0, const int m, const int alpha) noexcept nogil:
    # plane[p0 + i, q0 + j] = (A^T M A)[i, j] + bias, for the positions inside the plane
    cdef double mm[MAX_ALPHA * MAX_ALPHA]
    cdef double e[MAX_ALPHA * MAX_ALPHA]
    cdef double acc
    cdef Py_ssize_t i, j, a
    for i in range(alpha * alpha):
        mm[i] = src[i * stride]
    for i in range(m):
        for j in range(alpha):
            acc = 0
            for a in range(alpha):
                acc = acc + at[i * alpha + a] * mm[a * alpha + j]
            e[i * alpha + j] = acc
    for i in range(m):
        if p0 + i >= P:
            break
        for j in range(m):
            if q0 + j >= Q:
                break
            acc = bias
            for a in range(alpha):
                acc = acc + e[i * alpha + a] * at[j * alpha + a]
            plane[(p0 + i) * Q + q0 + j] = <floating> acc


cdef inline void _block(const floating[:, :, :, ::1] z, const floating[:, :, ::1] U,
                 const floating[::1] b, floating[:, :, :, ::1] out,
                 const double* bt, const double* at, Py_ssize_t t0, Py_ssize_t t1,
                 floating* V, floating* M, Py_ssize_t pt, Py_ssize_t pl,
                 const int m, const int alpha) noexcept nogil:
    # One block of tiles t0 .. t1: input transform, alpha^2 GEMMs, output transform.
    cdef Py_ssize_t C = z.shape[1], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = out.shape[1], P = out.shape[2], Q = out.shape[3]
    cdef Py_ssize_t TQ = (Q + m - 1) // m, TP = (P + m - 1) // m
    cdef Py_ssize_t T = t1 - t0, A2 = alpha * alpha
    cdef Py_ssize_t c, k, j, t, n, tp, tq, xi
    for c in range(C):
        for j in range(T):
            t = t0 + j
            n = t // (TP * TQ)
            tp = (t // TQ) % TP
            tq = t % TQ
            _input_tile(&z[n, c, 0, 0], H, W, tp * m - pt, tq * m - pl, bt,
                        V + c * T + j, C * T, alpha)
    for xi in range(A2):
        gemm(False, False, <int> K, <int> T, <int> C, <floating> 1, &U[xi, 0, 0], <int> C,
             V + xi * C * T, <int> T, <floating> 0, M + xi * K * T, <int> T)
    for k in range(K):
        for j in range(T):
            t = t0 + j
            n = t // (TP * TQ)
            tp = (t // TQ) % TP
            tq = t % TQ
            _output_tile(M + k * T + j, K * T, at, b[k], &out[n, k, 0, 0], P, Q,
                         tp * m, tq * m, m, alpha)


def winograd_correlate(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                       const floating[:, :, ::1] U,      # IN  (alpha^2, K, C): G g G^T
                       const floating[::1] b,            # IN  (K,)
                       floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                       const double[:, ::1] BT,          # IN  (alpha, alpha)
                       const double[:, ::1] AT,          # IN  (m, alpha)
                       const long long[:, ::1] blocks,   # IN  (blocks, 2): t0, t1
                       floating[:, ::1] v_scratch,       # SCRATCH (threads, alpha^2 C T)
                       floating[:, ::1] m_scratch,       # SCRATCH (threads, alpha^2 K T)
                       Py_ssize_t pt, Py_ssize_t pl):
    """``out[n,k,p,q] = sum_{c,r,s} z[n,c,p+r-pt,q+s-pl] g[k,c,r,s] + b[k]`` (0 outside z) by F(m x m, 3 x 3)."""
    cdef int m = <int> AT.shape[0], alpha = <int> AT.shape[1]
    cdef int threads = <int> v_scratch.shape[0]
    cdef double bt[MAX_ALPHA * MAX_ALPHA]
    cdef double at[MAX_ALPHA * MAX_ALPHA]
    cdef Py_ssize_t i, j
    cdef int t
    for i in range(alpha):
        for j in range(alpha):
            bt[i * alpha + j] = BT[i, j]
    for i in range(m):
        for j in range(alpha):
            at[i * alpha + j] = AT[i, j]
    with nogil:
        for i in prange(blocks.shape[0], schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            # constant tile sizes, so that the compiler unrolls the small transforms
            if alpha == 4:
                _block(z, U, b, out, bt, at, blocks[i, 0], blocks[i, 1], &v_scratch[t, 0],
                       &m_scratch[t, 0], pt, pl, 2, 4)
            else:
                _block(z, U, b, out, bt, at, blocks[i, 0], blocks[i, 1], &v_scratch[t, 0],
                       &m_scratch[t, 0], pt, pl, 4, 6)
