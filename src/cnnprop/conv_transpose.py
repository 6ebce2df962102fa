"""Transposed 2-D convolution: eq (7g) as a layer, with eqs (4g), (5g) as its gradients.

``conv_transpose2d_forward`` is the input delta of a convolution (eq (7g))
with ``x`` in the role of ``D'``, plus a bias: the adjoint of eq (4g)
(docs/spec-beyond.md, "Transposed convolution"). Its input gradient is
eq (4g), its kernel gradient eq (5g) with the roles of input and delta
swapped. Every function here calls the general convolution kernels of
:mod:`cnnprop.conv` (both paths), with PyTorch's conventions: ``f`` of shape
``(C_in, C_out / groups, R, S)``, output height
``(H_in - 1) u - p_t - p_b + d_h (R - 1) + 1 + output_padding_h`` and
``0 <= output_padding < max(u, d_h)``.
"""
import numpy as np

from . import _validate as check
from .conv import check_groups, filter_resolved, forward_resolved, input_resolved
from .geometry import as_int, as_pair, padding_pairs, sliding_window

__all__ = ["conv_transpose2d_forward", "conv_transpose2d_backward_input",
           "conv_transpose2d_backward_filter"]


def _geometry(input_hw, kernel_hw, stride, padding, output_padding, dilation,
              window_name="kernel"):
    """The convolution geometry whose input is the transposed output, and that output's size."""
    if isinstance(padding, str):
        raise ValueError(f"padding of a transposed convolution must be an int, a pair or a pair "
                         f"of pairs, got {padding!r} (a string padding is not defined for it)")
    pairs = padding_pairs(padding)
    R, S = as_pair(kernel_hw, window_name)
    u, v = as_pair(stride, "stride")
    dh, dw = as_pair(dilation, "dilation")
    oph, opw = as_pair(output_padding, "output_padding")
    for axis, op, st, dil in (("height", oph, u, dh), ("width", opw, v, dw)):
        if op < 0 or op >= max(st, dil):
            raise ValueError(f"output_padding must satisfy 0 <= output_padding < max(stride, "
                             f"dilation) = {max(st, dil)} along the {axis}, got {op}")
    sizes = []
    for size, st, dil, k, (before, after), op in ((input_hw[0], u, dh, R, pairs[0], oph),
                                                   (input_hw[1], v, dw, S, pairs[1], opw)):
        if min(st, dil, k) < 1:
            break                                   # sliding_window names the bad value
        sizes.append((size - 1) * st - before - after + dil * (k - 1) + 1 + op)
    if len(sizes) == 2 and min(sizes) < 1:
        raise ValueError(f"the transposed convolution has no output: output size {tuple(sizes)} "
                         f"for input {tuple(input_hw)}, kernel ({R}, {S}), stride ({u}, {v}), "
                         f"padding {pairs}, dilation ({dh}, {dw}), output_padding ({oph}, {opw})")
    g = sliding_window(sizes if len(sizes) == 2 else (1, 1), (R, S), (u, v), pairs, (dh, dw),
                       window_name=window_name)
    # output_padding >= stride (allowed when the dilation is larger) adds a
    # window the transposed input does not have: the delta's size rules
    return g._replace(P=int(input_hw[0]), Q=int(input_hw[1])), (g.H, g.W)


def _groups(groups, C_in):
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if C_in % groups:
        raise ValueError(f"groups={groups} must divide the input channels C_in={C_in}")
    return groups


