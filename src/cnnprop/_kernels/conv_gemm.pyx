"""Fast convolution kernels: eqs (4), (5) and (7) lowered to matrix products.

Design
------
The output positions of the whole batch form the columns of one long matrix
(column g is sample g // PQ, position g % PQ). They are cut into blocks of a
few hundred columns (``blocks[i] = n0, n1, pq0, pq1``: one chunk of one
sample, or several whole samples), small enough that a block's im2col
columns (CRS x B) stay in the L2 cache. Per block:

- eq (4): out_block (K x B) = F (K x CRS) @ cols (CRS x B), then + b;
- eq (7): cols_grad (CRS x B) = F^T @ delta_block (K x B), then col2im adds
  cols_grad into the input delta (the scatter form of the window ranges);
- eq (5): dF (K x CRS) += delta_block @ cols^T, summed over the blocks.

Parallelism is over tasks that own disjoint outputs (blocks for eq (4);
sample groups x channel groups for eq (7); row groups of dF for eq (5)),
each calling single-threaded BLAS (the caller limits BLAS to one thread).
The decomposition depends on the shapes only, never on the thread count,
and every sum runs in a fixed order: results are bitwise identical for any
num_threads. Sums run in the data type (BLAS accumulates in it).

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
                  Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    # cols[rho - row0, j] = z[n, c, p*u + r - ph, q*v + s - pw] (0 in the
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
        q_lo = tap_first(s, v, pw)
        q_hi = tap_stop(s, W, Q, v, pw)
        dst = cols + (rho - row0) * ncols
        j = 0
        for n in range(n0, n1):
            pq = pq0
            while pq < pq1:
                p = pq // Q
                q = pq % Q
                q_end = min(Q, q + pq1 - pq)       # this output row's columns in the block
                h = p * u + r - ph
                if h < 0 or h >= H:
                    memset(dst + j, 0, (q_end - q) * sizeof(floating))
                else:
                    a = max(q, q_lo)
                    e = max(a, min(q_end, q_hi))
                    if a > q:
                        memset(dst + j, 0, (a - q) * sizeof(floating))
                    src = &z[n, c, h, 0] + s - pw
                    if v == 1:
                        # a contiguous run of the input row
                        memcpy(dst + j + a - q, src + a, (e - a) * sizeof(floating))
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
                      Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
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
        q_lo = tap_first(s, v, pw)
        q_hi = tap_stop(s, W, Q, v, pw)
        src = cols + (rho - row0) * ncols
        j = 0
        for n in range(n0, n1):
            pq = pq0
            while pq < pq1:
                p = pq // Q
                q = pq % Q
                q_end = min(Q, q + pq1 - pq)
                h = p * u + r - ph
                if 0 <= h < H:
                    a = max(q, q_lo)
                    e = max(a, min(q_end, q_hi))
                    dst = &dz[n, c, h, 0] + s - pw
                    for qq in range(a, e):
                        dst[qq * v] += src[j + qq - q]
                j += q_end - q
                pq += q_end - q


cdef const floating* _delta_block(const floating[:, :, :, ::1] delta,
                                  Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t pq0, Py_ssize_t pq1,
                                  floating* scratch) noexcept nogil:
    # The K x B delta of a block: a view into delta (row stride PQ) when the
    # block is one sample, else gathered sample after sample into scratch
    # (row stride B). The caller sets the stride: see _delta_ld.
    cdef Py_ssize_t K = delta.shape[1], PQ = delta.shape[2] * delta.shape[3]
    cdef Py_ssize_t k, n, i, ncols = (n1 - n0) * (pq1 - pq0)
    cdef const floating* src
    if n1 - n0 == 1:
        return &delta[n0, 0, 0, 0] + pq0
    for k in range(K):
        for n in range(n0, n1):
            src = &delta[n, k, 0, 0]
            for i in range(PQ):
                scratch[k * ncols + (n - n0) * PQ + i] = src[i]
    return scratch


cdef inline int _delta_ld(Py_ssize_t PQ, Py_ssize_t n0, Py_ssize_t n1, int ncols) noexcept nogil:
    # Row stride of _delta_block's result. Returned, not written through a
    # pointer: a prange body must assign its per-thread variables itself,
    # or Cython shares them between threads.
    return <int> PQ if n1 - n0 == 1 else ncols


def conv2d_forward(const floating[:, :, :, ::1] z,   # IN  (N, C, H, W)
                   const floating[:, :, :, ::1] f,   # IN  (K, C, R, S)
                   const floating[::1] b,            # IN  (K,)
                   floating[:, :, :, ::1] out,       # OUT (N, K, P, Q)
                   const long long[:, ::1] blocks,   # IN  (blocks, 4): n0, n1, pq0, pq1
                   floating[:, ::1] cols_scratch,    # SCRATCH (threads, CRS * B)
                   floating[:, ::1] out_scratch,     # SCRATCH (threads, K * B)
                   Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                   bint direct_cols):
    """Eq (4) as out_block = F @ im2col(z)_block + b, one block a task."""
    cdef Py_ssize_t C = z.shape[1], H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = f.shape[0], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = out.shape[2], Q = out.shape[3], PQ = P * Q
    cdef int CRS = <int> (C * R * S)
    cdef int threads = <int> cols_scratch.shape[0]
    cdef Py_ssize_t i, n, n0, n1, pq0, pq1, k, j
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
            if direct_cols:
                bmat = &z[n0, 0, 0, 0] + pq0
                ldb = <int> (H * W)
            else:
                _im2col(z, n0, n1, pq0, pq1, 0, CRS, &cols_scratch[t, 0], R, S, P, Q, u, v, ph, pw)
                bmat = &cols_scratch[t, 0]
                ldb = ncols
            if n1 - n0 == 1:
                # one sample: the product lands in place, then the bias
                cmat = &out[n0, 0, 0, 0] + pq0
                gemm(False, False, <int> K, ncols, CRS, <floating> 1, &f[0, 0, 0, 0], CRS,
                     bmat, ldb, <floating> 0, cmat, <int> PQ)
                for k in range(K):
                    dst = cmat + k * PQ
                    for j in range(ncols):
                        dst[j] = dst[j] + b[k]
            else:
                cmat = &out_scratch[t, 0]
                gemm(False, False, <int> K, ncols, CRS, <floating> 1, &f[0, 0, 0, 0], CRS,
                     bmat, ldb, <floating> 0, cmat, ncols)
                for n in range(n0, n1):
                    for k in range(K):
                        dst = &out[n, k, 0, 0]
                        for j in range(PQ):
                            dst[j] = cmat[k * ncols + (n - n0) * PQ + j] + b[k]


def conv2d_backward_input(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                          const floating[:, :, :, ::1] f,      # IN  (K, C, R, S)
                          floating[:, :, :, ::1] dz,           # OUT (N, C, H, W)
                          const long long[:, ::1] blocks,      # IN  (blocks, 4)
                          const long long[:, ::1] groups,      # IN  (groups, 2): block ranges of one sample group
                          const long long[:, ::1] channels,    # IN  (channel groups, 2): c0, c1
                          floating[:, ::1] cols_scratch,       # SCRATCH (threads, rows * B)
                          floating[:, ::1] delta_scratch,      # SCRATCH (threads, K * B)
                          Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                          bint direct_cols):
    """Eqs (7)-(9) as col2im(F^T @ delta_block), one (sample group, channel group) a task."""
    cdef Py_ssize_t C = dz.shape[1], H = dz.shape[2], W = dz.shape[3]
    cdef Py_ssize_t K = f.shape[0], R = f.shape[2], S = f.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t CRS = C * R * S, RS = R * S
    cdef Py_ssize_t ncg = channels.shape[0]
    cdef int threads = <int> cols_scratch.shape[0]
    cdef Py_ssize_t task, g, bi, n, n0, n1, pq0, pq1, c0, c1
    cdef int ncols, nrows, ld_delta
    cdef const floating* dmat
    cdef int t
    with nogil:
        for task in prange(groups.shape[0] * ncg, schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            g = task // ncg
            c0 = channels[task % ncg, 0]
            c1 = channels[task % ncg, 1]
            nrows = <int> ((c1 - c0) * RS)
            if not direct_cols:
                # col2im accumulates: start from zero (direct_cols overwrites)
                for bi in range(groups[g, 0], groups[g, 1]):
                    if blocks[bi, 2] == 0:                       # first chunk of its samples
                        for n in range(blocks[bi, 0], blocks[bi, 1]):
                            memset(&dz[n, c0, 0, 0], 0, (c1 - c0) * H * W * sizeof(floating))
            for bi in range(groups[g, 0], groups[g, 1]):
                n0, n1, pq0, pq1 = blocks[bi, 0], blocks[bi, 1], blocks[bi, 2], blocks[bi, 3]
                ncols = <int> ((n1 - n0) * (pq1 - pq0))
                dmat = _delta_block(delta, n0, n1, pq0, pq1, &delta_scratch[t, 0])
                ld_delta = _delta_ld(P * Q, n0, n1, ncols)
                if direct_cols:
                    gemm(True, False, nrows, ncols, <int> K, <floating> 1, &f[0, 0, 0, 0] + c0 * RS,
                         <int> CRS, dmat, ld_delta, <floating> 0, &dz[n0, c0, 0, 0] + pq0, <int> (H * W))
                else:
                    gemm(True, False, nrows, ncols, <int> K, <floating> 1, &f[0, 0, 0, 0] + c0 * RS,
                         <int> CRS, dmat, ld_delta, <floating> 0, &cols_scratch[t, 0], ncols)
                    _col2im_add(&cols_scratch[t, 0], dz, n0, n1, pq0, pq1, c0 * RS, c1 * RS,
                                R, S, P, Q, u, v, ph, pw)


def conv2d_backward_filter(const floating[:, :, :, ::1] delta,  # IN  (N, K, P, Q)
                           const floating[:, :, :, ::1] z,      # IN  (N, C, H, W)
                           floating[:, :, :, ::1] df,           # OUT (K, C, R, S)
                           const long long[:, ::1] blocks,      # IN  (blocks, 4)
                           const long long[:, ::1] spans,       # IN  (G, 2): block ranges of the partial sums
                           const long long[:, ::1] rows,        # IN  (row groups, 2): rho0, rho1 of dF
                           floating[:, ::1] partials,           # SCRATCH (G, K * CRS)
                           floating[:, ::1] cols_scratch,       # SCRATCH (threads, rows * B)
                           floating[:, ::1] delta_scratch,      # SCRATCH (threads, K * B)
                           Py_ssize_t u, Py_ssize_t v, Py_ssize_t ph, Py_ssize_t pw,
                           bint direct_cols, double divisor):
    """Eq (5) as dF = sum over blocks of delta_block @ im2col(z)_block^T / divisor.

    The blocks are summed in G partial sums over fixed block ranges (tasks:
    partial sum x row group of dF), then the partials are added in order.
    """
    cdef Py_ssize_t H = z.shape[2], W = z.shape[3]
    cdef Py_ssize_t K = df.shape[0], C = df.shape[1], R = df.shape[2], S = df.shape[3]
    cdef Py_ssize_t P = delta.shape[2], Q = delta.shape[3]
    cdef Py_ssize_t CRS = C * R * S, G = spans.shape[0], nrg = rows.shape[0]
    cdef int threads = <int> cols_scratch.shape[0]
    cdef Py_ssize_t task, g, bi, n0, n1, pq0, pq1, r0, r1, e
    cdef int ncols, ld_delta, ld_cols
    cdef const floating* dmat
    cdef const floating* cmat
    cdef floating* dst
    cdef double acc
    cdef int t
    with nogil:
        for task in prange(G * nrg, schedule="dynamic", num_threads=threads):
            t = omp_get_thread_num()
            g = task // nrg
            r0 = rows[task % nrg, 0]
            r1 = rows[task % nrg, 1]
            for bi in range(spans[g, 0], spans[g, 1]):
                n0, n1, pq0, pq1 = blocks[bi, 0], blocks[bi, 1], blocks[bi, 2], blocks[bi, 3]
                ncols = <int> ((n1 - n0) * (pq1 - pq0))
                dmat = _delta_block(delta, n0, n1, pq0, pq1, &delta_scratch[t, 0])
                ld_delta = _delta_ld(P * Q, n0, n1, ncols)
                if direct_cols:
                    cmat = &z[n0, 0, 0, 0] + r0 * H * W + pq0
                    ld_cols = <int> (H * W)
                else:
                    _im2col(z, n0, n1, pq0, pq1, r0, r1, &cols_scratch[t, 0], R, S, P, Q, u, v, ph, pw)
                    cmat = &cols_scratch[t, 0]
                    ld_cols = ncols
                gemm(False, True, <int> K, <int> (r1 - r0), ncols, <floating> 1, dmat, ld_delta,
                     cmat, ld_cols, <floating> (0 if bi == spans[g, 0] else 1),
                     &partials[g, 0] + r0, <int> CRS)
        dst = &df[0, 0, 0, 0]
        for e in prange(K * CRS, schedule="static", num_threads=threads):
            acc = partials[0, e]
            for g in range(1, G):
                acc = acc + partials[g, e]
            dst[e] = <floating> (acc / divisor)
