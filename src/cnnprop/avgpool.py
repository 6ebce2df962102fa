"""Average pooling: eqs (A1) and (A2) of docs/pooling.md, with PyTorch's divisor rule."""
import numpy as np

from . import _validate as check
from ._algorithm import resolve
from ._kernels import avgpool_direct, avgpool_fast
from ._threads import resolve_num_threads
from .geometry import as_int
from .pool import pool_geometry

__all__ = ["avgpool2d_forward", "avgpool2d_backward", "divisor_map"]


def _options(count_include_pad, divisor_override):
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"count_include_pad must be a bool, got {count_include_pad!r}")
    if divisor_override is not None:
        divisor_override = as_int(divisor_override, "divisor_override")
        if divisor_override <= 0:
            raise ValueError(f"divisor_override must be None or >= 1, got {divisor_override}")
    return bool(count_include_pad), divisor_override


def divisor_map(g, count_include_pad=True, divisor_override=None):
    """The divisor ``D(p, q)`` of every window, float64 of shape ``(P, Q)`` (docs/pooling.md).

    PyTorch's rule: with ``h0 = p u - p_t`` and ``h1 = min(h0 + R, H + p_b)``
    (``w0``, ``w1`` likewise), ``count_include_pad=True`` gives
    ``(h1 - h0)(w1 - w0)``, ``False`` the number of input positions in the
    window, ``(min(h1, H) - max(h0, 0))(min(w1, W) - max(w0, 0))``;
    ``divisor_override`` replaces both.

    Parameters
    ----------
    g : Window
        From :func:`cnnprop.pool.pool_geometry` (dilation 1).
    count_include_pad : bool
    divisor_override : int or None

    Returns
    -------
    ndarray of shape (P, Q), float64

    Examples
    --------
    >>> from cnnprop.pool import pool_geometry
    >>> divisor_map(pool_geometry((3, 3), 2, 2, 1), count_include_pad=False)
    array([[1., 2.],
           [2., 4.]])
    """
    if divisor_override is not None:
        return np.full((g.P, g.Q), float(divisor_override))

    def axis(out, step, before, after, kernel, size):
        start = np.arange(out) * step - before
        stop = np.minimum(start + kernel, size + after)
        if count_include_pad:
            return stop - start
        return np.minimum(stop, size) - np.maximum(start, 0)

    rows = axis(g.P, g.u, g.pt, g.pb, g.R, g.H)
    cols = axis(g.Q, g.v, g.pl, g.pr, g.S, g.W)
    return np.multiply.outer(rows, cols).astype(np.float64)


def _geometry(input_hw, window, stride, padding, ceil_mode):
    return pool_geometry(input_hw, window, stride, padding, 1, ceil_mode)


