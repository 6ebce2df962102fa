"""Activations on dask arrays: eqs (15), (16) of docs/spec.md, block by block (any chunks)."""
import cnnprop

from . import _core as core

__all__ = ["activation_forward", "activation_backward"]


def activation_forward(z, name, **options):
    """Activation forward pass, eq (15), on a dask array: one task a block.

    Parameters
    ----------
    z : dask.array.Array
        Any shape and chunks (the function is elementwise).
    name : str
        One of :data:`cnnprop.ACTIVATIONS`.
    **options
        Forwarded by keyword to :func:`cnnprop.activation_forward`.

    Returns
    -------
    dask.array.Array
        Same shape and chunks; bit for bit the in-memory result.

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> cnnprop.dask.activation_forward(da.arange(-2.0, 2.0, chunks=2), "relu").compute()
    array([0., 0., 0., 1.])
    """
    z = core.as_dask(z, "z")
    return z.map_blocks(core.local(cnnprop.activation_forward, name, **options), dtype=z.dtype)


def activation_backward(delta, z, name, **options):
    """Input delta of an activation, eq (16), on dask arrays: one task a block.

    Parameters
    ----------
    delta, z : dask.array.Array
        Same shape; ``delta`` is rechunked to ``z``'s chunks.
    name : str
    **options
        Forwarded by keyword to :func:`cnnprop.activation_backward`.

    Returns
    -------
    dask.array.Array
        Chunked like ``z``; bit for bit the in-memory result.

    Examples
    --------
    >>> import dask.array as da, cnnprop.dask
    >>> z = da.arange(-2.0, 2.0, chunks=2)
    >>> cnnprop.dask.activation_backward(da.ones(4, chunks=4), z, "relu").compute()
    array([0., 0., 0., 1.])
    """
    z = core.as_dask(z, "z")
    delta = core.as_dask(delta, "delta")
    if delta.shape != z.shape:
        raise ValueError(f"delta of shape {delta.shape} does not match z of shape {z.shape}")
    dtype = core.same_dtype(delta=delta, z=z)
    delta = delta.rechunk(z.chunks)
    return delta.map_blocks(core.local(cnnprop.activation_backward, name, **options), z, dtype=dtype)


