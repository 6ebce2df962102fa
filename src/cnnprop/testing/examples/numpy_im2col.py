"""A plain NumPy reference implementation, as a user would write one, and its adapters.

Convolution by im2col: the input windows are gathered into columns (one
strided slice per kernel tap), the forward pass is one matrix product per
sample, the input delta scatters the columns' gradient back tap by tap
(col2im), the kernel gradient is the product of the delta with the columns.
Max pooling takes the maximum over the window taps (padding at -inf). All
arrays are NCHW, kernels (K, C, R, S), correlation, and the parameter
gradients carry the 1/N of the mean loss (``reduction="mean"``), as cnnprop.

``cnnprop verify --target numpy`` checks it; so does
``check_layer(CONVOLUTION)``.
"""
import numpy as np

from cnnprop.testing import Adapter

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_params", "maxpool2d_forward",
           "maxpool2d_backward", "affine_forward", "affine_backward_input", "affine_backward_params",
           "CONVOLUTION", "MAX_POOLING", "RELU", "TANH", "SIGMOID", "AFFINE", "ADAPTERS"]


def _out(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def _taps(P, Q, R, S, stride):
    """(r, s, rows, cols): the slice of the padded input each kernel tap reads."""
    u, v = stride
    for r in range(R):
        for s in range(S):
            yield r, s, slice(r, r + u * (P - 1) + 1, u), slice(s, s + v * (Q - 1) + 1, v)


def im2col(x, R, S, stride, padding):
    """Columns of shape (N, C, R, S, P, Q): ``cols[n, c, r, s, p, q] = xp[n, c, p u + r, q v + s]``."""
    (ph, pw), (N, C, H, W) = padding, x.shape
    P, Q = _out(H, R, stride[0], ph), _out(W, S, stride[1], pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((N, C, R, S, P, Q), dtype=x.dtype)
    for r, s, rows, cs in _taps(P, Q, R, S, stride):
        cols[:, :, r, s] = xp[:, :, rows, cs]
    return cols


def col2im(dcols, input_shape, stride, padding):
    """The adjoint of :func:`im2col`: every column entry added back where it was read."""
    (ph, pw), (N, C, H, W) = padding, input_shape
    R, S, P, Q = dcols.shape[2:]
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dcols.dtype)
    for r, s, rows, cs in _taps(P, Q, R, S, stride):
        dxp[:, :, rows, cs] += dcols[:, :, r, s]
    return dxp[:, :, ph:ph + H, pw:pw + W]


def conv2d_forward(x, w, b, stride, padding):
    """``y[n, k] = sum_{c,r,s} w[k, c, r, s] xp[n, c, p u + r, q v + s] + b[k]``."""
    K, C, R, S = w.shape
    cols = im2col(x, R, S, stride, padding)
    N, P, Q = len(x), cols.shape[-2], cols.shape[-1]
    y = w.reshape(K, -1) @ cols.reshape(N, C * R * S, P * Q)
    return y.reshape(N, K, P, Q) + b[None, :, None, None]


def conv2d_backward_input(delta, w, input_shape, stride, padding):
    """col2im of ``w^T delta``."""
    K, C, R, S = w.shape
    N, _, P, Q = delta.shape
    dcols = w.reshape(K, -1).T @ delta.reshape(N, K, P * Q)
    return col2im(dcols.reshape(N, C, R, S, P, Q), input_shape, stride, padding)


def conv2d_backward_params(delta, x, kernel_size, stride, padding, reduction="mean"):
    """``(dw, db)``: ``delta cols^T`` and the sum of delta, over the batch, times 1/N."""
    R, S = kernel_size
    N, K, P, Q = delta.shape
    cols = im2col(x, R, S, stride, padding).reshape(N, -1, P * Q)
    scale = 1.0 / N if reduction == "mean" else 1.0
    dw = np.einsum("nkl,njl->kj", delta.reshape(N, K, P * Q), cols).reshape(K, x.shape[1], R, S)
    return (dw * scale).astype(x.dtype), (delta.sum(axis=(0, 2, 3)) * scale).astype(x.dtype)


def _pool_windows(x, window, stride, padding):
    (R, S), (ph, pw), (H, W) = window, padding, x.shape[2:]
    P, Q = _out(H, R, stride[0], ph), _out(W, S, stride[1], pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    return xp, P, Q


def maxpool2d_forward(x, window, stride, padding):
    """The maximum over each window, padding at -inf."""
    xp, P, Q = _pool_windows(x, window, stride, padding)
    y = np.full(x.shape[:2] + (P, Q), -np.inf, dtype=x.dtype)
    for _, _, rows, cols in _taps(P, Q, *window, stride):
        np.maximum(y, xp[:, :, rows, cols], out=y)
    return y


def maxpool2d_backward(delta, x, y, window, stride, padding, ties="all"):
    """Each window's delta to its maxima: all of them (``ties="all"``) or the first in row-major order."""
    (ph, pw), (H, W) = padding, x.shape[2:]
    xp, P, Q = _pool_windows(x, window, stride, padding)
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    taken = np.zeros(y.shape, dtype=bool)
    for _, _, rows, cols in _taps(P, Q, *window, stride):
        hit = xp[:, :, rows, cols] == y
        if ties == "first":
            hit &= ~taken
            taken |= hit
        dxp[:, :, rows, cols] += np.where(hit, delta, 0)
    return dxp[:, :, ph:ph + H, pw:pw + W]


def affine_forward(x, w, b):
    """``y = x w^T + b`` on the flattened input."""
    return x.reshape(len(x), -1) @ w.T + b


def affine_backward_input(delta, w, input_shape):
    """``delta w``, in the input's shape."""
    return (delta @ w).reshape(input_shape)


def affine_backward_params(delta, x, reduction="mean"):
    """``(dw, db)`` of the mean loss: ``delta^T x / N`` and ``sum_n delta / N``."""
    scale = 1.0 / len(x) if reduction == "mean" else 1.0
    return ((delta.T @ x.reshape(len(x), -1)) * scale).astype(x.dtype), (delta.sum(axis=0) * scale).astype(x.dtype)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


CONVOLUTION = Adapter("convolution", forward=conv2d_forward, backward_input=conv2d_backward_input,
                      backward_params=conv2d_backward_params, name="numpy_conv")
MAX_POOLING = Adapter("max_pooling", forward=maxpool2d_forward, backward_input=maxpool2d_backward,
                      name="numpy_maxpool")
RELU = Adapter("activation", forward=lambda x: np.maximum(x, 0),
               backward_input=lambda d, x: np.where(x > 0, d, 0).astype(d.dtype),
               activation="relu", name="numpy_relu")
TANH = Adapter("activation", forward=np.tanh, backward_input=lambda d, x: d * (1 - np.tanh(x) ** 2),
               activation="tanh", name="numpy_tanh")
SIGMOID = Adapter("activation", forward=_sigmoid,
                  backward_input=lambda d, x: d * _sigmoid(x) * (1 - _sigmoid(x)),
                  activation="sigmoid", name="numpy_sigmoid")
AFFINE = Adapter("affine", forward=affine_forward, backward_input=affine_backward_input,
                 backward_params=affine_backward_params, name="numpy_affine")

#: Every adapter of this module: ``cnnprop verify --target numpy``.
ADAPTERS = (CONVOLUTION, MAX_POOLING, RELU, TANH, SIGMOID, AFFINE)
