"""Max pooling: eqs (13) and (14) of docs/spec.md, with errata E7 (ties) and E8 (padding)."""
import numpy as np

from . import _validate as check
from ._algorithm import resolve
from ._kernels import pool_direct, pool_fast
from ._threads import resolve_num_threads
from .geometry import sliding_window

__all__ = ["maxpool2d_forward", "maxpool2d_backward"]

TIES = ("all", "first")


def _pool_geometry(z, window, stride, padding):
    g = sliding_window(z.shape[2:], window, window if stride is None else stride,
                       padding, window_name="window")
    # With padding >= window some window would hold padding only and pool to
    # -inf; every framework forbids that too.
    if g.ph >= g.R or g.pw >= g.S:
        raise ValueError(
            f"padding must be smaller than the window in both axes, got padding "
            f"({g.ph}, {g.pw}) for window ({g.R}, {g.S}); a larger padding makes "
            "windows that hold padding only"
        )
    return g


def maxpool2d_forward(z, window, stride=None, padding=0, *, algorithm="auto", num_threads=None):
    """Max pooling forward pass, eq (13).

    ``y[n,c,p,q] = max_{r,s} z[n,c,h,w]`` with ``h = p*u + r - p_h``,
    ``w = q*v + s - p_w``; channels are not mixed.

    Parameters
    ----------
    z : ndarray of shape (N, C, H, W)
        Layer input, float32 or float64.
    window : int or (int, int)
        ``(R, S)``.
    stride : int or (int, int), optional
        ``(u, v)``; defaults to the window (non-overlapping pooling).
    padding : int or (int, int)
        ``(p_h, p_w)``, smaller than the window. Padded positions never win
        (erratum E8): they act as minus infinity, so padding never changes
        the output.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation (the reference
        path). ``"fast"``: one window tap at a time across output rows,
        vectorised. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, C, P, Q)
        Same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Wrong rank, bad window, stride or padding (padding must be smaller
        than the window), or a window that does not fit in the padded input.

    Notes
    -----
    A window that contains a NaN pools to NaN (as :func:`numpy.max` does).

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> cnnprop.maxpool2d_forward(z, 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    z = check.float_array(z, "z", ndim=4, what="(N, C, H, W)")
    g = _pool_geometry(z, window, stride, padding)
    work = z.shape[0] * z.shape[1] * g.P * g.Q * g.R * g.S
    kernels = pool_fast if resolve(algorithm, work, 0) == "fast" else pool_direct
    threads = resolve_num_threads(num_threads, work=work)
    y = np.empty(z.shape[:2] + (g.P, g.Q), dtype=z.dtype)
    kernels.maxpool2d_forward(z, y, g.R, g.S, g.u, g.v, g.ph, g.pw, threads)
    return y


def maxpool2d_backward(delta, z, y, window, stride=None, padding=0, ties="all",
                       *, algorithm="auto", num_threads=None):
    """Input delta of max pooling, eq (14).

    ``dz[n,c,h,w] = sum_{p=Pmin..Pmax} sum_{q=Qmin..Qmax} delta[n,c,p,q] * B``
    over the windows that cover ``(h, w)`` (eqs (8)-(9)), with
    ``B = 1 if y[n,c,p,q] == z[n,c,h,w] else 0``. An input that is the
    maximum of several overlapping windows receives the sum of their deltas.

    Parameters
    ----------
    delta : ndarray of shape (N, C, P, Q)
        ``dE_n/dZ(l+1)``.
    z : ndarray of shape (N, C, H, W)
        Layer input of the forward pass.
    y : ndarray of shape (N, C, P, Q)
        The output of :func:`maxpool2d_forward` for ``z`` and this geometry.
    window, stride, padding
        As in :func:`maxpool2d_forward`.
    ties : {"all", "first"}
        ``"all"`` is the source's rule: every input equal to the window
        maximum receives the full delta, so at a tie the deltas are
        duplicated, not split. ``"first"`` routes each window's delta to its
        first maximum in row-major scan order, as PyTorch and TensorFlow do
        (erratum E7). Without ties both rules agree.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation (the reference
        path). ``"fast"``: one window tap at a time across output rows,
        vectorised. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, C, H, W)
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
    delta = check.float_array(delta, "delta", ndim=4, what="(N, C, P, Q)")
    z = check.float_array(z, "z", ndim=4, what="(N, C, H, W)")
    y = check.float_array(y, "y", ndim=4, what="(N, C, P, Q)")
    dtype = check.same_dtype(z=z, delta=delta, y=y)
    check.one_of(ties, "ties", TIES)
    g = _pool_geometry(z, window, stride, padding)
    pooled = z.shape[:2] + (g.P, g.Q)
    why = f"z of shape {z.shape} pooled with window ({g.R}, {g.S}), stride ({g.u}, {g.v}), padding ({g.ph}, {g.pw})"
    check.check_shape(y, "y", pooled, why)
    check.check_shape(delta, "delta", pooled, why)
    work = delta.size * g.R * g.S
    threads = resolve_num_threads(num_threads, work=work)
    dz = np.empty(z.shape, dtype=dtype)
    # the fast kernel counts plane offsets in C ints
    if resolve(algorithm, work, 0, fits=g.H * g.W < 2 ** 31) == "fast":
        # per thread and window of a row: where its first maximum is, how many
        scratch = np.empty((threads, 2 * g.Q), dtype=np.intc)
        pool_fast.maxpool2d_backward(delta, z, y, dz, scratch, g.R, g.S, g.u, g.v, g.ph, g.pw,
                                     ties == "first")
        return dz
    # ties="first" scatters into one float64 plane a thread; "all" needs none
    scratch = np.empty((threads, g.H * g.W if ties == "first" else 1))
    pool_direct.maxpool2d_backward(delta, z, y, dz, scratch, g.R, g.S, g.u, g.v, g.ph, g.pw,
                                   ties == "first")
    return dz
