"""The dask plumbing shared by the layer modules: inputs, local calls, tiles, tree reduction."""
import functools

import dask
import dask.array as da
import numpy as np

from ._threads import task_threads

__all__ = ["as_dask", "as_numpy", "local", "piece", "assemble", "tree_reduce", "reduction_divisor"]

REDUCTIONS = ("mean", "sum")


def as_dask(value, name, ndim=None):
    """``value`` as a dask array of a float dtype (a NumPy array becomes one chunk)."""
    if not isinstance(value, da.Array):
        value = da.from_array(np.asarray(value), chunks=-1)
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {value.shape}")
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {value.dtype}")
    return value


def as_numpy(value, name):
    """A layer parameter (kernels, weights, bias) in memory; a dask array is computed now."""
    if value is None:
        return None
    if isinstance(value, da.Array):
        value = value.compute()
    return np.asarray(value)


def same_dtype(**arrays):
    dtypes = {k: a.dtype for k, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        raise TypeError("arrays must share one dtype, got " + ", ".join(f"{k} {d}" for k, d in dtypes.items()))
    return next(iter(dtypes.values()))


def _run(fn, args, kwargs, post, *blocks):
    kwargs = dict(kwargs)
    if kwargs.get("num_threads") is None:
        kwargs["num_threads"] = task_threads()
    out = fn(*blocks, *args, **kwargs)
    return out if post is None else post(out)


def local(fn, *args, post=None, **kwargs):
    """A task function: ``fn(*blocks, *args, **kwargs)`` with a per-task ``num_threads``.

    Every option is forwarded by keyword; ``num_threads=None`` (the default)
    becomes :func:`task_threads` inside the task, on the worker that runs it.
    ``post`` (optional) transforms the result, e.g. to paste it into a tile.
    """
    return functools.partial(_run, fn, args, kwargs, post)


def piece(x, rows, cols, single=(2, 3)):
    """``x[:, :, rows, cols]`` with the axes ``single`` in one chunk (a rechunk)."""
    return x[:, :, rows[0]:rows[1], cols[0]:cols[1]].rechunk({a: -1 for a in single})


def assemble(grid):
    """Tiles ``grid[i][j]`` (4-D dask arrays) joined along the last two axes."""
    return da.block([list(row) for row in grid])


def reduction_divisor(reduction, n):
    """What the summed gradient is divided by: ``N`` for ``"mean"``, 1 for ``"sum"``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "sum":
        return 1
    if n == 0:
        raise ValueError("reduction='mean' over an empty batch (N = 0) is undefined; "
                         "use reduction='sum' (zeros)")
    return n


def tree_reduce(partials, shape, dtype, divisor, split_every=2):
    """``sum(partials) / divisor`` as a binary tree over the partial sums, in float64.

    Parameters
    ----------
    partials : list of dask.delayed.Delayed
        One ``reduction="sum"`` gradient a chunk, each of ``shape``, in a
        fixed order (the chunks' order).
    shape : tuple of int
    dtype : numpy dtype
        Of the result: the float64 total is divided once and rounded once.
    divisor : int
    split_every : int
        Fan-in of the tree.

    Returns
    -------
    dask.array.Array
        Deterministic for a given list: dask's reduction tree is a fixed
        function of the number of chunks and ``split_every``.
    """
    if not partials:
        return da.zeros(shape, dtype=dtype, chunks=-1)
    stack = da.stack([da.from_delayed(p, shape=shape, dtype=dtype) for p in partials])
    total = stack.sum(axis=0, dtype=np.float64, split_every=split_every)
    return (total / divisor if divisor != 1 else total).astype(dtype)


def delayed_blocks(*arrays):
    """The blocks of arrays with the same block grid, as lists of Delayed, in C order."""
    grids = [a.to_delayed().ravel() for a in arrays]
    return list(zip(*grids))


delayed = dask.delayed
