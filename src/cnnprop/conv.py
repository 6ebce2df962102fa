"""2-D convolution: eqs (4)-(9) of docs/spec.md.

Each function validates its arguments, resolves the geometry and the thread
count, allocates the result, picks a kernel and runs it: the literal kernel
of the equation (``algorithm="direct"``, the reference) or its lowering to
matrix products (``algorithm="fast"``).
"""
import numpy as np

from . import _validate as check
from ._blas_threads import controller as blas_threads
from ._algorithm import resolve
from ._gemm_plan import AUTO_GEMM_WORK, fits_blas, plan_conv
from ._kernels import conv_direct, conv_gemm
from ._threads import resolve_num_threads
from .geometry import sliding_window

__all__ = [
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_filter",
    "conv2d_backward_bias",
]


def _nchw(value, name, letters="(N, C, H, W)"):
    return check.float_array(value, name, ndim=4, what=letters)


def _check_channels(count, name, expected, expected_name):
    if count != expected:
        raise ValueError(
            f"{name} does not match {expected_name}: {count} != {expected}"
        )


def _gemm_setup(N, C, K, g, dtype, num_threads, work, tasks):
    """Plan, thread count (at most one thread a task) and scratch of a fast-path call."""
    plan = plan_conv(N, C, K, g.P, g.Q, g.R, g.S, (g.u, g.v), (g.ph, g.pw), dtype.itemsize)
    threads = min(resolve_num_threads(num_threads, work=work), tasks(plan))
    return plan, threads


def _scratch(threads, size, dtype):
    # never empty: a bounds-checked build checks even untaken pointers' rows
    return np.empty((threads, max(1, size)), dtype=dtype)


def conv2d_forward(z, f, b=None, stride=1, padding=0, *, algorithm="auto", num_threads=None):
    """Convolution forward pass, eq (4).

    ``out[n,k,p,q] = sum_{c,r,s} z[n,c,h,w] * f[k,c,r,s] + b[k]`` with
    ``h = p*u + r - p_h`` and ``w = q*v + s - p_w``; terms whose ``(h, w)``
    falls in the zero padding contribute 0.

    Parameters
    ----------
    z : ndarray of shape (N, C, H, W)
        Layer input, float32 or float64.
    f : ndarray of shape (K, C, R, S)
        Kernels, same dtype as ``z``.
    b : ndarray of shape (K,), optional
        One bias per output channel (erratum E6). None means no bias.
    stride : int or (int, int)
        ``(u, v)``, at least 1.
    padding : int or (int, int)
        Zero padding ``(p_h, p_w)`` on each side, at least 0.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"`` for calls of at least 200k
        multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, K, P, Q)
        ``P = (H + 2 p_h - R) // u + 1``, ``Q = (W + 2 p_w - S) // v + 1``;
        same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Wrong ranks, channel mismatch, bad stride or padding, or a kernel
        that does not fit in the padded input.

    Notes
    -----
    The literal kernel sums in float64 and rounds once to the output dtype;
    the fast path sums in the data type. Either way the result is bitwise the
    same for any ``num_threads``. NaN and inf propagate as in IEEE arithmetic
    (see docs/conventions.md for kernel weights facing the padding).
    Non-contiguous inputs are copied first.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> f = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv2d_forward(z, f, stride=2)[0, 0]
    array([[10., 18.],
           [42., 50.]])
    """
    z = _nchw(z, "z")
    f = _nchw(f, "f", "(K, C, R, S)")
    if b is not None:
        b = check.float_array(b, "b", ndim=1, what="(K,)")
    dtype = check.same_dtype(z=z, f=f, b=b)
    N, C = z.shape[:2]
    K = f.shape[0]
    _check_channels(f.shape[1], "input channels of f (f.shape[1])", C, "input channels of z (z.shape[1])")
    if b is None:
        b = np.zeros(K, dtype=dtype)
    check.check_shape(b, "b", (K,), "one bias per output channel of f")
    g = sliding_window(z.shape[2:], f.shape[2:], stride, padding)
    work = N * K * g.P * g.Q * f[0].size
    out = np.empty((N, K, g.P, g.Q), dtype=dtype)
    fits = fits_blas(K, f[0].size, N * g.P * g.Q, z[0, 0].size)
    if resolve(algorithm, work, AUTO_GEMM_WORK, fits) == "direct":
        threads = resolve_num_threads(num_threads, work=work)
        scratch = np.empty((threads, g.P * g.Q))     # one float64 accumulator plane a thread
        conv_direct.conv2d_forward(z, f, b, out, scratch, g.u, g.v, g.ph, g.pw)
        return out
    plan, threads = _gemm_setup(N, C, K, g, dtype, num_threads, work, lambda p: len(p.blocks))
    multi = bool(np.any(plan.blocks[:, 1] - plan.blocks[:, 0] > 1))
    cols = _scratch(threads, 0 if plan.direct_cols else f[0].size * plan.max_cols, dtype)
    block_out = _scratch(threads, K * plan.max_cols if multi else 0, dtype)
    with blas_threads().limit(1):
        conv_gemm.conv2d_forward(z, f, b, out, plan.blocks, cols, block_out,
                                 g.u, g.v, g.ph, g.pw, plan.direct_cols)
    return out


