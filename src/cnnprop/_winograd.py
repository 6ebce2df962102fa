"""Winograd minimal filtering for 3x3 stride-1 convolutions (``algorithm="winograd"``).

F(m x m, 3 x 3) computes an m x m tile of outputs from an (m + 2) x (m + 2)
input tile with ``(m + 2)**2`` multiplications a channel pair instead of
``9 m**2`` (Lavin and Gray, CVPR 2016):

    y = A^T [ sum_c (G g_c G^T) . (B^T d_c B) ] A                       (W1)

(``.`` the element-wise product). Eq (4g) with stride 1, dilation 1, one
group and a 3x3 kernel is (W1) over the output tiles; the input delta of
such a layer, eq (7g), is the same correlation of the delta with the
rotated, channel-transposed kernel ``f'[c, k, r, s] = f[k, c, 2 - r, 2 - s]``
and the paddings ``2 - p_t``, ``2 - p_l`` (negative: a crop):

    dz[n,c,h,w] = sum_{k,r,s} delta[n,k,h+r-(2-p_t),w+s-(2-p_l)] f'[c,k,r,s]  (W2)

The sum over the channels of (W1) is one GEMM a transform point over a
block of tiles (_kernels/conv_winograd.pyx). m = 2 (F(2x2,3x3), 16 points)
and m = 4 (F(4x4,3x3), 36 points); see :func:`tile_size` for the choice and
docs/winograd.md for the error bound and the measurements behind it.
"""
import math
from fractions import Fraction

import numpy as np

from ._algorithm import current_algorithm
from ._blas_threads import controller as blas_threads
from ._gemm_plan import SCRATCH_BYTES, fits_blas
from ._kernels import conv_winograd
from ._threads import resolve_num_threads

__all__ = ["transforms", "supported", "reason_unsupported", "tile_size", "correlate",
           "forward", "backward_input", "wants", "TILES"]

TILES = (2, 4)

# Lavin and Gray's matrices (Toom-Cook with the points 0, 1, -1 (m = 2) and
# 0, +-1, +-2 (m = 4) plus infinity): small symmetric points keep the entries,
# and the rounding error they amplify, small. Exact fractions; tests/test_winograd.py
# checks that (W1) reproduces the correlation exactly.
_F = Fraction
_EXACT = {
    2: ([[1, 1, 1, 0],
         [0, 1, -1, -1]],
        [[1, 0, 0],
         [_F(1, 2), _F(1, 2), _F(1, 2)],
         [_F(1, 2), _F(-1, 2), _F(1, 2)],
         [0, 0, 1]],
        [[1, 0, -1, 0],
         [0, 1, 1, 0],
         [0, -1, 1, 0],
         [0, 1, 0, -1]]),
    4: ([[1, 1, 1, 1, 1, 0],
         [0, 1, -1, 2, -2, 0],
         [0, 1, 1, 4, 4, 0],
         [0, 1, -1, 8, -8, 1]],
        [[_F(1, 4), 0, 0],
         [_F(-1, 6), _F(-1, 6), _F(-1, 6)],
         [_F(-1, 6), _F(1, 6), _F(-1, 6)],
         [_F(1, 24), _F(1, 12), _F(1, 6)],
         [_F(1, 24), _F(-1, 12), _F(1, 6)],
         [0, 0, 1]],
        [[4, 0, -5, 0, 1, 0],
         [0, -4, -4, 1, 1, 0],
         [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0],
         [0, 4, 0, -5, 0, 1]]),
}


def exact_transforms(m):
    """``(A^T, G, B^T)`` of F(m x m, 3 x 3) as lists of :class:`fractions.Fraction`."""
    return tuple([[_F(x) for x in row] for row in mat] for mat in _EXACT[m])


def _as_float(rows):
    return np.array([[float(x) for x in row] for row in rows], dtype=np.float64)


_TRANSFORMS = {m: tuple(_as_float(mat) for mat in exact_transforms(m)) for m in TILES}


def transforms(m):
    """``(A^T, G, B^T)`` of F(m x m, 3 x 3) as float64 arrays of shapes (m, alpha),
    (alpha, 3), (alpha, alpha); the entries are exact but for F(4x4)'s 1/6, 1/12, 1/24."""
    return _TRANSFORMS[m]


# ------------------------------------------------------------ where it applies

