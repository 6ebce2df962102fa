"""cnnprop's layer functions on dask arrays (optional extra ``cnnprop[dask]``).

The same names and arguments as :mod:`cnnprop`, taking and returning dask
arrays, lazily. Inside each task the in-memory function runs on NumPy blocks,
with every option forwarded by keyword; no kernel knows about dask.

- Along the batch: forward passes and input deltas chunk by chunk; the
  parameter gradients (eqs (5), (6), (18), (19)) as a tree reduction over the
  chunks' sums, divided once by the whole batch's N.
- Along height and width: convolution, pooling and their input deltas tile by
  tile, each tile reading the input slab of its windows (a halo from the
  kernel extent, stride, dilation and padding), padded only at the image border.

See docs/dask.md for the equality guarantees and an out-of-core example.
"""
from ._threads import concurrent_tasks, task_threads
from .activation import activation_backward, activation_forward
from .affine import affine_backward_bias, affine_backward_input, affine_backward_weight, affine_forward
from .conv_transpose import (conv_transpose2d_backward_filter, conv_transpose2d_backward_input,
                             conv_transpose2d_forward)
from .conv import conv2d_backward_bias, conv2d_backward_filter, conv2d_backward_input, conv2d_forward
from .pool import avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter", "conv2d_backward_bias",
    "conv_transpose2d_forward", "conv_transpose2d_backward_input", "conv_transpose2d_backward_filter",
    "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
    "activation_forward", "activation_backward",
    "affine_forward", "affine_backward_input", "affine_backward_weight", "affine_backward_bias",
    "task_threads", "concurrent_tasks",
]
