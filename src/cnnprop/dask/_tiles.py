"""Tiling of one spatial axis: output tiles, the input slab each one reads, its padding.

Pure integer arithmetic, no dask. One axis of a sliding window has input
length ``size``, window extent ``extent`` (``d (R - 1) + 1`` with dilation),
stride ``u``, paddings ``before``/``after`` and ``out`` window positions
(``cnnprop.geometry.sliding_window`` resolves them, "same" and ``ceil_mode``
included). Window ``p`` reads the padded rows ``p u - before ...
p u - before + extent - 1`` of the input (eq (4), Table 1).

A tile is a range ``[lo, hi)`` of output positions. Its slab is the input
rows its windows read, clipped to ``[0, size)``, and the slab is padded only on
a side where the tile touches the image border, with the layer's own padding
there. Tile boundaries are placed so that every tile that does not start at
window 0 starts inside the image, and every tile that does not end at the last
window ends inside it; then the local call on the slab has exactly the
tile's windows, the same taps and the same border padding as the whole-image
call, which is what makes the tiled result equal the in-memory one element by
element (see docs/dask.md).
"""
from typing import NamedTuple

__all__ = ["Axis", "Slab", "output_tiles", "input_tiles", "slab", "windows_touching"]


class Axis(NamedTuple):
    """One axis of a resolved sliding window (a row or a column of ``Window``)."""

    size: int
    extent: int
    stride: int
    before: int
    after: int
    out: int

    def start(self, p):
        """First padded-input row read by window ``p`` (negative in the padding)."""
        return p * self.stride - self.before

    def stop(self, p):
        """One past the last row read by window ``p``."""
        return self.start(p) + self.extent


def axes(g):
    """The height and width :class:`Axis` of a ``cnnprop.geometry.Window``."""
    return (Axis(g.H, g.Re, g.u, g.pt, g.pb, g.P), Axis(g.W, g.Se, g.v, g.pl, g.pr, g.Q))


class Slab(NamedTuple):
    """Windows ``[lo, hi)`` and the input rows ``[in_lo, in_hi)`` plus padding they read."""

    lo: int
    hi: int
    in_lo: int
    in_hi: int
    pad_before: int
    pad_after: int


def slab(axis, lo, hi):
    """The input slab of the windows ``[lo, hi)``, which must satisfy the border rule.

    The local geometry ``(in_hi - in_lo, extent, stride, pad_before,
    pad_after)`` has exactly ``hi - lo`` windows: window ``lo + i`` of the
    whole axis is window ``i`` of the slab.
    """
    s0, e1 = axis.start(lo), axis.stop(hi - 1)
    if lo == 0:
        in_lo, pad_before = 0, axis.before
    else:
        if s0 < 0:
            raise ValueError(f"window {lo} starts in the padding; it cannot open a tile")
        in_lo, pad_before = s0, 0
    if hi == axis.out:
        in_hi, pad_after = axis.size, axis.after
    else:
        if e1 > axis.size:
            raise ValueError(f"window {hi - 1} ends in the padding; it cannot close a tile")
        in_hi, pad_after = e1, 0
    return Slab(lo, hi, in_lo, in_hi, pad_before, pad_after)


def _allowed(axis):
    """Inner tile boundaries ``b`` that keep the border rule: ``[first, last]``."""
    first = max(1, -(-axis.before // axis.stride))          # window b starts at row >= 0
    last = min(axis.out - 1, (axis.size + axis.before - axis.extent) // axis.stride + 1)
    return first, last                                     # window b - 1 ends at row <= size


def _tiles(axis, candidates):
    first, last = _allowed(axis)
    inner = sorted({min(max(b, first), last) for b in candidates if 0 < b < axis.out}) if first <= last else []
    bounds = [0] + inner + [axis.out]
    return [slab(axis, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def output_tiles(axis, input_chunks):
    """Output tiles that follow the input chunks: window ``p`` goes with the chunk it starts in.

    Parameters
    ----------
    axis : Axis
    input_chunks : tuple of int
        Chunk lengths of the input along the axis (dask's ``chunks[i]``).

    Returns
    -------
    list of Slab
        Consecutive tiles covering ``[0, out)`` exactly.
    """
    edges, h = [], 0
    for c in input_chunks[:-1]:
        h += c
        edges.append(-(-(h + axis.before) // axis.stride))
    return _tiles(axis, edges)


def output_tiles_at(axis, output_chunks):
    """Output tiles that follow given output chunks (moved where the border rule needs it)."""
    edges, p = [], 0
    for c in output_chunks[:-1]:
        p += c
        edges.append(p)
    return _tiles(axis, edges)


def windows_touching(axis, lo, hi):
    """Windows whose rows meet the input rows ``[lo, hi)``, widened to obey the border rule.

    Returns
    -------
    Slab or None
        None when no window reads any of these rows (their delta is 0).
    """
    first = max(0, -(-(lo + axis.before - axis.extent + 1) // axis.stride))
    stop = min(axis.out, (hi - 1 + axis.before) // axis.stride + 1)
    if first >= stop:
        return None
    if axis.start(first) < 0:
        first = 0
    if axis.stop(stop - 1) > axis.size:
        stop = axis.out
    return slab(axis, first, stop)


def input_tiles(size, chunks):
    """``(lo, hi)`` row ranges of consecutive chunks of lengths ``chunks``."""
    out, h = [], 0
    for c in chunks:
        out.append((h, h + c))
        h += c
    assert h == size, (h, size)
    return out


def input_chunks_from_output(axis, output_chunks):
    """Input-space chunks whose edges sit where the output chunks' windows start."""
    edges, p = set(), 0
    for c in output_chunks[:-1]:
        p += c
        h = axis.start(p)
        if 0 < h < axis.size:
            edges.add(h)
    bounds = [0] + sorted(edges) + [axis.size]
    return tuple(b - a for a, b in zip(bounds[:-1], bounds[1:]))
