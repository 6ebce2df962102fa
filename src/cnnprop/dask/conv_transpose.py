"""Transposed convolution on dask arrays (T1-T3 of docs/spec-beyond.md).

T1 is eq (7g) with ``x`` as the delta and T2 is eq (4g): both go through the
tiled :func:`cnnprop.dask.conv2d_backward_input` and
:func:`cnnprop.dask.conv2d_forward`, so that a single image larger than
memory is served tile by tile, exactly as the in-memory functions compute
them (they call the same kernels). The one geometry those cannot express,
an ``output_padding`` not below the stride (allowed below the dilation),
is chunked along the batch only. T3, the kernel gradient, is a tree
reduction over batch chunks.
"""
import numpy as np

import cnnprop
from cnnprop.geometry import as_pair

from . import _core as core
from .conv import conv2d_backward_input as _conv_backward_input
from .conv import conv2d_forward as _conv_forward

__all__ = ["conv_transpose2d_forward", "conv_transpose2d_backward_input", "conv_transpose2d_backward_filter"]


def _by_batch(x, name):
    return core.as_dask(x, name, 4).rechunk({1: -1, 2: -1, 3: -1})


def _out_chunks(x, shape):
    return (x.chunks[0], (shape[1],), (shape[2],), (shape[3],))


def conv_transpose2d_forward(x, f, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                             **options):
    """Transposed convolution forward pass (T1, eq (7g) with ``x`` as the delta) on a dask array.

    Parameters
    ----------
    x : dask.array.Array of shape (N, C_in, H, W)
        Chunked along N as the caller likes; the other axes are rechunked
        into one chunk.
    f, b, stride, padding, output_padding, groups, dilation, **options
        As in :func:`cnnprop.conv_transpose2d_forward`, forwarded by keyword.

    Returns
    -------
    dask.array.Array of shape (N, C_out, H_out, W_out)
        Tiled along H and W from ``x``'s chunks there, as
        :func:`cnnprop.dask.conv2d_backward_input` tiles (the same eq (7g)):
        bit for bit the in-memory result with ``algorithm="direct"`` for any
        chunking; the fast path within its GEMM bound (docs/dask.md).

    Raises
    ------
    ValueError, TypeError
        At once, as the in-memory function raises them.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> x = da.ones((4, 1, 2, 2), chunks=(1, 1, 2, 2))
    >>> cnnprop.dask.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), stride=2).compute()[3, 0, 0]
    array([1., 1., 1., 1.])
    """
    x = core.as_dask(x, "x", 4)
    f = core.as_numpy(f, "f")
    b = None if b is None else core.as_numpy(b, "b")
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    # every check of the in-memory function, now rather than inside a task
    cnnprop.conv_transpose2d_forward(_no_samples(x), f, b, **kw, **options)
    shape = _output_shape(x, f, kw)
    if not _tiles(kw):
        x = _by_batch(x, "x")
        call = core.local(cnnprop.conv_transpose2d_forward, f, b, **kw, **options)
        return x.map_blocks(call, dtype=x.dtype, chunks=_out_chunks(x, shape))
    y = _conv_backward_input(x, f, shape, stride, padding, groups=groups, dilation=dilation, **options)
    # the bias as the in-memory function adds it: once, in the dtype
    return y if b is None else y + b.astype(y.dtype)[None, :, None, None]


def _no_samples(a):
    return np.zeros((0,) + tuple(a.shape[1:]), dtype=a.dtype)


def _tiles(kw):
    """Whether the convolution's tiling expresses this geometry: ``output_padding`` below the stride."""
    (u, v), (oh, ow) = as_pair(kw["stride"], "stride"), as_pair(kw["output_padding"], "output_padding")
    return oh < u and ow < v


def _output_shape(x, f, kw):
    """(N, C_out, H_out, W_out) of SPEC-BEYOND.md: ``(H - 1) u - p_t - p_b + d (R - 1) + 1 + output_padding``."""
    from cnnprop.geometry import as_pair, padding_pairs

    (u, v), (dh, dw) = as_pair(kw["stride"], "stride"), as_pair(kw["dilation"], "dilation")
    (oh, ow) = as_pair(kw["output_padding"], "output_padding")
    pairs = padding_pairs(kw["padding"])
    if isinstance(pairs, str):
        raise ValueError("padding of a transposed convolution must be an int or pairs, got 'same'")
    (pt, pb), (pl, pr) = pairs
    H, W = x.shape[2:]
    R, S = f.shape[2:]
    return (x.shape[0], f.shape[1] * int(kw["groups"]), (H - 1) * u - pt - pb + dh * (R - 1) + 1 + oh,
            (W - 1) * v - pl - pr + dw * (S - 1) + 1 + ow)


