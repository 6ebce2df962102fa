"""How a convolution is cut into blocks and tasks for the fast (GEMM) kernels.

The decomposition depends on the shapes and the dtype only, never on the
thread count, so the fast path gives bitwise the same result for any
``num_threads`` (see _kernels/conv_gemm.pyx).
"""
import math
from typing import NamedTuple

import numpy as np

__all__ = ["ConvPlan", "plan_conv", "plan_tiles", "fits_blas", "AUTO_GEMM_WORK"]

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
BLAS_INT_MAX = 2 ** 31 - 1


class ConvPlan(NamedTuple):
    """Blocks of output columns and the task partitions of the three equations."""

    blocks: np.ndarray      # (nblocks, 4) int64: n0, n1, pq0, pq1
    groups: np.ndarray      # (ngroups, 2) int64: block ranges of one sample group
    channels: np.ndarray    # (nchannel groups, 2) int64: c0, c1   (eq 7)
    rows: np.ndarray        # (nrow groups, 2) int64: rho0, rho1   (eq 5)
    spans: np.ndarray       # (G, 2) int64: block ranges of eq (5)'s partial sums
    max_cols: int           # widest block
    direct_cols: bool       # 1x1, stride 1, no padding: no im2col


# Below this many multiply-adds the literal kernel is as fast as the GEMM
# path (measured with benchmarks), and it is the reference.
AUTO_GEMM_WORK = 200_000


def fits_blas(*dims):
    """True when every BLAS dimension and leading dimension fits a 32-bit int."""
    return all(int(d) <= BLAS_INT_MAX for d in dims)


def _ranges(total, size):
    return np.array([(a, min(total, a + size)) for a in range(0, total, size)], dtype=np.int64)


def plan_conv(N, C, K, P, Q, R, S, stride, padding, itemsize):
    """The block plan of a convolution of the given geometry."""
    PQ, CRS = P * Q, C * R * S
    direct = R == S == 1 and tuple(stride) == (1, 1) and tuple(padding) == (0, 0)
    target = min(MAX_BLOCK, max(MIN_BLOCK, BLOCK_BYTES // (CRS * itemsize)))
    if PQ >= target or direct:
        chunks = math.ceil(PQ / target)
        size = math.ceil(PQ / chunks)
        blocks = [(n, n + 1, a, min(PQ, a + size)) for n in range(N) for a in range(0, PQ, size)]
        groups = [(n * chunks, (n + 1) * chunks) for n in range(N)]
        max_cols = size
    else:
        per_block = max(1, target // PQ)
        blocks = [(n, min(N, n + per_block), 0, PQ) for n in range(0, N, per_block)]
        groups = [(i, i + 1) for i in range(len(blocks))]
        max_cols = min(N, per_block) * PQ
    channel_groups = math.ceil(CRS / INPUT_ROWS)
    row_groups = math.ceil(CRS / FILTER_ROWS)
    return ConvPlan(np.array(blocks, dtype=np.int64), np.array(groups, dtype=np.int64),
                    _ranges(C, math.ceil(C / channel_groups)), _ranges(CRS, math.ceil(CRS / row_groups)),
                    _ranges(len(blocks), math.ceil(len(blocks) / PARTIALS)), max_cols, direct)


# Tiles of C for the affine products: big enough for efficient BLAS calls,
# small enough that a batch of 64 still splits across cores.
TILE = 256


def plan_tiles(M, N):
    """Fixed tiles (m0, m1, n0, n1) of an M x N product."""
    return np.array([(a, min(M, a + TILE), b, min(N, b + TILE))
                     for a in range(0, M, TILE) for b in range(0, N, TILE)], dtype=np.int64)