def conv2d_backward_input(delta, f, input_shape, stride=1, padding=0, *, algorithm="auto",
                          num_threads=None):
    """Input delta of a convolution, eqs (7)-(9).

    ``dz[n,c,h,w] = sum_k sum_{p=Pmin..Pmax} sum_{q=Qmin..Qmax} delta[n,k,p,q] * f[k,c,r,s]``
    with ``r = h - p*u + p_h``, ``s = w - q*v + p_w`` and the window ranges
    ``Pmin = max(0, ceil((h + p_h - R + 1) / u))``,
    ``Pmax = min(P - 1, floor((h + p_h) / u))`` of eq (8) (and eq (9) for q).

    Parameters
    ----------
    delta : ndarray of shape (N, K, P, Q)
        ``dE_n/dZ(l+1)``, the delta of the layer output.
    f : ndarray of shape (K, C, R, S)
        Kernels, same dtype as ``delta``.
    input_shape : tuple of 4 ints
        ``(N, C, H, W)`` of the layer input. Needed because a stride can leave
        trailing rows or columns of the input unused, which a shape computed
        from ``delta`` alone cannot know.
    stride : int or (int, int)
        ``(u, v)`` of the forward pass.
    padding : int or (int, int)
        ``(p_h, p_w)`` of the forward pass.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"`` for calls of at least 200k
        multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, C, H, W)
        ``dE_n/dZ(l)``, same dtype as ``delta``. Input positions that no
        window covers get 0.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, or a malformed ``input_shape``.
    ValueError
        Wrong ranks, or ``delta``/``f`` not matching ``input_shape`` and the
        geometry.

    Notes
    -----
    The literal kernel computes a gather over the window ranges, as eq (7)
    reads, with sums in float64; the fast path computes ``F^T delta`` and
    scatters it back (col2im). Either way bitwise independent of
    ``num_threads``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> delta = np.ones((1, 1, 2, 2))
    >>> f = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv2d_backward_input(delta, f, (1, 1, 5, 5), stride=2)[0, 0]
    array([[1., 1., 1., 1., 0.],
           [1., 1., 1., 1., 0.],
           [1., 1., 1., 1., 0.],
           [1., 1., 1., 1., 0.],
           [0., 0., 0., 0., 0.]])
    """
    delta = _nchw(delta, "delta", "(N, K, P, Q)")
    f = _nchw(f, "f", "(K, C, R, S)")
    dtype = check.same_dtype(delta=delta, f=f)
    N, C, H, W = check.shape_tuple(input_shape, "input_shape", 4)
    K = f.shape[0]
    _check_channels(f.shape[1], "input channels of f (f.shape[1])", C, "input_shape[1]")
    g = sliding_window((H, W), f.shape[2:], stride, padding)
    check.check_shape(delta, "delta", (N, K, g.P, g.Q),
                      f"(N, K, P, Q) for input_shape {(N, C, H, W)}, {K} kernels of "
                      f"{g.R}x{g.S}, stride ({g.u}, {g.v}), padding ({g.ph}, {g.pw})")
    work = delta.size * f[0].size
    dz = np.empty((N, C, H, W), dtype=dtype)
    fits = fits_blas(K, f[0].size, N * g.P * g.Q, H * W)
    if resolve(algorithm, work, AUTO_GEMM_WORK, fits) == "direct":
        threads = resolve_num_threads(num_threads, work=work)
        conv_direct.conv2d_backward_input(delta, f, dz, g.u, g.v, g.ph, g.pw, threads)
        return dz
    plan, threads = _gemm_setup(N, C, K, g, dtype, num_threads, work,
                                lambda p: len(p.groups) * len(p.channels))
    rows = int(np.max(plan.channels[:, 1] - plan.channels[:, 0])) * g.R * g.S
    cols = _scratch(threads, 0 if plan.direct_cols else rows * plan.max_cols, dtype)
    block_delta = _scratch(threads, K * plan.max_cols, dtype)
    with blas_threads().limit(1):
        conv_gemm.conv2d_backward_input(delta, f, dz, plan.blocks, plan.groups, plan.channels,
                                        cols, block_delta, g.u, g.v, g.ph, g.pw, plan.direct_cols)
    return dz


