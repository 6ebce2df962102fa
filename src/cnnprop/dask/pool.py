"""Pooling on dask arrays: eqs (13), (14), (A1), (A2), chunk by chunk and tile by tile."""
import dask.array as da

import cnnprop
from cnnprop.geometry import sliding_window

from . import _core as core
from . import _tiles as tiles
from .conv import _pad, _paste

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]


def _geometry(hw, window, stride, padding, options):
    return sliding_window(hw, window, window if stride is None else stride, padding,
                          options.get("dilation", 1), options.get("ceil_mode", False), window_name="window")


def _pooled_tiles(z, fn, window, stride, padding, options):
    """Output tiles of a pooling ``fn`` over ``z``: one for each input chunk, each
    reading the input slab of its windows, padded only at the image border."""
    g = _geometry(z.shape[2:], window, stride, padding, options)
    ah, aw = tiles.axes(g)
    grid = []
    for th in tiles.output_tiles(ah, z.chunks[2]):
        row = []
        for tw in tiles.output_tiles(aw, z.chunks[3]):
            part = core.piece(z, (th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi))
            task = core.local(fn, window, stride=stride, padding=_pad(th, tw), **options)
            row.append(part.map_blocks(task, dtype=z.dtype, chunks=part.chunks[:2] + ((th.hi - th.lo,),
                                                                                       (tw.hi - tw.lo,))))
        grid.append(row)
    return core.assemble(grid)


def _refuse_indices(options):
    if options.get("return_indices", False):
        # indices into a tile's plane are not indices into the image's plane
        raise ValueError("return_indices=True is not supported on dask arrays; "
                         "use maxpool2d_backward with z and y instead")


def maxpool2d_forward(z, window, stride=None, padding=0, **options):
    """Max pooling forward pass, eq (13), on a dask array.

    Parameters
    ----------
    z : dask.array.Array of shape (N, C, H, W)
        Any chunks along N and C (channels are not mixed); along H and W
        one output tile for each input chunk, reading the input slab of its
        windows (halo ``extent - stride`` rows), padded only at the image
        border.
    window, stride, padding
        As in :func:`cnnprop.maxpool2d_forward`.
    **options
        ``dilation``, ``ceil_mode``, ``algorithm``, ``num_threads``, ...
        forwarded by keyword. ``return_indices=True`` is refused.

    Returns
    -------
    dask.array.Array of shape (N, C, P, Q)
        Bit for bit the in-memory result, for any chunking (a maximum is
        exact).

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop, cnnprop.dask
    >>> z = da.from_array(np.arange(36.0).reshape(1, 1, 6, 6), chunks=(1, 1, 1, 4))
    >>> cnnprop.dask.maxpool2d_forward(z, 3, stride=2).compute()[0, 0]
    array([[14., 16.],
           [26., 28.]])
    """
    _refuse_indices(options)
    z = core.as_dask(z, "z", 4)
    return _pooled_tiles(z, cnnprop.maxpool2d_forward, window, stride, padding, options)


def maxpool2d_backward(delta, z, y, window, stride=None, padding=0, **options):
    """Input delta of max pooling, eq (14), on dask arrays.

    Parameters
    ----------
    delta, y : dask.array.Array of shape (N, C, P, Q)
        Rechunked to ``z``'s batch and channel chunks.
    z : dask.array.Array of shape (N, C, H, W)
        The result is chunked like ``z``.
    window, stride, padding
        As in :func:`cnnprop.maxpool2d_backward`.
    **options
        ``ties``, ``dilation``, ``ceil_mode``, ``algorithm``, ... forwarded
        by keyword.

    Returns
    -------
    dask.array.Array of shape (N, C, H, W)
        Each tile of ``z`` is computed from every window that reads it, with
        the whole of each window's input (so ``ties="first"`` sees the same
        first maximum), then cut to the tile.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> z = da.from_array(np.arange(16.0).reshape(1, 1, 4, 4), chunks=(1, 1, 3, 3))
    >>> y = cnnprop.dask.maxpool2d_forward(z, 2)
    >>> cnnprop.dask.maxpool2d_backward(da.ones_like(y), z, y, 2).compute()[0, 0, 1]
    array([0., 1., 0., 1.])
    """
    z = core.as_dask(z, "z", 4)
    delta, y = core.as_dask(delta, "delta", 4), core.as_dask(y, "y", 4)
    dtype = core.same_dtype(delta=delta, z=z, y=y)
    g = _geometry(z.shape[2:], window, stride, padding, options)
    pooled = z.shape[:2] + (g.P, g.Q)
    for name, x in (("delta", delta), ("y", y)):
        if x.shape != pooled:
            raise ValueError(f"{name} of shape {x.shape} does not match z of shape {z.shape} pooled: {pooled}")
    delta, y = (x.rechunk({0: z.chunks[0], 1: z.chunks[1]}) for x in (delta, y))
    ah, aw = tiles.axes(g)
    grid = []
    for rows in tiles.input_tiles(g.H, z.chunks[2]):
        row = []
        for cols in tiles.input_tiles(g.W, z.chunks[3]):
            th, tw = tiles.windows_touching(ah, *rows), tiles.windows_touching(aw, *cols)
            shape = (rows[1] - rows[0],), (cols[1] - cols[0],)
            if th is None or tw is None:
                row.append(da.zeros(z.shape[:2] + (rows[1] - rows[0], cols[1] - cols[0]), dtype=dtype,
                                    chunks=z.chunks[:2] + shape))
                continue
            d = core.piece(delta, (th.lo, th.hi), (tw.lo, tw.hi))
            yy = core.piece(y, (th.lo, th.hi), (tw.lo, tw.hi))
            zz = core.piece(z, (th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi))
            post = _paste((th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi), (rows, cols))
            fn = core.local(cnnprop.maxpool2d_backward, window, stride=stride, padding=_pad(th, tw),
                            post=post, **options)
            row.append(d.map_blocks(fn, zz, yy, dtype=dtype, chunks=z.chunks[:2] + shape))
        grid.append(row)
    return core.assemble(grid)


