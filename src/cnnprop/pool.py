"""Max pooling: eqs (13g) and (14) of docs/pooling.md (general form of docs/spec.md's
eqs (13)-(14)), with errata E7 (ties) and E8 (padding), indices and the backward
pass from indices."""
import numpy as np

from . import _validate as check
from ._algorithm import resolve
from ._kernels import pool_direct, pool_fast
from ._threads import resolve_num_threads
from .geometry import sliding_window

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "maxpool2d_backward_indices"]

TIES = ("all", "first")


def pool_geometry(input_hw, window, stride, padding, dilation=1, ceil_mode=False):
    """The validated :class:`~cnnprop.geometry.Window` of a pooling layer.

    The padding rule (docs/pooling.md): every side's padding is smaller than
    the window's extent ``R_e = d_h (R - 1) + 1`` (``S_e`` across), and
    every window must hold at least one input position (only dilation can
    break that once the padding rule holds). PyTorch's stricter
    ``p <= R_e // 2`` is a special case, so every PyTorch geometry is
    accepted.
    """
    g = sliding_window(input_hw, window, window if stride is None else stride, padding,
                       dilation, ceil_mode, window_name="window")
    for axis, before, after, extent in (("height", g.pt, g.pb, g.Re), ("width", g.pl, g.pr, g.Se)):
        if max(before, after) >= extent:
            raise ValueError(
                f"padding must be smaller than the window extent on every side, got padding "
                f"({before}, {after}) along the {axis} for window extent {extent}; a larger "
                "padding makes windows that hold padding only")
    for axis, size, out, kernel, step, before, dil in (("height", g.H, g.P, g.R, g.u, g.pt, g.dh),
                                                       ("width", g.W, g.Q, g.S, g.v, g.pl, g.dw)):
        if dil == 1:
            continue                    # a contiguous window that starts before the end and
            # ends after the start (padding < extent) always holds an input position
        taps = np.arange(out)[:, None] * step - before + np.arange(kernel)[None, :] * dil
        empty = ~np.any((taps >= 0) & (taps < size), axis=1)
        if empty.any():
            p = int(np.argmax(empty))
            raise ValueError(
                f"window {p} along the {axis} holds no input position (its taps "
                f"{taps[p].tolist()} all fall in the padding of an input of {size}); "
                "such a window has no maximum: use less padding or dilation")
    return g


def _describe(g):
    return (f"window ({g.R}, {g.S}), stride ({g.u}, {g.v}), padding "
            f"(({g.pt}, {g.pb}), ({g.pl}, {g.pr})), dilation ({g.dh}, {g.dw})"
            + (", ceil_mode" if g.ceil_mode else ""))


def _taps(g):
    return g.R, g.S, g.u, g.v, g.pt, g.pl, g.dh, g.dw


def maxpool2d_forward(z, window, stride=None, padding=0, dilation=1, ceil_mode=False, *,
                      return_indices=False, algorithm="auto", num_threads=None):
    """Max pooling forward pass, eq (13g) (eq (13) with the defaults).

    ``y[n,c,p,q] = max_{r,s} z[n,c,h,w]`` with ``h = p*u + r*d_h - p_t``,
    ``w = q*v + s*d_w - p_l``, over the taps inside the input; channels are
    not mixed.

    Parameters
    ----------
    z : ndarray of shape (N, C, H, W) or (C, H, W)
        Layer input, float32 or float64; N may be 0.
    window : int or (int, int)
        ``(R, S)``.
    stride : int or (int, int), optional
        ``(u, v)``; defaults to the window (non-overlapping pooling).
    padding : int, (int, int), ((int, int), (int, int)), "valid" or "same"
        ``p``, ``(p_h, p_w)`` or ``((p_t, p_b), (p_l, p_r))``; every side
        smaller than the window's extent. Padded positions never win
        (erratum E8): they act as minus infinity.
    dilation : int or (int, int)
        ``(d_h, d_w)``, the distance between window taps.
    ceil_mode : bool
        Round the output size up (PyTorch's rule: no window starts in the
        bottom or right padding); the last windows may run past the padding.
    return_indices : bool
        Also return the flat index ``h*W + w`` (int64) of each window's first
        maximum in row-major scan order, PyTorch's convention.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation (the reference
        path). ``"fast"``: one window tap at a time across output rows,
        vectorised. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    y : ndarray of shape (N, C, P, Q) or (C, P, Q)
        Same dtype as ``z``.
    indices : ndarray of int64, same shape as ``y``
        Only with ``return_indices=True``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Wrong rank, bad window, stride, dilation or padding (each side must
        be smaller than the window extent), a geometry without output, or a
        window that holds no input position.

    Notes
    -----
    A window that contains a NaN pools to NaN (as :func:`numpy.max` does);
    its index is that of its first NaN in row-major scan order.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> cnnprop.maxpool2d_forward(z, 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> y, i = cnnprop.maxpool2d_forward(z, 3, 2, ceil_mode=True, return_indices=True)
    >>> i[0, 0]
    array([[10, 11],
           [14, 15]])
    """
    z, unbatched = check.nchw(z, "z")
    g = pool_geometry(z.shape[2:], window, stride, padding, dilation, ceil_mode)
    work = z.shape[0] * z.shape[1] * g.P * g.Q * g.R * g.S
    threads = resolve_num_threads(num_threads, work=work)
    y = np.empty(z.shape[:2] + (g.P, g.Q), dtype=z.dtype)
    # the fast kernel numbers a window's taps in an int (windows of 2**31 taps
    # or more, which no memory holds as an input plane, take the literal one)
    if resolve(algorithm, work, 0) == "fast" and g.R * g.S < 2**31:
        idx = np.empty(y.shape if return_indices else (0, 0, 0, 0), dtype=np.int64)
        scratch = np.empty((threads, g.Q if return_indices else 1), dtype=np.intc)
        pool_fast.maxpool2d_forward(z, y, idx, scratch, *_taps(g))
    else:
        # the literal kernel always finds the index with the maximum
        idx = np.empty(y.shape, dtype=np.int64)
        pool_direct.maxpool2d_forward(z, y, idx, *_taps(g), threads)
    if not return_indices:
        return y[0] if unbatched else y
    return (y[0], idx[0]) if unbatched else (y, idx)


