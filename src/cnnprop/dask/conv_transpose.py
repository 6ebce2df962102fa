"""Transposed convolution on dask arrays (T1-T3 of docs/spec-beyond.md), chunk by chunk along the batch.

Height and width stay in one chunk each (rechunked): a transposed
convolution's output tile reads a strided set of input windows, which the
tiling of :mod:`cnnprop.dask.conv` does not express; a batch too large for
memory is served, a single image too large for memory is not (use
:func:`cnnprop.dask.conv2d_backward_input`, the same equation (7g), which tiles).
"""
import cnnprop

from . import _core as core

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
        Chunk by chunk along N: bit for bit the in-memory result.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> x = da.ones((4, 1, 2, 2), chunks=(1, 1, 2, 2))
    >>> cnnprop.dask.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), stride=2).compute()[3, 0, 0]
    array([1., 1., 1., 1.])
    """
    x = _by_batch(x, "x")
    f = core.as_numpy(f, "f")
    b = None if b is None else core.as_numpy(b, "b")
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    call = core.local(cnnprop.conv_transpose2d_forward, f, b, **kw, **options)
    return x.map_blocks(call, dtype=x.dtype, chunks=_out_chunks(x, _output_shape(x, f, kw)))


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
        Chunk by chunk along N: bit for bit the in-memory result.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> d = da.ones((2, 1, 4, 4), chunks=1)
    >>> cnnprop.dask.conv_transpose2d_backward_input(d, np.ones((1, 1, 2, 2)), (2, 1, 2, 2), 2).compute()[1, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    delta = _by_batch(delta, "delta")
    f = core.as_numpy(f, "f")
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    N, C, H, W = (int(v) for v in input_shape)
    if delta.shape[0] != N:
        raise ValueError(f"delta has {delta.shape[0]} samples but input_shape {tuple(input_shape)} has {N}")
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