def avgpool2d_forward(z, window, stride=None, padding=0, **options):
    """Average pooling forward pass, eq (A1), on a dask array.

    Parameters
    ----------
    z : dask.array.Array of shape (N, C, H, W)
        Any chunks; along H and W one output tile for each input chunk, as
        :func:`maxpool2d_forward` tiles.
    window, stride, padding
        As in :func:`cnnprop.avgpool2d_forward`.
    **options
        ``ceil_mode``, ``count_include_pad``, ``divisor_override``,
        ``algorithm``, ``num_threads`` forwarded by keyword.

    Returns
    -------
    dask.array.Array of shape (N, C, P, Q)
        Bit for bit the in-memory result for any chunking: each window sums
        the same taps in the same order, and its divisor (PyTorch's rule)
        only sees the padding at the image border, which a tile has exactly
        where it touches the border.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> z = da.from_array(np.arange(16.0).reshape(1, 1, 4, 4), chunks=(1, 1, 3, 1))
    >>> cnnprop.dask.avgpool2d_forward(z, 2).compute()[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    z = core.as_dask(z, "z", 4)
    return _pooled_tiles(z, cnnprop.avgpool2d_forward, window, stride, padding, options)


def avgpool2d_backward(delta, input_shape, window, stride=None, padding=0, **options):
    """Input delta of average pooling, eq (A2), on a dask array.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, C, P, Q)
    input_shape : tuple of 4 ints
        ``(N, C, H, W)`` of the forward input.
    window, stride, padding, **options
        As in :func:`cnnprop.avgpool2d_backward`, forwarded by keyword.
    input_chunks : pair of tuples of int, optional (keyword)
        Chunks of the result along H and W. Default: one chunk.

    Returns
    -------
    dask.array.Array of shape (N, C, H, W)
        Each input tile is computed from the windows that read it (their
        delta slab and the border padding), then cut to the tile; with
        ``algorithm="direct"`` bit for bit the in-memory result.

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> d = da.ones((1, 1, 2, 2), chunks=(1, 1, 1, 1))
    >>> cnnprop.dask.avgpool2d_backward(d, (1, 1, 4, 4), 2).compute()[0, 0, 0]
    array([0.25, 0.25, 0.25, 0.25])
    """
    input_chunks = options.pop("input_chunks", None)
    delta = core.as_dask(delta, "delta", 4)
    N, C, H, W = (int(x) for x in input_shape)
    g = _geometry((H, W), window, stride, padding, options)
    if delta.shape != (N, C, g.P, g.Q):
        raise ValueError(f"delta of shape {delta.shape} does not match input_shape {input_shape} "
                         f"and this geometry: expected {(N, C, g.P, g.Q)}")
    ah, aw = tiles.axes(g)
    input_chunks = ((H,), (W,)) if input_chunks is None else input_chunks
    grid = []
    for rows in tiles.input_tiles(H, input_chunks[0]):
        row = []
        for cols in tiles.input_tiles(W, input_chunks[1]):
            th, tw = tiles.windows_touching(ah, *rows), tiles.windows_touching(aw, *cols)
            shape = (rows[1] - rows[0],), (cols[1] - cols[0],)
            if th is None or tw is None:
                row.append(da.zeros((N, C) + (rows[1] - rows[0], cols[1] - cols[0]), dtype=delta.dtype,
                                    chunks=delta.chunks[:2] + shape))
                continue
            part = core.piece(delta, (th.lo, th.hi), (tw.lo, tw.hi))
            slab_hw = (th.in_hi - th.in_lo, tw.in_hi - tw.in_lo)
            post = _paste((th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi), (rows, cols))
            fn = core.local(_avg_backward_block, slab_hw, window, stride, _pad(th, tw), post=post, **options)
            row.append(part.map_blocks(fn, dtype=delta.dtype, chunks=part.chunks[:2] + shape))
        grid.append(row)
    return core.assemble(grid)


def _avg_backward_block(delta, slab_hw, window, stride, padding, **options):
    return cnnprop.avgpool2d_backward(delta, delta.shape[:2] + tuple(slab_hw), window, stride=stride,
                                      padding=padding, **options)
