"""Calling the adapter: conventions in and out, and a clear failure for a misbehaving call.

Data is drawn in cnnprop's conventions; :func:`to_user` and :func:`from_user`
apply the adapter's layout, kernel layout and kernel flip. :func:`call`
runs one direction and turns whatever goes wrong in the user's code (an
exception, a result of the wrong shape or dtype, an input written into) into
an :class:`AdapterFailure` that says so, never a traceback from cnnprop.
"""
import traceback

import numpy as np

import cnnprop

from .cases import cnnprop_kwargs

__all__ = ["AdapterFailure", "call", "to_user", "from_user", "kernel_to_user", "kernel_from_user",
           "cnnprop_forward_shape"]


class AdapterFailure(Exception):
    """The adapter's code misbehaved (raised, wrong shape or dtype, wrote into an input)."""


def to_user(a, adapter):
    """An NCHW activation tensor in the adapter's layout."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)) if adapter.layout == "NHWC" else a


def from_user(a, adapter):
    """An activation tensor of the adapter's layout back in NCHW."""
    return a.transpose(0, 3, 1, 2) if adapter.layout == "NHWC" else a


def user_shape(shape, adapter):
    """An NCHW shape in the adapter's layout."""
    if adapter.layout == "NHWC" and len(shape) == 4:
        N, C, H, W = shape
        return (N, H, W, C)
    return tuple(shape)


def kernel_to_user(f, adapter):
    """A (K, C, R, S) correlation kernel (or an (I, J) weight) in the adapter's conventions."""
    if adapter.family == "affine":
        return np.ascontiguousarray(f.T) if adapter.kernel_layout == "JI" else f
    if adapter.convolution == "true":
        f = f[:, :, ::-1, ::-1]
    if adapter.kernel_layout == "RSCK":
        f = f.transpose(2, 3, 1, 0)
    return np.ascontiguousarray(f)


def kernel_from_user(f, adapter):
    """A kernel (or kernel gradient) of the adapter's conventions back in cnnprop's."""
    if adapter.family == "affine":
        return f.T if adapter.kernel_layout == "JI" else f
    if adapter.kernel_layout == "RSCK":
        f = f.transpose(3, 2, 0, 1)
    if adapter.convolution == "true":
        f = f[:, :, ::-1, ::-1]
    return f


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"array{value.shape} {value.dtype}"
    return repr(value)


def _where(exc):
    """The innermost frame of the user's traceback, as file:line."""
    frames = traceback.extract_tb(exc.__traceback__)
    if len(frames) <= 1:
        return ""
    frame = frames[-1]
    return f" at {frame.filename}:{frame.lineno} ({frame.name})"


def call(adapter, direction, args, kwargs, expected, dtype, what):
    """Run one direction of the adapter and check what it returns.

    Parameters
    ----------
    adapter : Adapter
    direction : {"forward", "backward_input", "backward_params"}
    args, kwargs : tuple, dict
        The call, in the adapter's conventions.
    expected : tuple of tuple
        The expected shape of each result (one result unless
        ``backward_params``: the weight and the bias gradients; a bias
        gradient of None is accepted and skipped).
    dtype : str
        The dtype every result must have.
    what : tuple of str
        Names of the results, for the messages (``("dZ",)``).

    Returns
    -------
    list of ndarray or None
    """
    fn = getattr(adapter, direction)
    label = f"{adapter.name}.{direction}"
    signature = ", ".join([_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()])
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:   # the user's code failing is a finding, reported as one
        raise AdapterFailure(f"{label}({signature}) raised {type(exc).__name__}: {exc}{_where(exc)}") from exc
    for i, (a, before) in enumerate(zip(args, copies)):
        if before is not None and not np.array_equal(a, before, equal_nan=True):
            raise AdapterFailure(f"{label} wrote into its input argument {i + 1} ({_describe(before)}): "
                                 "an implementation must not modify its inputs")
    results = tuple(out) if len(expected) > 1 and isinstance(out, (tuple, list)) else (out,)
    if len(results) != len(expected):
        raise AdapterFailure(f"{label} returned {len(results)} results, expected {len(expected)} "
                             f"({', '.join(what)})")
    arrays = []
    for value, shape, name in zip(results, expected, what):
        if value is None and name.startswith("db"):
            arrays.append(None)
            continue
        try:
            arr = np.asarray(value)
        except Exception as exc:
            raise AdapterFailure(f"{label} returned {type(value).__name__} for {name}, not an array: {exc}") from exc
        if arr.shape != tuple(shape):
            raise AdapterFailure(f"{label} returned {name} of shape {arr.shape}, expected {tuple(shape)} "
                                 f"(called with {signature})")
        if arr.dtype != np.dtype(dtype):
            raise AdapterFailure(f"{label} returned {name} of dtype {arr.dtype} for {dtype} inputs")
        arrays.append(arr)
    return arrays


def cnnprop_forward_shape(case, family):
    """The output shape of cnnprop's forward pass for the case (raises on an invalid geometry)."""
    kw = cnnprop_kwargs(case, family)
    if family == "convolution":
        z = np.zeros((case.N, case.C, case.H, case.W))
        f = np.zeros((case.K, case.C // case.groups, case.R, case.S))
        return cnnprop.conv2d_forward(z, f, None, **kw).shape
    if family == "transposed_convolution":
        x = np.zeros((case.N, case.C, case.H, case.W))
        f = np.zeros((case.C, case.K // case.groups, case.R, case.S))
        return cnnprop.conv_transpose2d_forward(x, f, None, **kw).shape
    if family == "max_pooling":
        return cnnprop.maxpool2d_forward(np.zeros((case.N, case.C, case.H, case.W)), **kw).shape
    if family == "average_pooling":
        return cnnprop.avgpool2d_forward(np.zeros((case.N, case.C, case.H, case.W)), **kw).shape
    raise ValueError(f"no sliding window in family {family!r}")