def conv_transpose2d_forward(x, f, b=None, stride=1, padding=0, output_padding=0, groups=1,
                             dilation=1, *, algorithm="auto", num_threads=None):
    """Transposed convolution (T1): eq (7g), the general eq (7), with ``x`` as the delta ``D'``, plus a bias.

    ``y[n,c,h,w] = b[c] + sum_{k : gamma(k) = c // C_g} sum_{(p,r),(q,s)} x[n,k,p,q] f[k, c - gamma(k) C_g, r, s]``
    over the windows of the convolution from ``y`` to ``x`` that hold
    ``(h, w)``: the adjoint of :func:`conv2d_forward` (PyTorch's ConvTranspose2d).

    Parameters
    ----------
    x : ndarray of shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        Input, float32 or float64. N may be 0.
    f : ndarray of shape (C_in, C_out / groups, R, S)
        Kernels (PyTorch's layout), same dtype as ``x``.
    b : ndarray of shape (C_out,), optional
        One bias per output channel.
    stride : int or (int, int)
        ``(u, v)`` of the convolution this one transposes.
    padding : int, (int, int) or ((int, int), (int, int))
        Its padding: removes rows and columns from the output.
    output_padding : int or (int, int)
        Rows and columns added at the bottom and right of the output,
        ``0 <= output_padding < max(stride, dilation)`` (which of the inputs
        of the same size a strided convolution maps to ``x``).
    groups : int
        Divides C_in and C_out.
    dilation : int or (int, int)
        Distance between kernel taps.
    algorithm : {"auto", "direct", "fast"}
        The path of the convolution kernels (see :func:`conv2d_backward_input`).
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, C_out, H_out, W_out), or unbatched
        ``H_out = (H_in - 1) u - p_t - p_b + d_h (R - 1) + 1 + output_padding_h``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, non-int options.
    ValueError
        Wrong shapes, groups not dividing the channels, a string padding,
        ``output_padding`` out of range, or no output.

    Notes
    -----
    Computed by the convolution's input-delta kernels (the literal gather or
    BLAS + col2im), so bitwise independent of ``num_threads``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> x = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), stride=2)[0, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    x, unbatched = check.nchw(x, "x", "(N, C_in, H_in, W_in)")
    f = check.float_array(f, "f", ndim=4, what="(C_in, C_out / groups, R, S)")
    if b is not None:
        b = check.float_array(b, "b", ndim=1, what="(C_out,)")
    dtype = check.same_dtype(x=x, f=f, b=b)
    N, C_in = x.shape[:2]
    if f.shape[0] != C_in:
        raise ValueError(f"f.shape[0] must be the input channels C_in = x.shape[1] = {C_in}, "
                         f"got {f.shape[0]}")
    groups = _groups(groups, C_in)
    C_out = f.shape[1] * groups
    check_groups(groups, C_out, C_in, f.shape[1], C_name="C_out", K_name="C_in")
    if b is not None:
        check.check_shape(b, "b", (C_out,), "one bias per output channel")
    g, (H, W) = _geometry(x.shape[2:], f.shape[2:], stride, padding, output_padding, dilation)
    y = input_resolved(x, f, (N, C_out, H, W), g, groups, "zeros", algorithm, num_threads)
    if b is not None:
        y += b.astype(dtype)[None, :, None, None]
    return y[0] if unbatched else y


def conv_transpose2d_backward_input(delta, f, input_shape, stride=1, padding=0, output_padding=0,
                                    groups=1, dilation=1, *, algorithm="auto", num_threads=None):
    """Input gradient of a transposed convolution (T2): eq (4g), the general eq (4), of ``delta``.

    ``dx[n,k,p,q] = sum_{c',r,s} delta[n,gamma(k) C_g + c',h,w] f[k,c',r,s]``
    with ``h = p u + r d_h - p_t``, ``w = q v + s d_w - p_l``.

    Parameters
    ----------
    delta : ndarray of shape (N, C_out, H_out, W_out) or unbatched
        Delta of the transposed convolution's output.
    f : ndarray of shape (C_in, C_out / groups, R, S)
        Kernels, same dtype as ``delta``.
    input_shape : tuple of ints
        ``(N, C_in, H_in, W_in)`` of ``x`` (``(C_in, H_in, W_in)`` unbatched).
    stride, padding, output_padding, groups, dilation
        As :func:`conv_transpose2d_forward` takes them.
    algorithm : {"auto", "direct", "fast"}
        The path of the convolution kernels.
    num_threads : int, optional
        OpenMP threads.

    Returns
    -------
    ndarray of shape ``input_shape``
        Same dtype as ``delta``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Shapes that do not match the geometry, bad options.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> d = np.ones((1, 1, 4, 4))
    >>> cnnprop.conv_transpose2d_backward_input(d, np.ones((1, 1, 2, 2)), (1, 1, 2, 2), stride=2)[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    delta, unbatched = check.nchw(delta, "delta", "(N, C_out, H_out, W_out)")
    f = check.float_array(f, "f", ndim=4, what="(C_in, C_out / groups, R, S)")
    dtype = check.same_dtype(delta=delta, f=f)
    N, C_in, H_in, W_in = check.batched_shape(input_shape, "input_shape", unbatched)
    if f.shape[0] != C_in:
        raise ValueError(f"f.shape[0] must be input_shape[1] = {C_in}, got {f.shape[0]}")
    groups = _groups(groups, C_in)
    C_out = f.shape[1] * groups
    g, (H, W) = _geometry((H_in, W_in), f.shape[2:], stride, padding, output_padding, dilation)
    check.check_shape(delta, "delta", (N, C_out, H, W),
                      f"(N, C_out, H_out, W_out) of the transposed convolution of input_shape "
                      f"{(N, C_in, H_in, W_in)}")
    zero = np.zeros(C_in, dtype=dtype)
    dx = forward_resolved(delta, f, zero, g, groups, "zeros", algorithm, num_threads)
    return dx[0] if unbatched else dx


def conv_transpose2d_backward_filter(delta, x, kernel_size, stride=1, padding=0, output_padding=0,
                                     groups=1, dilation=1, *, reduction="mean", algorithm="auto",
                                     num_threads=None):
    """Kernel gradient of a transposed convolution (T3): eq (5g), the general eq (5), roles swapped.

    ``x`` is the delta and ``delta`` the input of eq (5g).

    ``df[k,c',r,s] = (1/N) sum_{n,p,q} x[n,k,p,q] delta[n,gamma(k) C_g + c',h,w]``.

    Parameters
    ----------
    delta : ndarray of shape (N, C_out, H_out, W_out) or unbatched
        Delta of the transposed convolution's output.
    x : ndarray of shape (N, C_in, H_in, W_in) or unbatched
        Its input, same dtype.
    kernel_size : int or (int, int)
        ``(R, S)``.
    stride, padding, output_padding, groups, dilation
        As :func:`conv_transpose2d_forward` takes them.
    reduction : {"mean", "sum"}
        ``"mean"`` divides by N (cnnprop's convention, erratum E9).
    algorithm : {"auto", "direct", "fast"}
        The path of the convolution kernels.
    num_threads : int, optional
        OpenMP threads.

    Returns
    -------
    ndarray of shape (C_in, C_out / groups, R, S)

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Shapes that do not match the geometry, bad options, ``"mean"`` over N = 0.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> x = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv_transpose2d_backward_filter(np.ones((1, 1, 4, 4)), x, 2, stride=2)[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    delta, unbatched = check.nchw(delta, "delta", "(N, C_out, H_out, W_out)")
    x, x_unbatched = check.nchw(x, "x", "(N, C_in, H_in, W_in)")
    if unbatched != x_unbatched:
        raise ValueError("delta and x must both be batched or both unbatched")
    check.same_dtype(delta=delta, x=x)
    N, C_in = x.shape[:2]
    divisor = check.reduction_divisor(reduction, N)
    groups = _groups(groups, C_in)
    if delta.shape[1] % groups:
        raise ValueError(f"groups={groups} must divide the output channels C_out={delta.shape[1]}")
    g, (H, W) = _geometry(x.shape[2:], kernel_size, stride, padding, output_padding, dilation,
                          window_name="kernel_size")
    check.check_shape(delta, "delta", (N, delta.shape[1], H, W),
                      f"(N, C_out, H_out, W_out) of the transposed convolution of x {x.shape}")
    return filter_resolved(x, delta, g, groups, "zeros", divisor, algorithm, num_threads)