def avgpool2d_forward(z, window, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None, *, algorithm="auto", num_threads=None):
    """Average pooling forward pass, eq (A1).

    ``y[n,c,p,q] = (1 / D(p,q)) sum_{r,s} Zp[n,c,h,w]`` with
    ``h = p*u + r - p_t``, ``w = q*v + s - p_l`` and ``Zp = 0`` outside the
    input; ``D`` as :func:`divisor_map` gives it.

    Parameters
    ----------
    z : ndarray of shape (N, C, H, W) or (C, H, W)
        Layer input, float32 or float64; N may be 0.
    window : int or (int, int)
        ``(R, S)``; ``(H, W)`` is global average pooling.
    stride : int or (int, int), optional
        ``(u, v)``; defaults to the window.
    padding : int, (int, int), ((int, int), (int, int)), "valid" or "same"
        Every side smaller than the window.
    ceil_mode : bool
        Round the output size up (no window starts in the bottom or right
        padding); windows past the padding hold fewer positions.
    count_include_pad : bool
        Count the padding in the divisor (default), or only the input
        positions.
    divisor_override : int, optional
        A divisor for every window, at least 1.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel (sums in float64). ``"fast"``: one
        tap at a time across output rows, summing in the data type.
        ``"auto"`` (default): the choice of :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, C, P, Q) or (C, P, Q)
        Same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float dtype, non-bool ``count_include_pad``.
    ValueError
        Bad geometry (padding must be smaller than the window on every
        side), ``divisor_override`` below 1.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> cnnprop.avgpool2d_forward(z, 2, 1)[0, 0]
    array([[2., 3.],
           [5., 6.]])
    >>> cnnprop.avgpool2d_forward(z, 2, 2, ceil_mode=True)[0, 0]
    array([[2. , 3.5],
           [6.5, 8. ]])
    """
    include, override = _options(count_include_pad, divisor_override)
    z, unbatched = check.nchw(z, "z")
    g = _geometry(z.shape[2:], window, stride, padding, ceil_mode)
    divisor = divisor_map(g, include, override)
    work = z.shape[0] * z.shape[1] * g.P * g.Q * g.R * g.S
    threads = resolve_num_threads(num_threads, work=work)
    y = np.empty(z.shape[:2] + (g.P, g.Q), dtype=z.dtype)
    kernels = avgpool_fast if resolve(algorithm, work, 0) == "fast" else avgpool_direct
    kernels.avgpool2d_forward(z, y, divisor, g.R, g.S, g.u, g.v, g.pt, g.pl, threads)
    return y[0] if unbatched else y


def avgpool2d_backward(delta, input_shape, window, stride=None, padding=0, ceil_mode=False,
                       count_include_pad=True, divisor_override=None, *, algorithm="auto",
                       num_threads=None):
    """Input delta of average pooling, eq (A2).

    ``dz[n,c,h,w] = sum_{(p,q)} delta[n,c,p,q] / D(p,q)`` over the windows
    that hold ``(h, w)``: the adjoint of eq (A1), which is linear.

    Parameters
    ----------
    delta : ndarray of shape (N, C, P, Q) or (C, P, Q)
        ``dE_n/dZ(l+1)``, float32 or float64.
    input_shape : tuple of int
        ``(N, C, H, W)``, or ``(C, H, W)`` with an unbatched ``delta``.
    window, stride, padding, ceil_mode, count_include_pad, divisor_override
        As in :func:`avgpool2d_forward`.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal gather (sums in float64). ``"fast"``: a
        scatter of ``delta / D`` one tap at a time, in the data type.
        ``"auto"`` (default): the choice of :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape ``input_shape``
        Same dtype as ``delta``.

    Raises
    ------
    TypeError, ValueError
        As :func:`avgpool2d_forward`; ``delta`` not of the pooled shape.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> cnnprop.avgpool2d_backward(np.ones((1, 1, 1, 1)), (1, 1, 2, 2), 2)[0, 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    include, override = _options(count_include_pad, divisor_override)
    delta, unbatched = check.nchw(delta, "delta", "(N, C, P, Q)")
    shape = check.batched_shape(input_shape, "input_shape", unbatched)
    g = _geometry(shape[2:], window, stride, padding, ceil_mode)
    check.check_shape(delta, "delta", shape[:2] + (g.P, g.Q),
                      f"input_shape {shape} pooled with window ({g.R}, {g.S}), stride ({g.u}, {g.v})")
    divisor = divisor_map(g, include, override)
    work = delta.size * g.R * g.S
    threads = resolve_num_threads(num_threads, work=work)
    dz = np.empty(shape, dtype=delta.dtype)
    if resolve(algorithm, work, 0) == "fast":
        scratch = np.empty((threads, g.Q), dtype=delta.dtype)
        avgpool_fast.avgpool2d_backward(delta, dz, divisor, scratch, g.R, g.S, g.u, g.v, g.pt, g.pl)
    else:
        avgpool_direct.avgpool2d_backward(delta, dz, divisor, g.R, g.S, g.u, g.v, g.pt, g.pl, threads)
    return dz[0] if unbatched else dz