def reason_unsupported(g, groups):
    """Why Winograd cannot run the geometry ``g`` (a :func:`cnnprop.geometry.sliding_window`
    result) with ``groups``; None when it can."""
    problems = []
    if (g.R, g.S) != (3, 3):
        problems.append(f"kernel {g.R}x{g.S}")
    if (g.u, g.v) != (1, 1):
        problems.append(f"stride {(g.u, g.v)}")
    if (g.dh, g.dw) != (1, 1):
        problems.append(f"dilation {(g.dh, g.dw)}")
    if groups != 1:
        problems.append(f"groups={groups}")
    return ", ".join(problems) or None


def supported(g, groups):
    """True when ``algorithm="winograd"`` can run the geometry."""
    return reason_unsupported(g, groups) is None


# Roundings outside the channel sum, per tile size: the transformed kernel
# (computed in float64, rounded once: 1), the input transform in the data type
# (two 1-D passes of at most 1 (m = 2) or 3 (m = 4) roundings an entry), the
# output transform (two passes of at most 2 or 3) and the bias (1); see
# docs/winograd.md, bound (W3).
EXTRA_ROUNDINGS = {2: 1 + 2 + 4 + 1, 4: 1 + 6 + 6 + 1}


def rounding_length(m, channels):
    """``L`` of bound (W3): ``|y - y_exact| <= gamma_L(u) m_W + u |y|`` for F(m x m, 3 x 3)
    summing ``channels`` products a transform point."""
    return int(channels) + EXTRA_ROUNDINGS[m]


def tile_size(dtype):
    """m of F(m x m, 3 x 3): 4 in float64, 2 in float32 (see docs/winograd.md)."""
    return 4 if np.dtype(dtype) == np.float64 else 2


def wants(algorithm, g, groups, N, C, K, dtype, direction):
    """True when a convolution call runs on Winograd.

    ``algorithm="winograd"`` (explicit, or through :func:`cnnprop.use_algorithm`)
    asks for it: an explicit request on a geometry it cannot run is a
    ValueError, the context's falls back to the other paths. ``"auto"`` takes
    it where :func:`auto_picks` says it is both accurate enough and faster.
    ``C`` and ``K`` are the layer's input and output channels, ``direction``
    ``"forward"`` or ``"input"``.
    """
    chosen = current_algorithm() if algorithm == "auto" else algorithm
    if chosen == "winograd":
        reason = reason_unsupported(g, groups)
        if reason is None and fits_blas(C, K):
            return True
        if algorithm == "winograd":
            raise ValueError("algorithm='winograd' needs a 3x3 kernel, stride 1, dilation 1 and "
                             f"groups=1; got {reason or 'channel counts beyond 32-bit BLAS'}")
        return False
    return (chosen == "auto" and supported(g, groups) and fits_blas(C, K)
            and auto_picks(direction, N, C, K, g, dtype))


# The "auto" rule (docs/winograd.md). Accuracy: only where the tile size's
# measured normwise error is within AUTO_ERROR_FACTOR of the GEMM path's on
# every measured layer (F(2x2): at most 2.3x; F(4x4), float64's tile: 23x to
# 33x, so never in float64). Speed: only the shape classes where Winograd measured
# faster than the GEMM path in every run (python -m cnnprop.bench.winograd,
# 2 threads): both channel counts at least AUTO_MIN_CHANNELS (64 forward,
# 128 input delta: at 64 the input delta measured 0.96x to 1.08x) and at least
# AUTO_MIN_TILES tiles (below, the blocks are too few and too thin: N=1,
# 14x14, C=K=256 measured 0.57x).
AUTO_ERROR_FACTOR = 3
# worst measured per-layer ratio of each tile size's normwise error to the GEMM
# path's, both dtypes, 200 random layers and the 6 benchmark layers x 2
# directions (docs/winograd.md, "Measured error")
MEASURED_ERROR_RATIO = {2: 2.3, 4: 33.0}
AUTO_MIN_CHANNELS = {"forward": 64, "input": 128}
AUTO_MIN_TILES = 512


def auto_picks(direction, N, C, K, g, dtype):
    """The ``"auto"`` rule: the dtype's tile size errs within ``AUTO_ERROR_FACTOR``
    of the GEMM path (float32 only), ``min(C, K) >= AUTO_MIN_CHANNELS[direction]``
    and at least ``AUTO_MIN_TILES`` output tiles over the batch."""
    m = tile_size(dtype)
    if MEASURED_ERROR_RATIO[m] > AUTO_ERROR_FACTOR or min(C, K) < AUTO_MIN_CHANNELS[direction]:
        return False
    rows, cols = (g.P, g.Q) if direction == "forward" else (g.H, g.W)
    return N * math.ceil(rows / m) * math.ceil(cols / m) >= AUTO_MIN_TILES