def conv2d_backward_filter(delta, z, kernel_size, stride=1, padding=0, reduction="mean",
                           *, algorithm="auto", num_threads=None):
    """Kernel gradient of a convolution, eq (5).

    ``df[k,c,r,s] = (1/N) sum_{n,p,q} delta[n,k,p,q] * z[n,c,h,w]`` with
    ``h = p*u + r - p_h``, ``w = q*v + s - p_w`` (padding terms are 0).

    Parameters
    ----------
    delta : ndarray of shape (N, K, P, Q)
        ``dE_n/dZ(l+1)``.
    z : ndarray of shape (N, C, H, W)
        Layer input of the forward pass, same dtype as ``delta``.
    kernel_size : int or (int, int)
        ``(R, S)``.
    stride : int or (int, int)
        ``(u, v)`` of the forward pass.
    padding : int or (int, int)
        ``(p_h, p_w)`` of the forward pass.
    reduction : {"mean", "sum"}
        ``"mean"`` is the source's ``1/N`` (gradient of the mean loss,
        erratum E9); ``"sum"`` drops it.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"`` for calls of at least 200k
        multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (K, C, R, S)
        ``dE/dF``, same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Wrong ranks, ``delta`` not matching the geometry, unknown ``reduction``.

    Notes
    -----
    The sum over ``n, p, q`` runs in a fixed order (float64 in the literal
    kernel, the data type on the fast path): the result is bitwise the same
    for any ``num_threads``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> delta = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv2d_backward_filter(delta, z, (2, 2))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    delta = _nchw(delta, "delta", "(N, K, P, Q)")
    z = _nchw(z, "z")
    dtype = check.same_dtype(delta=delta, z=z)
    N, C, H, W = z.shape
    K = delta.shape[1]
    divisor = check.reduction_divisor(reduction, N)
    g = sliding_window((H, W), kernel_size, stride, padding, window_name="kernel_size")
    check.check_shape(delta, "delta", (N, K, g.P, g.Q),
                      f"(N, K, P, Q) for z of shape {z.shape}, kernel_size ({g.R}, {g.S}), "
                      f"stride ({g.u}, {g.v}), padding ({g.ph}, {g.pw})")
    work = delta.size * C * g.R * g.S
    df = np.empty((K, C, g.R, g.S), dtype=dtype)
    fits = fits_blas(K, C * g.R * g.S, N * g.P * g.Q, H * W)
    if resolve(algorithm, work, AUTO_GEMM_WORK, fits) == "direct":
        threads = resolve_num_threads(num_threads, work=work)
        conv_direct.conv2d_backward_filter(delta, z, df, g.u, g.v, g.ph, g.pw, divisor, threads)
        return df
    plan, threads = _gemm_setup(N, C, K, g, dtype, num_threads, work,
                                lambda p: max(len(p.spans) * len(p.rows), 2))
    rows = int(np.max(plan.rows[:, 1] - plan.rows[:, 0]))
    cols = _scratch(threads, 0 if plan.direct_cols else rows * plan.max_cols, dtype)
    block_delta = _scratch(threads, K * plan.max_cols, dtype)
    partials = np.empty((len(plan.spans), df.size), dtype=dtype)
    with blas_threads().limit(1):
        conv_gemm.conv2d_backward_filter(delta, z, df, plan.blocks, plan.spans, plan.rows, partials,
                                         cols, block_delta, g.u, g.v, g.ph, g.pw, plan.direct_cols,
                                         divisor)
    return df


def conv2d_backward_bias(delta, reduction="mean", *, num_threads=None):
    """Bias gradient of a convolution, eq (6).

    ``db[k] = (1/N) sum_{n,p,q} delta[n,k,p,q]``.

    Parameters
    ----------
    delta : ndarray of shape (N, K, P, Q)
        ``dE_n/dZ(l+1)``.
    reduction : {"mean", "sum"}
        ``"mean"`` is the source's ``1/N`` (erratum E9); ``"sum"`` drops it.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (K,)
        ``dE/db``, same dtype as ``delta``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Wrong rank or unknown ``reduction``.

    Notes
    -----
    Summed in float64 in a fixed order, independent of ``num_threads``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> cnnprop.conv2d_backward_bias(np.ones((2, 3, 4, 4)))
    array([16., 16., 16.])
    """
    delta = _nchw(delta, "delta", "(N, K, P, Q)")
    divisor = check.reduction_divisor(reduction, delta.shape[0])
    threads = resolve_num_threads(num_threads, work=delta.size)
    db = np.empty(delta.shape[1], dtype=delta.dtype)
    conv_direct.conv2d_backward_bias(delta, db, divisor, threads)
    return db