def _batched(name, value, unbatched, what):
    array, flag = check.nchw(value, name, what)
    if flag != unbatched:
        raise ValueError(f"{name} is {'un' if flag else ''}batched ({array.ndim - flag}-D) but "
                         f"the other operands are not; give all of them (N, C, ...) or all (C, ...)")
    return array


def maxpool2d_backward(delta, z, y, window, stride=None, padding=0, dilation=1, ceil_mode=False,
                       *, ties="all", algorithm="auto", num_threads=None):
    """Input delta of max pooling, eq (14) (general window ranges).

    ``dz[n,c,h,w] = sum_{(p,q)} delta[n,c,p,q] * B`` over the windows that
    hold ``(h, w)`` (the window ranges of docs/pooling.md), with
    ``B = 1 if y[n,c,p,q] == z[n,c,h,w] else 0``. An input that is the
    maximum of several overlapping windows receives the sum of their deltas.

    Parameters
    ----------
    delta : ndarray of shape (N, C, P, Q) or (C, P, Q)
        ``dE_n/dZ(l+1)``.
    z : ndarray of shape (N, C, H, W) or (C, H, W)
        Layer input of the forward pass.
    y : ndarray of shape (N, C, P, Q) or (C, P, Q)
        The output of :func:`maxpool2d_forward` for ``z`` and this geometry.
    window, stride, padding, dilation, ceil_mode
        As in :func:`maxpool2d_forward`.
    ties : {"all", "first"}
        ``"all"`` is the source's rule: every input equal to the window
        maximum receives the full delta, so at a tie the deltas are
        duplicated, not split. ``"first"`` routes each window's delta to its
        first maximum in row-major scan order, as PyTorch and TensorFlow do
        (erratum E7); :func:`maxpool2d_backward_indices` computes the same
        from saved indices without ``z`` and ``y``. Without ties both rules
        agree.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation (the reference
        path). ``"fast"``: one window tap at a time across output rows,
        vectorised. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, C, H, W) or (C, H, W)
        ``dE_n/dZ(l)``, same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Wrong ranks or shapes, bad geometry, unknown ``ties``.

    Notes
    -----
    ``y`` is trusted to be the pooled ``z``: a window whose ``y`` matches no
    input passes no delta. A NaN input that made its window NaN is that
    window's maximum and receives its delta.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    >>> y = cnnprop.maxpool2d_forward(z, 2)
    >>> cnnprop.maxpool2d_backward(np.ones_like(y), z, y, 2, ties="all")[0, 0]
    array([[0., 1.],
           [1., 0.]])
    >>> cnnprop.maxpool2d_backward(np.ones_like(y), z, y, 2, ties="first")[0, 0]
    array([[0., 1.],
           [0., 0.]])
    """
    z, unbatched = check.nchw(z, "z")
    delta = _batched("delta", delta, unbatched, "(N, C, P, Q)")
    y = _batched("y", y, unbatched, "(N, C, P, Q)")
    dtype = check.same_dtype(z=z, delta=delta, y=y)
    check.one_of(ties, "ties", TIES)
    g = pool_geometry(z.shape[2:], window, stride, padding, dilation, ceil_mode)
    pooled = z.shape[:2] + (g.P, g.Q)
    why = f"z of shape {z.shape} pooled with {_describe(g)}"
    check.check_shape(y, "y", pooled, why)
    check.check_shape(delta, "delta", pooled, why)
    work = delta.size * g.R * g.S
    threads = resolve_num_threads(num_threads, work=work)
    dz = np.empty(z.shape, dtype=dtype)
    # the fast kernel counts plane offsets in C ints
    if resolve(algorithm, work, 0, fits=g.H * g.W < 2 ** 31) == "fast":
        # per thread and window of a row: where its first maximum is, how many
        scratch = np.empty((threads, 2 * g.Q), dtype=np.intc)
        pool_fast.maxpool2d_backward(delta, z, y, dz, scratch, *_taps(g), ties == "first")
    else:
        # ties="first" scatters into one float64 plane a thread; "all" needs none
        scratch = np.empty((threads, g.H * g.W if ties == "first" else 1))
        pool_direct.maxpool2d_backward(delta, z, y, dz, scratch, *_taps(g), ties == "first")
    return dz[0] if unbatched else dz


