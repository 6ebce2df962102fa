"""How a convolution is cut into blocks and tasks for the fast (GEMM) kernels.

The decomposition depends on the shapes and the dtype only, never on the
thread count, so the fast path gives bitwise the same result for any
``num_threads`` (see _kernels/conv_gemm.pyx).

Scratch budget (issue 9, defect 4): a fast-path call takes at most about
``threads * SCRATCH_BYTES`` of im2col columns (the reduction dimension
C_g R S of eq (4g) is cut into chunks when a block's columns would pass it),
plus the per-thread K x B delta/output blocks, plus for eq (5g) ``PARTIALS``
copies of dF while dF is small (at most ``PARTIAL_BYTES`` for all copies),
else none (the blocks are then summed into dF directly, in one fixed order).
"""
import math
from typing import NamedTuple

import numpy as np

__all__ = ["ConvPlan", "plan_conv", "plan_tiles", "fits_blas", "AUTO_GEMM_WORK",
           "SCRATCH_BYTES", "PARTIAL_BYTES"]

# Bytes of im2col columns a block may take: the L2 cache of one core here
# (1 MB), so that the columns BLAS packs are still in cache. Measured on the
# benchmark layers: 256 KB to 2 MB are within 10%, 1 MB the best.
BLOCK_BYTES = 1024 * 1024
MIN_BLOCK, MAX_BLOCK = 64, 4096
# Rows of F^T a task of the input delta computes (eq (7)); rows of dF a task
# of eq (5) computes, and the number of partial sums eq (5) splits the
# blocks into (its extra memory: PARTIALS copies of dF).
INPUT_ROWS = 256
FILTER_ROWS = 256
PARTIALS = 4
# The im2col columns of one thread never pass this (eq (4g) chunks its
# reduction dimension beyond it; eqs (5g), (7g) are cut into row ranges of
# at most a few hundred rows already).
SCRATCH_BYTES = 16 * 1024 * 1024
# The partial sums of eq (5g) together never pass this: beyond it, one partial
# (dF itself).
PARTIAL_BYTES = 64 * 1024 * 1024
BLAS_INT_MAX = 2 ** 31 - 1


class ConvPlan(NamedTuple):
    """Blocks of output columns and the task partitions of the three equations."""

    blocks: np.ndarray      # (nblocks, 4) int64: n0, n1, pq0, pq1
    groups: np.ndarray      # (ngroups, 2) int64: block ranges of one sample group
    channels: np.ndarray    # (nchannel ranges, 2) int64: c0, c1, each inside one conv group (eq 7)
    rows: np.ndarray        # (nrow ranges, 2) int64: rho0, rho1 of one group's C_g R S (eq 5)
    spans: np.ndarray       # (Gp, 2) int64: block ranges of eq (5)'s partial sums
    max_cols: int           # widest block
    direct_cols: bool       # 1x1, stride 1, no padding: no im2col
    chunk_rows: int         # rows of eq (4)'s reduction dimension per im2col chunk


# Below this many multiply-adds the literal kernel is as fast as the GEMM
# path (measured with benchmarks), and it is the reference.
AUTO_GEMM_WORK = 200_000


def fits_blas(*dims):
    """True when every BLAS dimension and leading dimension fits a 32-bit int."""
    return all(int(d) <= BLAS_INT_MAX for d in dims)


def _ranges(total, size, offset=0):
    return [(offset + a, offset + min(total, a + size)) for a in range(0, total, size)]


def plan_conv(N, C, K, P, Q, R, S, stride, padding, itemsize, groups=1, output_elems=None):
    """The block plan of a convolution of the given geometry.

    ``C`` and ``K`` are the total channel counts; a group has ``C // groups``
    input channels. ``padding`` is any tuple of paddings (all zero for
    ``direct_cols``). With ``groups=1`` the plan is the source kernels' plan.
    """
    Cg = C // groups
    PQ, CRS = P * Q, Cg * R * S
    direct = R == S == 1 and tuple(stride) == (1, 1) and not any(padding)
    target = min(MAX_BLOCK, max(MIN_BLOCK, BLOCK_BYTES // (CRS * itemsize)))
    if PQ >= target or direct:
        chunks = math.ceil(PQ / target)
        size = math.ceil(PQ / chunks)
        blocks = [(n, n + 1, a, min(PQ, a + size)) for n in range(N) for a in range(0, PQ, size)]
        groups_ = [(n * chunks, (n + 1) * chunks) for n in range(N)]
        max_cols = size
    else:
        per_block = max(1, target // PQ)
        blocks = [(n, min(N, n + per_block), 0, PQ) for n in range(0, N, per_block)]
        groups_ = [(i, i + 1) for i in range(len(blocks))]
        max_cols = min(N, per_block) * PQ
    channel_chunks = math.ceil(CRS / INPUT_ROWS)
    channels = []
    for g in range(groups):
        channels += _ranges(Cg, math.ceil(Cg / channel_chunks), g * Cg)
    row_groups = math.ceil(CRS / FILTER_ROWS)
    partials = PARTIALS if PARTIALS * K * CRS * itemsize <= PARTIAL_BYTES else 1
    chunk_rows = max(1, SCRATCH_BYTES // (max(1, max_cols) * itemsize))
    return ConvPlan(np.array(blocks, dtype=np.int64).reshape(-1, 4),
                    np.array(groups_, dtype=np.int64).reshape(-1, 2),
                    np.array(channels, dtype=np.int64),
                    np.array(_ranges(CRS, math.ceil(CRS / row_groups)), dtype=np.int64),
                    np.array(_ranges(len(blocks), max(1, math.ceil(len(blocks) / partials))),
                             dtype=np.int64).reshape(-1, 2),
                    max_cols, direct, int(min(CRS, chunk_rows)))


# Tiles of C for the affine products: big enough for efficient BLAS calls,
# small enough that a batch of 64 still splits across cores.
TILE = 256


def plan_tiles(M, N):
    """Fixed tiles (m0, m1, n0, n1) of an M x N product."""
    return np.array([(a, min(M, a + TILE), b, min(N, b + TILE))
                     for a in range(0, M, TILE) for b in range(0, N, TILE)], dtype=np.int64)