def conv_transpose2d_backward_input(delta, f, input_shape, stride=1, padding=0, output_padding=0, groups=1,
                                    dilation=1, **options):
    """Input gradient of a transposed convolution (T2, eq (4g)) on a dask array.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, C_out, H_out, W_out)
        Chunked along N; the other axes in one chunk (rechunked).
    f, input_shape, stride, padding, output_padding, groups, dilation, **options
        As in :func:`cnnprop.conv_transpose2d_backward_input`.

    Returns
    -------
    dask.array.Array of shape ``input_shape``
        Tiled along H and W from ``delta``'s chunks there, as
        :func:`cnnprop.dask.conv2d_forward` tiles (the same eq (4g)): bit for
        bit the in-memory result with ``algorithm="direct"`` for any
        chunking; the fast path within its GEMM bound (docs/dask.md).

    Raises
    ------
    ValueError, TypeError
        At once, as the in-memory function raises them.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> d = da.ones((2, 1, 4, 4), chunks=1)
    >>> cnnprop.dask.conv_transpose2d_backward_input(d, np.ones((1, 1, 2, 2)), (2, 1, 2, 2), 2).compute()[1, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    delta = core.as_dask(delta, "delta", 4)
    f = core.as_numpy(f, "f")
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    N, C, H, W = (int(v) for v in input_shape)
    if delta.shape[0] != N:
        raise ValueError(f"delta has {delta.shape[0]} samples but input_shape {tuple(input_shape)} has {N}")
    cnnprop.conv_transpose2d_backward_input(_no_samples(delta), f, (0, C, H, W), **kw, **options)
    if _tiles(kw):
        return _conv_forward(delta, f, None, stride, padding, groups=groups, dilation=dilation, **options)
    delta = _by_batch(delta, "delta")
    call = core.local(_backward_input_block, f, (C, H, W), **kw, **options)
    return delta.map_blocks(call, dtype=delta.dtype, chunks=(delta.chunks[0], (C,), (H,), (W,)))


def _backward_input_block(delta, f, chw, **options):
    return cnnprop.conv_transpose2d_backward_input(delta, f, (delta.shape[0],) + tuple(chw), **options)


def conv_transpose2d_backward_filter(delta, x, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                                     dilation=1, **options):
    """Kernel gradient of a transposed convolution (T3, eq (5g), roles swapped), as a tree reduction.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, C_out, H_out, W_out)
    x : dask.array.Array of shape (N, C_in, H, W)
        Rechunked to ``delta``'s batch chunks.
    kernel_size, stride, padding, output_padding, groups, dilation
        As in :func:`cnnprop.conv_transpose2d_backward_filter`.
    **options
        ``reduction`` (``"mean"``, default, or ``"sum"``) and the rest,
        forwarded by keyword (each chunk is summed with ``reduction="sum"``).

    Returns
    -------
    dask.array.Array of shape (C_in, C_out / groups, R, S)
        The per-chunk sums added in float64 along a binary tree, divided once
        by the whole batch's N for ``"mean"``, rounded once; deterministic for
        a given chunking (docs/dask.md derives the bound).

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> x, d = da.ones((4, 1, 2, 2), chunks=1), da.ones((4, 1, 4, 4), chunks=1)
    >>> cnnprop.dask.conv_transpose2d_backward_filter(d, x, 2, 2).compute()[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    options = dict(options)
    reduction = options.pop("reduction", "mean")
    delta = _by_batch(delta, "delta")
    x = core.as_dask(x, "x", 4).rechunk({0: delta.chunks[0], 1: -1, 2: -1, 3: -1})
    dtype = core.same_dtype(delta=delta, x=x)
    divisor = core.reduction_divisor(reduction, x.shape[0])
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    call = core.local(cnnprop.conv_transpose2d_backward_filter, kernel_size, **kw, reduction="sum", **options)
    partials = [core.delayed(call)(db, xb) for db, xb in core.delayed_blocks(delta, x)]
    R, S = cnnprop.geometry.as_pair(kernel_size, "kernel_size")
    shape = (x.shape[1], delta.shape[1] // int(groups), R, S)
    return core.tree_reduce(partials, shape, dtype, divisor)
