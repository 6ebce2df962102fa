"""Adapters of PyTorch's ``torch.nn.functional`` on the CPU (``cnnprop verify --target torch``).

The backward directions are PyTorch's autograd of ``sum(delta * layer(...))``,
so its conventions are declared, not corrected: parameter gradients of the
sum (``reduction="sum"``; the 1/N belongs to PyTorch's loss) and max-pooling
ties to the first maximum (``ties="first"``). Transposed convolution and
average pooling are included when the installed cnnprop has them.
"""
import numpy as np

from .adapter import Adapter
from .runner import family_available

__all__ = ["adapters", "available"]


def available():
    """Whether PyTorch can be imported."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _one_thread(fn):
    """Run a call on one PyTorch thread: the checks' layers are tiny, and torch's
    thread pool only spins (and oversubscribes a busy machine); restored after."""
    import functools

    @functools.wraps(fn)
    def run(*args, **kwargs):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)
    return run


def _adapter(family, forward, backward_input, backward_params=None, **kw):
    """An Adapter whose calls run on one PyTorch thread."""
    wrap = [None if fn is None else _one_thread(fn) for fn in (forward, backward_input, backward_params)]
    return Adapter(family, *wrap, **kw)


def _t(a, grad=False):
    import torch

    t = torch.from_numpy(np.array(a, copy=True))
    return t.requires_grad_(True) if grad else t


def _np(t):
    return t.detach().numpy().copy()


def _pad(x, padding, mode="zeros", value=0.0):
    """Explicit padding for the forms torch's layers do not take (asymmetric, modes, -inf)."""
    import torch.nn.functional as F

    (pt, pb), (pl, pr) = padding
    if mode == "zeros":
        return F.pad(x, (pl, pr, pt, pb), value=value)
    return F.pad(x, (pl, pr, pt, pb), mode=mode)


def _pairs(padding):
    if isinstance(padding[0], (tuple, list)):
        return tuple(tuple(p) for p in padding)
    return ((padding[0],) * 2, (padding[1],) * 2)


def _conv(x, w, b, stride, padding, dilation=(1, 1), groups=1, padding_mode="zeros"):
    import torch.nn.functional as F

    pairs = _pairs(padding)
    if padding_mode != "zeros" or pairs[0][0] != pairs[0][1] or pairs[1][0] != pairs[1][1]:
        x, padding = _pad(x, pairs, padding_mode), 0
    return F.conv2d(x, w, b, stride, padding, dilation, groups)


def _grad_of(fn, delta, *inputs):
    """Autograd of ``sum(delta * fn(*inputs))`` with respect to the inputs."""
    import torch

    out = fn(*inputs)
    return torch.autograd.grad(out, inputs, _t(delta))


