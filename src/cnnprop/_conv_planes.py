"""The fast path's plane route: eqs (4g), (5g), (7g) for groups of few channels.

A group of ``C_g`` input and ``K_g`` output channels lowers to GEMMs ``K_g``
rows tall: depthwise layers (``C_g = 1``, ``K_g`` the channel multiplier) and
small groups are far too thin for BLAS. The fast path runs the vectorised
plane kernels of _kernels/conv_planes.pyx for them instead (measured in
docs/performance.md). This module decides which layers take the route and
sizes the kernels' bands and scratch; the plan depends on the shapes and the
dtype only, never on the thread count, so the results do not depend on it.
"""
import math

import numpy as np

from ._gemm_plan import SCRATCH_BYTES
from ._kernels import conv_planes

__all__ = ["applies", "applies_input", "applies_filter", "forward", "backward_input", "backward_filter", "spans",
           "BAND_BYTES", "MAX_GROUP_IN", "MAX_GROUP_OUT"]

# Bytes of the zero-padded bands of a group's channels a task works on: small
# enough to stay in the L2 cache (1 MB a core here) next to the output rows.
BAND_BYTES = 256 * 1024
# Largest C_g and K_g the route takes: beyond them the GEMMs are tall enough
# for BLAS (measured, docs/performance.md).
MAX_GROUP_IN = 16
MAX_GROUP_OUT = 16
# The kernel gradient's samples are cut into spans so that there are at least
# this many tasks (spans x groups) when the batch allows: few groups still
# split across cores. A fixed number, never the thread count.
FILTER_TASKS = 64


def applies(C, K, groups, kernel_channels, itemsize=4):
    """True when the plane route takes eq (4g) of this convolution (``kernel_channels``: C_g).

    float32: groups of at most 16 input and output channels. float64
    (``itemsize`` 8): depthwise-like groups only (C_g = 1), where the double
    GEMMs are as thin; with C_g > 1 the float64 GEMMs ran at or ahead of
    the plane kernels (measured, docs/performance.md).
    """
    if itemsize > 4 and kernel_channels > 1:
        return False
    return kernel_channels <= MAX_GROUP_IN and K // groups <= MAX_GROUP_OUT


def applies_input(C, K, groups, kernel_channels, g, itemsize=4):
    """True when the plane route takes eq (7g): :func:`applies`, and stride 1.

    With a stride the route correlates the delta spread out by the stride, u v
    times as many terms as there are (the stride's zeros): it lost to the GEMMs'
    col2im even on a depthwise layer (measured, docs/performance.md).
    """
    return applies(C, K, groups, kernel_channels, itemsize) and (g.u, g.v) == (1, 1)


def applies_filter(C, K, groups, kernel_channels, taps=1, itemsize=4):
    """True when the plane route takes eq (5g) (``taps``: R S; float64: C_g = 1 only).

    Depthwise-like groups (C_g = 1, K_g <= 16), and groups of :func:`applies`
    whose outputs and taps tile by 4 x 3 (K_g a multiple of 4, C_g R S of 3):
    those run 12 (output, tap) pairs at once, 7 loads for 12 multiply-adds.
    Other groups with C_g > 1 stay on the GEMMs: the one-pair-at-a-time dot
    products (two loads a multiply-add) lose to their long reduction
    (measured on resnext_g32 and small_c16, docs/performance.md).
    """
    K_g = K // groups
    # the running sums of a task (conv_planes.LANES a pair) stay within the
    # fast path's scratch budget a thread, whatever the kernel size
    if K_g * kernel_channels * taps * max(conv_planes.LANES.values()) * itemsize > SCRATCH_BYTES:
        return False
    if kernel_channels == 1:
        return K_g <= MAX_GROUP_OUT
    return (applies(C, K, groups, kernel_channels, itemsize) and K_g % 4 == 0
            and kernel_channels * taps % 3 == 0)


def _band(out_rows, row_elems, stride, taps_span, itemsize):
    """Output rows a band holds: its ``(band - 1) * stride + taps_span`` input rows fit BAND_BYTES."""
    fit = (BAND_BYTES // max(1, row_elems * itemsize) - taps_span) // stride + 1
    return int(min(out_rows, max(1, fit)))


def _phases(g):
    """Columns a phase of a band row holds, and where each tap's run starts (conv_planes.pyx)."""
    Wq = g.Q + (g.S - 1) * g.dw // g.v
    soff = np.array([(s * g.dw % g.v) * Wq + s * g.dw // g.v for s in range(g.S)], dtype=np.intp)
    return Wq, soff


def _input_band(g, C_g, itemsize):
    Wq, soff = _phases(g)
    span = (g.R - 1) * g.dh + 1
    band = _band(g.P, C_g * g.v * Wq, g.u, span, itemsize)
    return Wq, soff, band, C_g * ((band - 1) * g.u + span) * g.v * Wq


def forward(z, f, b, out, g, groups, threads):
    """Eq (4g) into ``out`` (validated arrays, resolved zero-padding geometry ``g``)."""
    Wq, soff, band, size = _input_band(g, f.shape[1], z.itemsize)
    scratch = np.empty((threads, size), dtype=z.dtype)
    conv_planes.conv2d_forward(z, f, b, out, scratch, soff, g.u, g.v, g.dh, g.dw, g.pt, g.pl,
                               groups, Wq, band)
    return out


def backward_input(delta, f, dz, g, groups, threads):
    """Eq (7g) into ``dz``; ``f`` must be finite (see _kernels/conv_planes.pyx)."""
    H, W = dz.shape[2:]
    K, C_g = f.shape[:2]
    K_g = K // groups
    Wb = W + (g.S - 1) * g.dw
    span = (g.R - 1) * g.dh + 1
    band = _band(H, K_g * Wb, 1, span, dz.itemsize)
    scratch = np.empty((threads, C_g * K_g * g.R * g.S + K_g * (band - 1 + span) * Wb),
                       dtype=dz.dtype)
    soff = np.arange(g.S, dtype=np.intp) * g.dw
    conv_planes.conv2d_backward_input(delta, f, dz, scratch, soff, g.u, g.v, g.dh, g.dw,
                                      g.pt, g.pl, groups, band)
    return dz


def spans(N, groups):
    """Sample ranges of the kernel gradient's partial sums (shapes only)."""
    count = min(N, max(1, math.ceil(FILTER_TASKS / groups)))
    size = math.ceil(N / count)
    return np.array([(a, min(N, a + size)) for a in range(0, N, size)], dtype=np.int64)


def backward_filter(delta, z, df, g, groups, divisor, threads):
    """Eq (5g) into ``df`` (``divisor``: N or 1, the reduction)."""
    N, K = delta.shape[:2]
    C_g = df.shape[1]
    lanes = conv_planes.LANES[z.dtype.name]
    Wq, soff, band, size = _input_band(g, C_g, z.itemsize)
    ranges = spans(N, groups)
    partials = np.empty((len(ranges), df.size), dtype=z.dtype)
    scratch = np.empty((threads, (K // groups) * C_g * g.R * g.S * lanes + size), dtype=z.dtype)
    conv_planes.conv2d_backward_filter(delta, z, df, ranges, partials, scratch, soff, g.u, g.v,
                                       g.dh, g.dw, g.pt, g.pl, groups, Wq, band, float(divisor))
    return df
