"""Convolution on dask arrays: eqs (4)-(9) of docs/spec.md, chunk by chunk and tile by tile."""
import dask.array as da
import numpy as np

import cnnprop
from cnnprop.geometry import sliding_window

from . import _core as core
from . import _tiles as tiles

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter", "conv2d_backward_bias"]


def _geometry(input_hw, kernel_hw, stride, padding, options, window_name="kernel"):
    return sliding_window(input_hw, kernel_hw, stride, padding, options.get("dilation", 1),
                          window_name=window_name)


def _one_spatial_chunk(options):
    # reflect/replicate/circular padding reads rows far from a tile (the other
    # border, for circular): such layers are chunked along the batch only
    return options.get("padding_mode", "zeros") != "zeros"


def _pad(th, tw):
    return ((th.pad_before, th.pad_after), (tw.pad_before, tw.pad_after))


def conv2d_forward(z, f, b=None, stride=1, padding=0, **options):
    """Convolution forward pass, eq (4), on a dask array.

    The same arguments as :func:`cnnprop.conv2d_forward`; every option
    (``dilation``, ``groups``, ``padding_mode``, ``algorithm``,
    ``num_threads``, ...) is forwarded by keyword to it, inside each task.

    Parameters
    ----------
    z : dask.array.Array or ndarray of shape (N, C, H, W)
        Chunked along N, H and W as the caller likes; the channels are
        rechunked into one chunk (a convolution mixes them all).
    f : ndarray of shape (K, C, R, S)
        Kernels, in memory (a dask array is computed first).
    b : ndarray of shape (K,), optional
    stride, padding
        As in :func:`cnnprop.conv2d_forward` (any padding form).
    **options
        Forwarded to :func:`cnnprop.conv2d_forward`. ``num_threads=None``
        (default) gives each task its share of the cores
        (:func:`cnnprop.dask.task_threads`).

    Returns
    -------
    dask.array.Array of shape (N, K, P, Q)
        Lazy. Chunked like ``z`` along N; along P and Q one tile for each
        input chunk: output row ``p`` goes with the chunk its window starts
        in, and tile edges are moved off windows that start or end in the
        padding (so a tile is padded only where it touches the image
        border). Each tile reads its input slab (the rows of its windows,
        a halo of ``extent - stride`` rows beyond its chunk) by slicing and
        rechunking ``z``. With ``padding_mode`` other than ``"zeros"`` the
        image is rechunked to one spatial chunk.

    Notes
    -----
    Every output element is computed from the same terms as the in-memory
    call; with ``algorithm="direct"`` (float64 sums in a fixed order) the
    result equals :func:`cnnprop.conv2d_forward` bit for bit for any
    chunking. The fast path's GEMM blocking depends on the tile's shape;
    docs/dask.md says what the tests found and the bound that holds.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop, cnnprop.dask
    >>> z = da.from_array(np.arange(32.0).reshape(1, 2, 4, 4), chunks=(1, 2, 2, 3))
    >>> f = np.ones((1, 2, 2, 2))
    >>> y = cnnprop.dask.conv2d_forward(z, f, stride=2)
    >>> bool((y.compute() == cnnprop.conv2d_forward(z.compute(), f, stride=2)).all())
    True
    """
    z = core.as_dask(z, "z", 4)
    f = core.as_numpy(f, "f")
    b = core.as_numpy(b, "b")
    if f.ndim != 4 or f.shape[1] * options.get("groups", 1) != z.shape[1]:
        raise ValueError(f"f of shape {f.shape} does not match z of shape {z.shape}")
    dtype = core.same_dtype(z=z, f=f, b=b)
    z = z.rechunk({1: -1, 2: -1, 3: -1} if _one_spatial_chunk(options) else {1: -1})
    g = _geometry(z.shape[2:], f.shape[2:], stride, padding, options)
    ah, aw = tiles.axes(g)
    grid = []
    for th in tiles.output_tiles(ah, z.chunks[2]):
        row = []
        for tw in tiles.output_tiles(aw, z.chunks[3]):
            part = core.piece(z, (th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi))
            fn = core.local(cnnprop.conv2d_forward, f, b, stride=stride, padding=_pad(th, tw), **options)
            row.append(part.map_blocks(fn, dtype=dtype,
                                       chunks=(part.chunks[0], (f.shape[0],), (th.hi - th.lo,), (tw.hi - tw.lo,))))
        grid.append(row)
    return core.assemble(grid)


