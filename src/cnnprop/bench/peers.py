"""The implementations cnnprop is timed against, each a dict of callables.

A peer is built for one layer and dtype and returns zero-argument callables
for the directions it implements. Construction fails with ImportError when
the peer is not installed.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import cnnprop

__all__ = ["cnnprop_conv", "torch_conv", "numpy_conv", "cnnprop_pool", "torch_pool"]


def cnnprop_conv(layer, z, f, delta, threads, algorithm="fast"):
    s, p, ks = layer.stride, layer.padding, (layer.R, layer.R)
    kw = dict(algorithm=algorithm, num_threads=threads, dilation=layer.dilation, groups=layer.groups)
    if layer.transposed:
        return {
            "forward": lambda: cnnprop.conv_transpose2d_forward(z, f, None, s, p, **kw),
            "input grad": lambda: cnnprop.conv_transpose2d_backward_input(delta, f, z.shape, s, p, **kw),
            "kernel grad": lambda: cnnprop.conv_transpose2d_backward_filter(delta, z, ks, s, p,
                                                                            reduction="sum", **kw),
        }
    return {
        "forward": lambda: cnnprop.conv2d_forward(z, f, None, s, p, **kw),
        "input grad": lambda: cnnprop.conv2d_backward_input(delta, f, z.shape, s, p, **kw),
        # the frameworks return the gradient of a summed loss: compare like with like
        "kernel grad": lambda: cnnprop.conv2d_backward_filter(delta, z, ks, s, p, reduction="sum", **kw),
    }


def torch_conv(layer, z, f, delta, threads):
    import torch

    torch.set_num_threads(threads)
    zt, ft, dt = (torch.from_numpy(a) for a in (z, f, delta))
    s, p, d, g = layer.stride, layer.padding, layer.dilation, layer.groups
    F, grad = torch.nn.functional, torch.nn.grad
    if layer.transposed:
        # a transposed convolution is the adjoint of conv2d from the K-channel output to z
        return {
            "forward": lambda: F.conv_transpose2d(zt, ft, None, s, p, 0, g, d),
            "input grad": lambda: F.conv2d(dt, ft, None, s, p, d, g),
            "kernel grad": lambda: grad.conv2d_weight(dt, ft.shape, zt, s, p, d, g),
        }
    return {
        "forward": lambda: F.conv2d(zt, ft, None, s, p, d, g),
        "input grad": lambda: grad.conv2d_input(zt.shape, ft, dt, s, p, d, g),
        "kernel grad": lambda: grad.conv2d_weight(zt, ft.shape, dt, s, p, d, g),
    }


def numpy_conv(layer, z, f, delta, threads):
    """The im2col code people write with NumPy: sliding_window_view + tensordot.

    Plain convolutions only (groups 1, dilation 1, not transposed): returns {} otherwise.
    """
    if layer.groups != 1 or layer.dilation != 1 or layer.transposed:
        return {}
    s, p, R = layer.stride, layer.padding, layer.R
    P = layer.out

    def windows(x):
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        return sliding_window_view(xp, (R, R), axis=(2, 3))[:, :, ::s, ::s]    # N C P Q R S

    def forward():
        return np.tensordot(windows(z), f, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)

    def input_grad():
        cols = np.tensordot(delta, f, axes=([1], [0]))                          # N P Q C R S
        N, C, H = z.shape[0], z.shape[1], z.shape[2]
        dzp = np.zeros((N, C, H + 2 * p, H + 2 * p), dtype=z.dtype)
        for r in range(R):
            for c in range(R):
                dzp[:, :, r:r + s * P:s, c:c + s * P:s] += cols[..., r, c].transpose(0, 3, 1, 2)
        return dzp[:, :, p:p + H, p:p + H]

    def kernel_grad():
        return np.tensordot(delta, windows(z), axes=([0, 2, 3], [0, 2, 3]))

    return {"forward": forward, "input grad": input_grad, "kernel grad": kernel_grad}


def cnnprop_pool(layer, z, y, delta, threads, algorithm="fast"):
    w, s, p = layer.window, layer.stride, layer.padding
    kw = dict(algorithm=algorithm, num_threads=threads)
    return {
        "forward": lambda: cnnprop.maxpool2d_forward(z, w, s, p, **kw),
        "backward": lambda: cnnprop.maxpool2d_backward(delta, z, y, w, s, p, ties="first", **kw),
    }


def torch_pool(layer, z, y, delta, threads):
    import torch

    torch.set_num_threads(threads)
    zt, dt = torch.from_numpy(z), torch.from_numpy(delta)
    w, s, p = layer.window, layer.stride, layer.padding
    _, indices = torch.nn.functional.max_pool2d(zt, w, s, p, return_indices=True)
    backward = torch.ops.aten.max_pool2d_with_indices_backward
    return {
        # torch's forward also records the argmax indices its backward uses
        "forward": lambda: torch.nn.functional.max_pool2d(zt, w, s, p, return_indices=True),
        "backward": lambda: backward(dt, zt, [w, w], [s, s], [p, p], [1, 1], False, indices),
    }