def check_indices(indices, shape, plane_size):
    """``indices`` as a C-contiguous int64 array of ``shape`` with entries in ``[0, plane_size)``.

    Raises a TypeError or ValueError naming ``indices`` otherwise; nothing is
    written before this check passes, so no index can write outside the output.
    """
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"indices must be an int64 ndarray (from maxpool2d_forward(..., "
                        f"return_indices=True)), got {type(indices).__name__}")
    if indices.dtype != np.int64:
        raise TypeError(f"indices must have dtype int64, got {indices.dtype}")
    if indices.shape != tuple(shape):
        raise ValueError(f"indices must have the shape of delta {tuple(shape)}, got {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= plane_size):
        bad = indices[(indices < 0) | (indices >= plane_size)].flat[0]
        raise ValueError(f"indices must lie in [0, H*W) = [0, {plane_size}) for input_shape's "
                         f"plane, got {int(bad)}")
    return np.ascontiguousarray(indices).astype(np.int64, copy=False)


def maxpool2d_backward_indices(delta, indices, input_shape, *, algorithm="auto", num_threads=None):
    """Input delta of max pooling from saved indices: eq (14) with ``ties="first"``.

    ``dz[n,c,h,w] = sum_{(p,q) : I[n,c,p,q] = h*W + w} delta[n,c,p,q]``,
    without re-reading ``z``: where windows overlap, an input that is the
    first maximum of several windows receives the sum of their deltas
    (added in row-major window order, so the result does not depend on the
    thread count).

    Parameters
    ----------
    delta : ndarray of shape (N, C, P, Q) or (C, P, Q)
        ``dE_n/dZ(l+1)``, float32 or float64.
    indices : ndarray of int64, shape of ``delta``
        From ``maxpool2d_forward(..., return_indices=True)`` (or PyTorch's
        ``max_pool2d(..., return_indices=True)``): flat ``h*W + w`` in the plane.
    input_shape : tuple of int
        ``(N, C, H, W)``, or ``(C, H, W)`` with an unbatched ``delta``.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel (float64 plane, rounded once).
        ``"fast"``: a single scatter pass in the data type. ``"auto"``
        (default): the choice of :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape ``input_shape``
        Same dtype as ``delta``.

    Raises
    ------
    TypeError
        Non-float ``delta``; ``indices`` not an int64 array.
    ValueError
        ``indices`` of another shape than ``delta``, an index outside
        ``[0, H*W)``, or ``input_shape`` not matching ``delta``'s N and C.
        All checked before anything is written.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.array([[[[1.0, 3.0, 0.0], [3.0, 0.0, 2.0]]]])
    >>> y, i = cnnprop.maxpool2d_forward(z, 2, stride=1, return_indices=True)
    >>> i[0, 0]
    array([[1, 1]])
    >>> cnnprop.maxpool2d_backward_indices(np.ones_like(y), i, z.shape)[0, 0]
    array([[0., 2., 0.],
           [0., 0., 0.]])
    """
    delta, unbatched = check.nchw(delta, "delta", "(N, C, P, Q)")
    shape = check.batched_shape(input_shape, "input_shape", unbatched)
    if shape[:2] != delta.shape[:2]:
        raise ValueError(f"input_shape {tuple(input_shape)} does not match delta of shape "
                         f"{delta.shape[unbatched:]}: N and C must agree")
    H, W = shape[2:]
    idx = check_indices(indices, delta.shape[unbatched:], H * W)
    if unbatched:
        idx = idx[None]
    dz = np.empty(shape, dtype=delta.dtype)
    threads = resolve_num_threads(num_threads, work=delta.size)
    if resolve(algorithm, delta.size, 0) == "fast":
        pool_fast.maxpool2d_backward_indices(delta, idx, dz, threads)
    else:
        pool_direct.maxpool2d_backward_indices(delta, idx, dz, np.empty((threads, H * W)))
    return dz[0] if unbatched else dz