def _paste(rows, cols, into):
    """Post-step: put a slab's input delta at its place in a zero tile of ``into`` rows/cols."""
    (h0, h1), (w0, w1) = into
    (a, b), (c, d) = rows, cols

    def paste(slab):
        out = np.zeros(slab.shape[:2] + (h1 - h0, w1 - w0), dtype=slab.dtype)
        lo_h, hi_h, lo_w, hi_w = max(a, h0), min(b, h1), max(c, w0), min(d, w1)
        if lo_h < hi_h and lo_w < hi_w:
            out[:, :, lo_h - h0:hi_h - h0, lo_w - w0:hi_w - w0] = slab[:, :, lo_h - a:hi_h - a, lo_w - c:hi_w - c]
        return out
    return paste


def conv2d_backward_input(delta, f, input_shape, stride=1, padding=0, **options):
    """Input delta of a convolution, eqs (7)-(9), on a dask array.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, K, P, Q)
        The output kernels are rechunked into one chunk.
    f : ndarray of shape (K, C, R, S)
    input_shape : tuple of 4 ints
    stride, padding, **options
        As in :func:`cnnprop.conv2d_backward_input`, forwarded by keyword.
    input_chunks : pair of tuples of int, optional (keyword)
        Chunks of the result along H and W. Default: an edge where the
        windows of ``delta``'s chunk edges start.

    Returns
    -------
    dask.array.Array of shape (N, C, H, W)
        Each input tile is computed from the windows that read it (eq (8)):
        their delta slab, the input rows they span and the border padding,
        then cut to the tile; rows no window reads are 0.

    Notes
    -----
    With ``algorithm="direct"`` (a float64 gather over the window range in
    a fixed order) the result equals :func:`cnnprop.conv2d_backward_input`
    bit for bit for any chunking.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop, cnnprop.dask
    >>> d = da.ones((1, 1, 3, 3), chunks=(1, 1, 2, 2))
    >>> dz = cnnprop.dask.conv2d_backward_input(d, np.ones((1, 1, 2, 2)), (1, 1, 7, 7), stride=2)
    >>> dz.compute()[0, 0, :, 6]
    array([0., 0., 0., 0., 0., 0., 0.])
    """
    input_chunks = options.pop("input_chunks", None)
    delta = core.as_dask(delta, "delta", 4)
    f = core.as_numpy(f, "f")
    dtype = core.same_dtype(delta=delta, f=f)
    N, C, H, W = (int(x) for x in input_shape)
    g = _geometry((H, W), f.shape[2:], stride, padding, options)
    if delta.shape != (N, f.shape[0], g.P, g.Q):
        raise ValueError(f"delta of shape {delta.shape} does not match input_shape {input_shape} "
                         f"and this geometry: expected {(N, f.shape[0], g.P, g.Q)}")
    whole = _one_spatial_chunk(options)
    delta = delta.rechunk({1: -1, 2: -1, 3: -1} if whole else {1: -1})
    ah, aw = tiles.axes(g)
    if input_chunks is None or whole:
        input_chunks = ((H,), (W,)) if whole else (tiles.input_chunks_from_output(ah, delta.chunks[2]),
                                                    tiles.input_chunks_from_output(aw, delta.chunks[3]))
    grid = []
    for rows in tiles.input_tiles(H, input_chunks[0]):
        row = []
        for cols in tiles.input_tiles(W, input_chunks[1]):
            th, tw = tiles.windows_touching(ah, *rows), tiles.windows_touching(aw, *cols)
            if th is None or tw is None:
                row.append(da.zeros((N, C, rows[1] - rows[0], cols[1] - cols[0]), dtype=dtype,
                                    chunks=(delta.chunks[0], C, -1, -1)))
                continue
            part = core.piece(delta, (th.lo, th.hi), (tw.lo, tw.hi))
            shape = (C, th.in_hi - th.in_lo, tw.in_hi - tw.in_lo)
            post = _paste((th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi), (rows, cols))
            fn = core.local(_backward_input_block, f, shape, stride, _pad(th, tw), post=post, **options)
            row.append(part.map_blocks(fn, dtype=dtype, chunks=(part.chunks[0], (C,), (rows[1] - rows[0],),
                                                                (cols[1] - cols[0],))))
        grid.append(row)
    return core.assemble(grid)