# ------------------------------------------------------------ the kernels

# Tiles a block: the GEMMs are K x C x T; measured (docs/winograd.md), wider
# blocks than this gain nothing and leave fewer tasks.
BLOCK_TILES = 128
MIN_BLOCK_TILES = 16
MIN_BLOCKS = 4


def plan_blocks(tiles, C, K, alpha, itemsize):
    """Blocks ``(t0, t1)`` of consecutive tiles and the widest block's width.

    A block's transformed input (alpha^2 C T) and products (alpha^2 K T) stay
    within SCRATCH_BYTES; at least MIN_BLOCKS blocks when there are enough
    tiles. Depends on the shapes only, never on the thread count.
    """
    budget = max(1, SCRATCH_BYTES // (alpha * alpha * (C + K) * itemsize))
    width = max(1, min(BLOCK_TILES, budget))
    if tiles >= MIN_BLOCKS * MIN_BLOCK_TILES:
        width = min(width, max(MIN_BLOCK_TILES, math.ceil(tiles / MIN_BLOCKS)))
    count = math.ceil(tiles / width)
    width = math.ceil(tiles / count)
    blocks = np.array([(a, min(tiles, a + width)) for a in range(0, tiles, width)], dtype=np.int64)
    return blocks.reshape(-1, 2), width


def filter_transform(f, m, transpose=False, num_threads=None):
    """``U[xi, k, c] = (G f[k, c] G^T)[xi]`` in float64, rounded once to f's dtype;
    with ``transpose``, of the rotated channel-transposed kernel of (W2): ``U[xi, c, k]``."""
    _, G, _ = transforms(m)
    K, C = f.shape[:2]
    alpha = m + 2
    f = np.ascontiguousarray(f)
    U = np.empty((alpha * alpha, C, K) if transpose else (alpha * alpha, K, C), dtype=f.dtype)
    threads = resolve_num_threads(num_threads, work=f.size * alpha * alpha)
    conv_winograd.filter_transform(f, G, U, bool(transpose), threads)
    return U


def correlate(z, U, b, out_shape, pt, pl, m, num_threads):
    """(W1) over every tile: ``out[n,k,p,q] = sum_{c,r,s} z[n,c,p+r-pt,q+s-pl] g[k,c,r,s] + b[k]``
    (z read as 0 outside), with ``U = filter_transform(g, m)``."""
    N, K, P, Q = out_shape
    C = z.shape[1]
    dtype = z.dtype
    out = np.empty(out_shape, dtype=dtype)
    if N == 0:
        return out
    alpha = m + 2
    tiles = N * math.ceil(P / m) * math.ceil(Q / m)
    blocks, width = plan_blocks(tiles, C, K, alpha, dtype.itemsize)
    work = N * K * C * P * Q * 9
    threads = min(resolve_num_threads(num_threads, work=work), len(blocks))
    v = np.empty((threads, alpha * alpha * C * width), dtype=dtype)
    mm = np.empty((threads, alpha * alpha * K * width), dtype=dtype)
    with blas_threads().limit(1):
        conv_winograd.winograd_correlate(z, U, np.ascontiguousarray(b, dtype=dtype), out, m,
                                         blocks, v, mm, pt, pl)
    return out


def forward(z, f, b, g, num_threads):
    """Eq (4g) for a supported geometry ``g`` (zero padding), by (W1)."""
    m = tile_size(z.dtype)
    N, K = z.shape[0], f.shape[0]
    return correlate(z, filter_transform(f, m, num_threads=num_threads), b, (N, K, g.P, g.Q),
                     g.pt, g.pl, m, num_threads)


def backward_input(delta, f, shape, g, num_threads):
    """Eq (7g) for a supported geometry ``g`` (zero padding), by (W2)."""
    m = tile_size(delta.dtype)
    C = shape[1]
    return correlate(delta, filter_transform(f, m, transpose=True, num_threads=num_threads),
                     np.zeros(C, dtype=delta.dtype),
                     tuple(shape), 2 - g.pt, 2 - g.pl, m, num_threads)
