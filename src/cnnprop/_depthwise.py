"""The fast path's depthwise route: eqs (4g), (5g), (7g) when every group has one input channel.

``groups == C`` and ``K = m C`` with a small channel multiplier m: the GEMMs
of the im2col route would be m rows tall, far too thin for BLAS, so the fast
path runs the vectorised plane kernels of _kernels/conv_depthwise.pyx instead
(measured in docs/performance.md). This module sizes their bands and
scratch; the plan depends on the shapes and the dtype only, never on the
thread count, so the results do not depend on it either.
"""
import math

import numpy as np

from ._kernels import conv_depthwise

__all__ = ["applies", "forward", "backward_input", "backward_filter", "BAND_BYTES", "MAX_MULTIPLIER"]

# Bytes of the zero-padded band of input rows a task works on: small enough to
# stay in the L2 cache (1 MB a core here) next to the output rows.
BAND_BYTES = 256 * 1024
# Largest channel multiplier K / C the route takes: beyond it the GEMMs are
# tall enough for BLAS (measured, docs/performance.md).
MAX_MULTIPLIER = 8
# The kernel gradient's samples are cut into at least this many tasks (spans
# of samples x output channels), so that few channels still split across
# cores; a fixed number, never the thread count.
FILTER_TASKS = 64


def applies(C, K, groups, kernel_channels):
    """True when the depthwise route takes this convolution."""
    return groups == C and kernel_channels == 1 and K // C <= MAX_MULTIPLIER


def _band(out_rows, row_elems, stride, taps_span, itemsize):
    """Output rows a band holds: its ``(band - 1) * stride + taps_span`` input rows fit BAND_BYTES."""
    fit = (BAND_BYTES // max(1, row_elems * itemsize) - taps_span) // stride + 1
    return int(min(out_rows, max(1, fit)))


def _phases(g):
    """Columns a phase of a band row holds, and where each tap's run starts (conv_depthwise.pyx)."""
    Wq = g.Q + (g.S - 1) * g.dw // g.v
    soff = np.array([(s * g.dw % g.v) * Wq + s * g.dw // g.v for s in range(g.S)], dtype=np.intp)
    return Wq, soff


def forward(z, f, b, out, g, threads):
    """Eq (4g) into ``out`` (validated arrays, resolved zero-padding geometry ``g``)."""
    Wq, soff = _phases(g)
    span = (g.R - 1) * g.dh + 1
    band = _band(g.P, g.v * Wq, g.u, span, z.itemsize)
    scratch = np.empty((threads, ((band - 1) * g.u + span) * g.v * Wq), dtype=z.dtype)
    conv_depthwise.conv2d_forward(z, f, b, out, scratch, soff, g.u, g.v, g.dh, g.dw, g.pt, g.pl,
                                  Wq, band)
    return out


def backward_input(delta, f, dz, g, threads):
    """Eq (7g) into ``dz``; ``f`` must be finite (see _kernels/conv_depthwise.pyx)."""
    W = dz.shape[3]
    Wb = W + (g.S - 1) * g.dw
    span = (g.R - 1) * g.dh + 1
    band = _band(dz.shape[2], Wb, 1, span, dz.itemsize)
    scratch = np.empty((threads, g.R * g.S + (band - 1 + span) * Wb), dtype=dz.dtype)
    soff = np.arange(g.S, dtype=np.intp) * g.dw
    conv_depthwise.conv2d_backward_input(delta, f, dz, scratch, soff, g.u, g.v, g.dh, g.dw,
                                         g.pt, g.pl, band)
    return dz


def spans(N, K):
    """Sample ranges of the kernel gradient's partial sums (shapes only)."""
    count = min(N, max(1, math.ceil(FILTER_TASKS / K)))
    size = math.ceil(N / count)
    return np.array([(a, min(N, a + size)) for a in range(0, N, size)], dtype=np.int64)


def backward_filter(delta, z, df, g, divisor, threads):
    """Eq (5g) into ``df`` (``divisor``: N or 1, the reduction)."""
    N, K = delta.shape[:2]
    lanes = conv_depthwise.LANES[z.dtype.name]
    Wq, soff = _phases(g)
    span = (g.R - 1) * g.dh + 1
    band = _band(g.P, g.v * Wq, g.u, span, z.itemsize)
    ranges = spans(N, K)
    partials = np.empty((len(ranges), df.size), dtype=z.dtype)
    scratch = np.empty((threads, g.R * g.S * lanes + ((band - 1) * g.u + span) * g.v * Wq),
                       dtype=z.dtype)
    conv_depthwise.conv2d_backward_filter(delta, z, df, ranges, partials, scratch, soff, g.u, g.v,
                                          g.dh, g.dw, g.pt, g.pl, Wq, band, float(divisor))
    return df