def _backward_input_block(delta, f, shape, stride, padding, **options):
    return cnnprop.conv2d_backward_input(delta, f, (delta.shape[0],) + shape, stride=stride,
                                         padding=padding, **options)


def _split_reduction(options):
    options = dict(options)
    return options.pop("reduction", "mean"), options


def conv2d_backward_filter(delta, z, kernel_size, stride=1, padding=0, **options):
    """Kernel gradient of a convolution, eq (5), as a tree reduction over chunks.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, K, P, Q)
    z : dask.array.Array of shape (N, C, H, W)
        Rechunked to ``delta``'s batch chunks and to one channel chunk.
    kernel_size, stride, padding
        As in :func:`cnnprop.conv2d_backward_filter`.
    **options
        ``reduction`` (``"mean"``, default, or ``"sum"``) and every other
        option, forwarded by keyword (each chunk is summed with
        ``reduction="sum"``).

    Returns
    -------
    dask.array.Array of shape (K, C, R, S)
        ``sum over chunks and tiles`` of the per-chunk sums, in float64 along
        a binary tree, divided once by the whole batch's N for ``"mean"`` and
        rounded once to the dtype. Tiles follow ``delta``'s spatial chunks
        (moved off windows in the padding).

    Notes
    -----
    Deterministic for a given chunking. Not bitwise the in-memory result
    (the sum is split differently); docs/dask.md derives the bound.

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> z = da.ones((4, 1, 3, 3), chunks=1)
    >>> d = da.ones((4, 1, 2, 2), chunks=1)
    >>> cnnprop.dask.conv2d_backward_filter(d, z, 2).compute()[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    reduction, options = _split_reduction(options)
    delta = core.as_dask(delta, "delta", 4)
    z = core.as_dask(z, "z", 4)
    dtype = core.same_dtype(delta=delta, z=z)
    N, C, H, W = z.shape
    divisor = core.reduction_divisor(reduction, N)
    g = _geometry((H, W), kernel_size, stride, padding, options, "kernel_size")
    K = delta.shape[1]
    if delta.shape != (N, K, g.P, g.Q):
        raise ValueError(f"delta of shape {delta.shape} does not match z of shape {z.shape} "
                         f"and this geometry: expected {(N, K, g.P, g.Q)}")
    whole = _one_spatial_chunk(options)
    delta = delta.rechunk({1: -1, 2: -1, 3: -1} if whole else {1: -1})
    z = z.rechunk({0: delta.chunks[0], 1: -1})
    ah, aw = tiles.axes(g)
    partials = []
    for th in tiles.output_tiles_at(ah, delta.chunks[2]):
        for tw in tiles.output_tiles_at(aw, delta.chunks[3]):
            d = core.piece(delta, (th.lo, th.hi), (tw.lo, tw.hi))
            zz = core.piece(z, (th.in_lo, th.in_hi), (tw.in_lo, tw.in_hi))
            call = core.local(cnnprop.conv2d_backward_filter, kernel_size, stride=stride, padding=_pad(th, tw),
                              reduction="sum", **options)
            partials += [core.delayed(call)(db, zb) for db, zb in core.delayed_blocks(d, zz)]
    return core.tree_reduce(partials, (K, C, g.R, g.S), dtype, divisor)


def conv2d_backward_bias(delta, reduction="mean", **options):
    """Bias gradient of a convolution, eq (6), as a tree reduction over chunks.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, K, P, Q)
        Any chunks along N, P, Q; one chunk along K (rechunked).
    reduction : {"mean", "sum"}
    **options
        Forwarded by keyword to :func:`cnnprop.conv2d_backward_bias`.

    Returns
    -------
    dask.array.Array of shape (K,)

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> cnnprop.dask.conv2d_backward_bias(da.ones((4, 2, 3, 3), chunks=(1, 2, 2, 2))).compute()
    array([9., 9.])
    """
    delta = core.as_dask(delta, "delta", 4).rechunk({1: -1})
    divisor = core.reduction_divisor(reduction, delta.shape[0])
    call = core.local(cnnprop.conv2d_backward_bias, reduction="sum", **options)
    partials = [core.delayed(call)(db) for (db,) in core.delayed_blocks(delta)]
    return core.tree_reduce(partials, (delta.shape[1],), delta.dtype, divisor)
