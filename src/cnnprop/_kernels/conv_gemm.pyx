"""Fast convolution kernels: eqs (4g), (5g) and (7g) lowered to matrix products.

Design
------
The output positions of the whole batch form the columns of one long matrix
(column g is sample g // PQ, position g % PQ). They are cut into blocks of a
few hundred columns (``blocks[i] = n0, n1, pq0, pq1``: one chunk of one
sample, or several whole samples), small enough that a block's im2col
columns (C_g R S x B) stay in the L2 cache. Per block and group g (channels
g C_g .. (g+1) C_g, kernels g K_g .. (g+1) K_g):

- eq (4g): out_block[g] (K_g x B) = F[g] (K_g x C_g RS) @ cols[g] (C_g RS x B), then + b;
  when C_g RS x B would pass the scratch budget, the reduction dimension is
  cut into chunks of ``chunk_rows`` rows, accumulated with beta = 1;
- eq (7g): cols_grad (rows x B) = F[g]^T @ delta_block[g], then col2im adds
  cols_grad into the input delta (the scatter form of the window ranges);
- eq (5g): dF[g] (K_g x C_g RS) += delta_block[g] @ cols[g]^T, summed over the blocks.

im2col reads z[n, c, p*u + r*dh - pt, q*v + s*dw - pl] (dilation and the
top/left paddings; the bottom/right paddings only set P and Q) and stores 0
in the padding: those zeros are multiplied like any input (a non-finite
weight facing the padding gives NaN, the rule of docs/conventions.md).

Parallelism is over tasks that own disjoint outputs (blocks for eq (4g);
sample groups x channel ranges (inside one group) for eq (7g); partial sums x
groups x row ranges of dF for eq (5g)), each calling single-threaded BLAS
(the caller limits BLAS to one thread). The decomposition depends on the
shapes only, never on the thread count, and every sum runs in a fixed order:
results are bitwise identical for any num_threads. Sums run in the data type
(BLAS accumulates in it).

1x1 kernels with stride 1 and no padding need no im2col: the columns of a
sample are its input planes (``direct_cols``); the plan then keeps blocks
inside one sample.

The caller (cnnprop.conv) validates everything and sizes the per-thread
scratch rows; these kernels run without bounds checks.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from ._blas cimport gemm
from ._index cimport tap_first, tap_stop
from ._openmp cimport omp_get_thread_num


cdef void _im2col(const floating[:, :, :, ::1] z,
                  Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t pq0, Py_ssize_t pq1,
                  Py_ssize_t row0, Py_ssize_t row1, floating* cols,
                  Py_ssize_t R, Py_ssize_t S, Py_ssize_t P, Py_ssize_t Q,
                  Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                  Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # cols[rho - row0, j] = z[n, c, p*u + r*dh - ph, q*v + s*dw - pw] (0 in the
    # padding) for rho = (c, r, s) in [row0, row1) and the block's columns j.
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t ncols = (n1 - n0) * (pq1 - pq0)
    cdef Py_ssize_t rho, c, r, s, n, pq, p, q, q_end, q_lo, q_hi, a, e, h, j, qq
    cdef floating* dst
    cdef const floating* src
    for rho in range(row0, row1):
        c = rho // (R * S)
        r = (rho // S) % R
        s = rho % S
        q_lo = tap_first(s * dw, v, pw)
        q_hi = tap_stop(s * dw, W, Q, v, pw)
        dst = cols + (rho - row0) * ncols
        j = 0
        for n in range(n0, n1):
            pq = pq0
            while pq < pq1:
                p = pq // Q
                q = pq % Q
                q_end = min(Q, q + pq1 - pq)       # this output row's columns in the block
                h = p * u + r * dh - ph
                if h < 0 or h >= H:
                    memset(dst + j, 0, (q_end - q) * sizeof(floating))
                else:
                    a = max(q, q_lo)
                    e = max(a, min(q_end, q_hi))
                    if a > q:
                        memset(dst + j, 0, (a - q) * sizeof(floating))
                    src = &z[n, c, h, 0] + s * dw - pw
                    if v == 1:
                        # a contiguous run of the input row
                        memcpy(dst + j + a - q, src + a, (e - a) * sizeof(floating))
                    elif v == 2:
                        # the commonest stride as a constant: the compiler vectorises
                        # the gather (every other element) with shuffles
                        for qq in range(a, e):
                            dst[j + qq - q] = src[qq * 2]
                    else:
                        for qq in range(a, e):
                            dst[j + qq - q] = src[qq * v]
                    if q_end > e:
                        memset(dst + j + e - q, 0, (q_end - e) * sizeof(floating))
                j += q_end - q
                pq += q_end - q


cdef void _col2im_add(const floating* cols, floating[:, :, :, ::1] dz,
                      Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t pq0, Py_ssize_t pq1,
                      Py_ssize_t row0, Py_ssize_t row1,
                      Py_ssize_t R, Py_ssize_t S, Py_ssize_t P, Py_ssize_t Q,
                      Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                      Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # The adjoint of _im2col: dz[n, c, h, w] += cols[rho - row0, j] for every
    # column j whose window puts tap (r, s) of row rho on (h, w).
    cdef Py_ssize_t H = dz.shape[2], W = dz.shape[3]
    cdef Py_ssize_t ncols = (n1 - n0) * (pq1 - pq0)
    cdef Py_ssize_t rho, c, r, s, n, pq, p, q, q_end, q_lo, q_hi, a, e, h, j, qq
    cdef const floating* src
    cdef floating* dst
    for rho in range(row0, row1):
        c = rho // (R * S)
        r = (rho // S) % R
        s = rho % S
        q_lo = tap_first(s * dw, v, pw)
        q_hi = tap_stop(s * dw, W, Q, v, pw)
        src = cols + (rho - row0) * ncols
        j = 0
        for n in range(n0, n1):
            pq = pq0
            while pq < pq1:
                p = pq // Q
                q = pq % Q
                q_end = min(Q, q + pq1 - pq)
                h = p * u + r * dh - ph
                if 0 <= h < H:
                    a = max(q, q_lo)
                    e = max(a, min(q_end, q_hi))
                    dst = &dz[n, c, h, 0] + s * dw - pw
                    for qq in range(a, e):
                        dst[qq * v] += src[j + qq - q]
                j += q_end - q
                pq += q_end - q


cdef const floating* _delta_block(const floating[:, :, :, ::1] delta,
                                  Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t pq0, Py_ssize_t pq1,
                                  Py_ssize_t k0, Py_ssize_t k1,
                                  floating* scratch) noexcept nogil:
    # The (k1 - k0) x B delta of a block, rows k0..k1: a view into delta (row
    # stride PQ) when the block is one sample, else gathered sample after
    # sample into scratch (row stride B). The caller sets the stride: see _delta_ld.
    cdef Py_ssize_t PQ = delta.shape[2] * delta.shape[3]
    cdef Py_ssize_t k, n, i, ncols = (n1 - n0) * (pq1 - pq0)
    cdef const floating* src
    if n1 - n0 == 1:
        return &delta[n0, k0, 0, 0] + pq0
    for k in range(k0, k1):
        for n in range(n0, n1):
            src = &delta[n, k, 0, 0]
            for i in range(PQ):
                scratch[(k - k0) * ncols + (n - n0) * PQ + i] = src[i]
    return scratch


cdef inline int _delta_ld(Py_ssize_t PQ, Py_ssize_t n0, Py_ssize_t n1, int ncols) noexcept nogil:
    # Row stride of _delta_block's result. Returned, not written through a
    # pointer: a prange body must assign its per-thread variables itself,
    # or Cython shares them between threads.
    return <int> PQ if n1 - n0 == 1 else ncols


def conv2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                   const floating[:, :, :, ::1] f,   # IN  (K, C/G, R, S)
                   const floating[::1] b,            # IN  (K,)
                   floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                   const long long[:, ::1] blocks,   # IN  (blocks, 4): n0, n1, pq0, pq1
                   floating[:, ::1] cols_scratch,    # SCRATCH (threads, chunk_rows * B)
                   floating[:, ::1] out_scratch,     # SCRATCH (threads, K * B)
                   Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                   Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                   bint direct_cols, Py_ssize_t chunk_rows):
    """Eq (4g) as out_block = F[g] @ im2col(z)_block[g] + b, one block a task."""
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = f.shape[0], Cg = f.shape[1], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = out.shape[2], Q = out.shape[3], PQ = P * Q
    cdef Py_ssize_t Kg = K // groups
    cdef int CRS = <int> (Cg * R * S)
    cdef int threads = <int> cols_scratch.shape[0]
    cdef Py_ssize_t i, n, n0, n1, pq0, pq1, k, j, g, a0, a1, base
    cdef int ncols, ldb, ldc
    cdef const floating* bmat
    cdef floating* cmat
    cdef floating* dst
    cdef int t
    with nogil:
        for i in prange(blocks.shape[0], schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            n0, n1, pq0, pq1 = blocks[i, 0], blocks[i, 1], blocks[i, 2], blocks[i, 3]
            ncols = <int> ((n1 - n0) * (pq1 - pq0))
            if n1 - n0 == 1:
                # one sample: the product lands in place, then the bias
                cmat = &out[n0, 0, 0, 0] + pq0
                ldc = <int> PQ
            else:
                cmat = &out_scratch[t, 0]
                ldc = ncols
            for g in range(groups):
                base = g * CRS                    # first im2col row of the group
                a0 = 0
                while a0 < CRS:
                    # one chunk of the reduction dimension (all of it unless
                    # the scratch budget cuts it)
                    a1 = min(CRS, a0 + chunk_rows)
                    if direct_cols:
                        bmat = &z[n0, g * Cg, 0, 0] + pq0 + a0 * H * W
                        ldb = <int> (H * W)
                    else:
                        _im2col(z, n0, n1, pq0, pq1, base + a0, base + a1, &cols_scratch[t, 0],
                                R, S, P, Q, u, v, dh, dw, ph, pw)
                        bmat = &cols_scratch[t, 0]
                        ldb = ncols
                    gemm(False, False, <int> Kg, ncols, <int> (a1 - a0), <floating> 1,
                         &f[g * Kg, 0, 0, 0] + a0, CRS, bmat, ldb,
                         <floating> (0 if a0 == 0 else 1), cmat + g * Kg * ldc, ldc)
                    a0 = a1
            if n1 - n0 == 1:
                for k in range(K):
                    dst = cmat + k * PQ
                    for j in range(ncols):
                        dst[j] = dst[j] + b[k]
            else:
                for n in range(n0, n1):
                    for k in range(K):
                        dst = &out[n, k, 0, 0]
                        for j in range(PQ):
                            dst[j] = cmat[k * ncols + (n - n0) * PQ + j] + b[k]


def conv2d_backward_input(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                          const floating[:, :, :, ::1] f,      # IN  (K, C/G, R, S)
                          floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                          const long long[:, ::1] blocks,      # IN  (blocks, 4)
                          const long long[:, ::1] groups_,     # IN  (sample groups, 2): block ranges
                          const long long[:, ::1] channels,    # IN  (channel ranges, 2): c0, c1 (inside one group)
                          floating[:, ::1] cols_scratch,       # SCRATCH (threads, rows * B)
                          floating[:, ::1] delta_scratch,      # SCRATCH (threads, K_g * B)
                          Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                          Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                          bint direct_cols):
    """Eq (7g) as col2im(F[g]^T @ delta_block[g]), one (sample group, channel range) a task."""
    cdef Py_ssize_t C = dz.shape[1], H = dz.shape[2], W = dz.shape[3]
    cdef Py_ssize_t K = f.shape[0], Cg = f.shape[1], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t Kg = K // groups
    cdef Py_ssize_t CRS = Cg * R * S, RS = R * S
    cdef Py_ssize_t ncg = channels.shape[0]
    cdef int threads = <int> cols_scratch.shape[0]
    cdef Py_ssize_t task, sg, bi, n, n0, n1, pq0, pq1, c0, c1, g
    cdef int ncols, nrows, ld_delta
    cdef const floating* dmat
    cdef int t
    with nogil:
        for task in prange(groups_.shape[0] * ncg, schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            sg = task // ncg
            c0 = channels[task % ncg, 0]
            c1 = channels[task % ncg, 1]
            g = c0 // Cg
            nrows = <int> ((c1 - c0) * RS)
            if not direct_cols:
                # col2im accumulates: start from zero (direct_cols overwrites)
                for bi in range(groups_[sg, 0], groups_[sg, 1]):
                    if blocks[bi, 2] == 0:                       # first chunk of its samples
                        for n in range(blocks[bi, 0], blocks[bi, 1]):
                            memset(&dz[n, c0, 0, 0], 0, (c1 - c0) * H * W * sizeof(floating))
            for bi in range(groups_[sg, 0], groups_[sg, 1]):
                n0, n1, pq0, pq1 = blocks[bi, 0], blocks[bi, 1], blocks[bi, 2], blocks[bi, 3]
                ncols = <int> ((n1 - n0) * (pq1 - pq0))
                dmat = _delta_block(delta, n0, n1, pq0, pq1, g * Kg, (g + 1) * Kg,
                                    &delta_scratch[t, 0])
                ld_delta = _delta_ld(P * Q, n0, n1, ncols)
                if direct_cols:
                    gemm(True, False, nrows, ncols, <int> Kg, <floating> 1,
                         &f[g * Kg, 0, 0, 0] + (c0 - g * Cg) * RS,
                         <int> CRS, dmat, ld_delta, <floating> 0, &dz[n0, c0, 0, 0] + pq0, <int> (H * W))
                else:
                    gemm(True, False, nrows, ncols, <int> Kg, <floating> 1,
                         &f[g * Kg, 0, 0, 0] + (c0 - g * Cg) * RS,
                         <int> CRS, dmat, ld_delta, <floating> 0, &cols_scratch[t, 0], ncols)
                    _col2im_add(&cols_scratch[t, 0], dz, n0, n1, pq0, pq1, c0 * RS, c1 * RS,
                                R, S, P, Q, u, v, dh, dw, ph, pw)


def conv2d_backward_filter(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                           const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                           floating[:, :, :, ::1] df,           # OUT (K, C/G, R, S)
                           const long long[:, ::1] blocks,      # IN  (blocks, 4)
                           const long long[:, ::1] spans,       # IN  (Gp, 2): block ranges of the partial sums
                           const long long[:, ::1] rows,        # IN  (row ranges, 2): rho0, rho1 of dF[g]
                           floating[:, ::1] partials,           # SCRATCH (Gp, K * C_g RS); df itself when Gp = 1
                           floating[:, ::1] cols_scratch,       # SCRATCH (threads, rows * B)
                           floating[:, ::1] delta_scratch,      # SCRATCH (threads, K_g * B)
                           Py_ssize_t u, Py_ssize_t v, Py_ssize_t dh, Py_ssize_t dw,
                           Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t groups,
                           bint direct_cols, double divisor):
    """Eq (5g) as dF[g] = sum over blocks of delta_block[g] @ im2col(z)_block[g]^T / divisor.

    The blocks are summed in Gp partial sums over fixed block ranges (tasks:
    partial sum x group x row range of dF[g]), then the partials are added in order.
    """
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = df.shape[0], Cg = df.shape[1], R = df.shape[2], S = df.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t Kg = K // groups
    cdef Py_ssize_t CRS = Cg * R * S, Gp = spans.shape[0], nrg = rows.shape[0]
    cdef int threads = <int> cols_scratch.shape[0]
    cdef Py_ssize_t task, sp, g, rg, bi, n0, n1, pq0, pq1, r0, r1, e
    cdef int ncols, ld_delta, ld_cols
    cdef const floating* dmat
    cdef const floating* cmat
    cdef floating* dst
    cdef double acc
    cdef int t
    with nogil:
        for task in prange(Gp * groups * nrg, schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            sp = task // (groups * nrg)
            g = (task // nrg) % groups
            rg = task % nrg
            r0 = rows[rg, 0]
            r1 = rows[rg, 1]
            for bi in range(spans[sp, 0], spans[sp, 1]):
                n0, n1, pq0, pq1 = blocks[bi, 0], blocks[bi, 1], blocks[bi, 2], blocks[bi, 3]
                ncols = <int> ((n1 - n0) * (pq1 - pq0))
                dmat = _delta_block(delta, n0, n1, pq0, pq1, g * Kg, (g + 1) * Kg,
                                    &delta_scratch[t, 0])
                ld_delta = _delta_ld(P * Q, n0, n1, ncols)
                if direct_cols:
                    cmat = &z[n0, 0, 0, 0] + (g * CRS + r0) * H * W + pq0
                    ld_cols = <int> (H * W)
                else:
                    _im2col(z, n0, n1, pq0, pq1, g * CRS + r0, g * CRS + r1, &cols_scratch[t, 0],
                            R, S, P, Q, u, v, dh, dw, ph, pw)
                    cmat = &cols_scratch[t, 0]
                    ld_cols = ncols
                gemm(False, True, <int> Kg, <int> (r1 - r0), ncols, <floating> 1, dmat, ld_delta,
                     cmat, ld_cols, <floating> (0 if bi == spans[sp, 0] else 1),
                     &partials[sp, 0] + g * Kg * CRS + r0, <int> CRS)
        dst = &df[0, 0, 0, 0]
        for e in prange(K * CRS, schedule="static", num_threads=threads):
            acc = partials[0, e]
            for sp in range(1, Gp):
                acc = acc + partials[sp, e]
            dst[e] = <floating> (acc / divisor)
