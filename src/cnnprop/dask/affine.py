"""Affine layers on dask arrays: eqs (17)-(20) of docs/spec.md, chunked along the batch."""
import math

import cnnprop

from . import _core as core

__all__ = ["affine_forward", "affine_backward_input", "affine_backward_weight", "affine_backward_bias"]


def _batch_only(x):
    return x.rechunk({a: -1 for a in range(1, x.ndim)})


def affine_forward(z, w, b=None, **options):
    """Affine forward pass, eq (17), chunk by chunk along the batch.

    Parameters
    ----------
    z : dask.array.Array of shape (N, ...)
        Each sample is flattened (J values); rechunked to one chunk per
        batch chunk along the other axes.
    w : ndarray of shape (I, J)
    b : ndarray of shape (I,), optional
    **options
        Forwarded by keyword to :func:`cnnprop.affine_forward`.

    Returns
    -------
    dask.array.Array of shape (N, I)

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> cnnprop.dask.affine_forward(da.ones((3, 2), chunks=1), np.ones((1, 2))).compute()
    array([[2.],
           [2.],
           [2.]])
    """
    z = _batch_only(core.as_dask(z, "z"))
    w, b = core.as_numpy(w, "w"), core.as_numpy(b, "b")
    dtype = core.same_dtype(z=z, w=w, b=b)
    fn = core.local(cnnprop.affine_forward, w, b, **options)
    return z.map_blocks(fn, dtype=dtype, chunks=(z.chunks[0], (w.shape[0],)),
                        drop_axis=list(range(2, z.ndim)) if z.ndim > 2 else None)


def affine_backward_input(delta, w, input_shape, **options):
    """Input delta of an affine layer, eq (20), chunk by chunk along the batch.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, I)
    w : ndarray of shape (I, J)
    input_shape : tuple of int
        ``(N, ...)`` of the layer input.
    **options
        Forwarded by keyword to :func:`cnnprop.affine_backward_input`.

    Returns
    -------
    dask.array.Array of shape ``input_shape``

    Examples
    --------
    >>> import numpy as np, dask.array as da, cnnprop.dask
    >>> cnnprop.dask.affine_backward_input(da.ones((2, 1), chunks=1), np.ones((1, 2)), (2, 2)).compute()
    array([[1., 1.],
           [1., 1.]])
    """
    delta = _batch_only(core.as_dask(delta, "delta", 2))
    w = core.as_numpy(w, "w")
    dtype = core.same_dtype(delta=delta, w=w)
    rest = tuple(int(x) for x in input_shape[1:])
    fn = core.local(_input_block, w, rest, **options)
    return delta.map_blocks(fn, dtype=dtype, chunks=(delta.chunks[0],) + tuple((n,) for n in rest),
                            new_axis=list(range(2, 1 + len(rest))) if len(rest) > 1 else None)


def _input_block(delta, w, rest, **options):
    return cnnprop.affine_backward_input(delta, w, (delta.shape[0],) + rest, **options)


def affine_backward_weight(delta, z, **options):
    """Weight gradient of an affine layer, eq (18), as a tree reduction over batch chunks.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, I)
    z : dask.array.Array of shape (N, ...)
        Rechunked to ``delta``'s batch chunks.
    **options
        ``reduction`` (``"mean"``, default, or ``"sum"``) and the rest,
        forwarded by keyword (each chunk is summed with ``reduction="sum"``).

    Returns
    -------
    dask.array.Array of shape (I, J)
        The chunks' sums added in float64 along a binary tree, divided once
        by N for ``"mean"``, rounded once.

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> cnnprop.dask.affine_backward_weight(da.ones((4, 1), chunks=1), da.ones((4, 2), chunks=2)).compute()
    array([[1., 1.]])
    """
    options = dict(options)
    reduction = options.pop("reduction", "mean")
    delta = _batch_only(core.as_dask(delta, "delta", 2))
    z = core.as_dask(z, "z")
    dtype = core.same_dtype(delta=delta, z=z)
    divisor = core.reduction_divisor(reduction, z.shape[0])
    z = _batch_only(z).rechunk({0: delta.chunks[0]})
    call = core.local(cnnprop.affine_backward_weight, reduction="sum", **options)
    partials = [core.delayed(call)(d, x) for d, x in core.delayed_blocks(delta, z)]
    J = math.prod(z.shape[1:])
    return core.tree_reduce(partials, (delta.shape[1], J), dtype, divisor)


def affine_backward_bias(delta, reduction="mean", **options):
    """Bias gradient of an affine layer, eq (19), as a tree reduction over batch chunks.

    Parameters
    ----------
    delta : dask.array.Array of shape (N, I)
    reduction : {"mean", "sum"}
    **options
        Forwarded by keyword to :func:`cnnprop.affine_backward_bias`.

    Returns
    -------
    dask.array.Array of shape (I,)

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> cnnprop.dask.affine_backward_bias(da.ones((4, 2), chunks=1)).compute()
    array([1., 1.])
    """
    delta = _batch_only(core.as_dask(delta, "delta", 2))
    divisor = core.reduction_divisor(reduction, delta.shape[0])
    call = core.local(cnnprop.affine_backward_bias, reduction="sum", **options)
    partials = [core.delayed(call)(d) for (d,) in core.delayed_blocks(delta)]
    return core.tree_reduce(partials, (delta.shape[1],), delta.dtype, divisor)