def _convolution():
    def forward(x, w, b, **kw):
        return _np(_conv(_t(x), _t(w), _t(b), **kw))

    def backward_input(delta, w, input_shape, **kw):
        (dx,) = _grad_of(lambda x: _conv(x, _t(w), None, **kw), delta, _t(np.zeros(input_shape, delta.dtype), True))
        return _np(dx)

    def backward_params(delta, x, kernel_size, **kw):
        g = kw.get("groups", 1)
        w = _t(np.zeros((delta.shape[1], x.shape[1] // g) + tuple(kernel_size), x.dtype), True)
        b = _t(np.zeros(delta.shape[1], x.dtype), True)
        dw, db = _grad_of(lambda w, b: _conv(_t(x), w, b, **kw), delta, w, b)
        return _np(dw), _np(db)

    return _adapter("convolution", forward, backward_input, backward_params, name="torch.conv2d",
                   reduction="sum", options=("stride", "padding", "asymmetric_padding", "dilation", "groups",
                                             "padding_mode"))


def _transposed():
    import torch.nn.functional as F

    def tconv(x, w, b, stride, padding, output_padding=(0, 0), groups=1, dilation=(1, 1)):
        return F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    def forward(x, w, b, **kw):
        return _np(tconv(_t(x), _t(w), _t(b), **kw))

    def backward_input(delta, w, input_shape, **kw):
        (dx,) = _grad_of(lambda x: tconv(x, _t(w), None, **kw), delta, _t(np.zeros(input_shape, delta.dtype), True))
        return _np(dx)

    def backward_params(delta, x, kernel_size, **kw):
        g = kw.get("groups", 1)
        w = _t(np.zeros((x.shape[1], delta.shape[1] // g) + tuple(kernel_size), x.dtype), True)
        b = _t(np.zeros(delta.shape[1], x.dtype), True)
        dw, db = _grad_of(lambda w, b: tconv(_t(x), w, b, **kw), delta, w, b)
        return _np(dw), _np(db)

    return _adapter("transposed_convolution", forward, backward_input, backward_params,
                   name="torch.conv_transpose2d", reduction="sum",
                   options=("stride", "padding", "output_padding", "dilation", "groups"))


def _maxpool(x, window, stride, padding, dilation=(1, 1), ceil_mode=False):
    import torch.nn.functional as F

    pairs = _pairs(padding)
    if pairs[0][0] != pairs[0][1] or pairs[1][0] != pairs[1][1]:
        x, padding = _pad(x, pairs, value=-np.inf), 0
    else:
        padding = (pairs[0][0], pairs[1][0])
    return F.max_pool2d(x, window, stride, padding, dilation, ceil_mode)


def _max_pooling():
    def forward(x, **kw):
        return _np(_maxpool(_t(x), **kw))

    def backward_input(delta, x, y, **kw):
        (dx,) = _grad_of(lambda x: _maxpool(x, **kw), delta, _t(x, True))
        return _np(dx)

    return _adapter("max_pooling", forward, backward_input, name="torch.max_pool2d", ties="first",
                   options=("stride", "padding", "asymmetric_padding", "dilation", "ceil_mode"))


def _avgpool(x, window, stride, padding, ceil_mode=False, count_include_pad=True):
    import torch.nn.functional as F

    return F.avg_pool2d(x, window, stride, tuple(p[0] for p in _pairs(padding)), ceil_mode, count_include_pad)


def _average_pooling():
    def forward(x, **kw):
        return _np(_avgpool(_t(x), **kw))

    def backward_input(delta, input_shape, **kw):
        (dx,) = _grad_of(lambda x: _avgpool(x, **kw), delta, _t(np.zeros(input_shape, delta.dtype), True))
        return _np(dx)

    return _adapter("average_pooling", forward, backward_input, name="torch.avg_pool2d",
                   options=("stride", "padding", "ceil_mode", "count_include_pad"))


# cnnprop's activations, and the functional PyTorch computes each with (verify's parameters)
def _activations():
    import torch
    import torch.nn.functional as F

    table = {"identity": (lambda x: x * 1, {}), "relu": (F.relu, {}),
             "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), {"negative_slope": 0.1}),
             "sigmoid": (torch.sigmoid, {}), "tanh": (torch.tanh, {}),
             "elu": (lambda x: F.elu(x, 1.5), {"alpha": 1.5}), "softplus": (F.softplus, {})}
    out = []
    for name, (fn, params) in table.items():
        def forward(x, fn=fn):
            return _np(fn(_t(x)))

        def backward_input(delta, x, fn=fn):
            (dx,) = _grad_of(fn, delta, _t(x, True))
            return _np(dx)

        out.append(_adapter("activation", forward, backward_input, activation=name, params=params,
                           name=f"torch.{name}"))
    return out


def _affine():
    import torch.nn.functional as F

    def linear(x, w, b):
        return F.linear(x.reshape(x.shape[0], -1), w, b)

    def forward(x, w, b):
        return _np(linear(_t(x), _t(w), _t(b)))

    def backward_input(delta, w, input_shape):
        (dx,) = _grad_of(lambda x: linear(x, _t(w), None), delta, _t(np.zeros(input_shape, delta.dtype), True))
        return _np(dx)

    def backward_params(delta, x):
        w = _t(np.zeros((delta.shape[1], int(np.prod(x.shape[1:]))), x.dtype), True)
        b = _t(np.zeros(delta.shape[1], x.dtype), True)
        dw, db = _grad_of(lambda w, b: linear(_t(x), w, b), delta, w, b)
        return _np(dw), _np(db)

    return _adapter("affine", forward, backward_input, backward_params, name="torch.linear", reduction="sum")


def adapters():
    """Adapters of every layer family of ``torch.nn.functional`` that cnnprop can check.

    Returns
    -------
    list of Adapter

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    """
    import torch  # noqa: F401  (a clear ImportError first)

    out = [_convolution(), _max_pooling(), *_activations(), _affine()]
    if family_available("transposed_convolution"):
        out.insert(1, _transposed())
    if family_available("average_pooling"):
        out.insert(-1, _average_pooling())
    return out
