"""Layers of the network view: eqs (1)-(3) on top of the functional API.

Each layer maps its input forward, eq (1), ``Z(l+1) = f(Z(l); W(l))``, and
back, eqs (2)-(3): ``backward(delta)`` takes ``Delta(l+1) = dE_n/dZ(l+1)``,
stores the parameter gradients ``dW(l)`` (of the mean loss, with the 1/N of
the source) and returns ``Delta(l) = dE_n/dZ(l)``. No equation is
implemented twice: every layer calls the functions of :mod:`cnnprop`.
"""
import numpy as np

import cnnprop

from .init import initialise
from .parameter import Parameter

__all__ = ["Layer", "Conv2D", "ConvTranspose2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Activation",
           "Affine", "Linear", "Flatten"]


def _pair(value, name):
    """An int-or-pair argument as the list [height, width] of Python ints (stride=1 == (1, 1))."""
    return list(cnnprop.geometry.as_pair(value, name))


class Layer:
    """Base class: a forward map, a backward map, and named parameters."""

    def __init__(self):
        self.params = {}
        self._cache = None

    def forward(self, z):
        """Eq (1): the layer output for input ``z``; remembers what backward needs."""
        raise NotImplementedError

    def backward(self, delta, input_delta=True):
        """Eqs (2)-(3): store the parameter gradients, return the input delta.

        With ``input_delta=False`` (the first layer of a network) the input
        delta is not computed and None is returned.
        """
        raise NotImplementedError

    def config(self):
        """The constructor arguments that define the architecture (for save/load).

        Plain JSON values only: ints and lists of ints, so that a model
        compares equal to the architecture it saved.
        """
        return {}

    def _saved(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class _KernelOptions:
    """Layers that run kernels accept the functional API's algorithm and num_threads."""

    def _options(self):
        return {"algorithm": self.algorithm, "num_threads": self.num_threads}


def _padding_config(padding):
    """A padding argument as plain JSON: a string, [p_h, p_w], or [[p_t, p_b], [p_l, p_r]]."""
    pairs = cnnprop.geometry.padding_pairs(padding)
    if isinstance(padding, str):
        return padding
    (pt, pb), (pl, pr) = pairs
    if pt == pb and pl == pr:
        return [pt, pl]
    return [[pt, pb], [pl, pr]]


def _padding_arg(padding):
    # JSON lists back into the tuples the functional API takes
    if isinstance(padding, list):
        return tuple(tuple(x) if isinstance(x, list) else x for x in padding)
    return padding


class Conv2D(Layer, _KernelOptions):
    """2-D convolution, eqs (4g)-(7g) (eqs (4)-(9) with the defaults).

    Parameters
    ----------
    in_channels, out_channels : int
        C and K.
    kernel_size, stride : int or (int, int)
        As in :func:`cnnprop.conv2d_forward`.
    padding : int, pair, pair of pairs, "valid" or "same"
        As in :func:`cnnprop.conv2d_forward`.
    dilation : int or (int, int)
        Distance between kernel taps.
    groups : int
        Divides in_channels and out_channels; the weight has shape
        (out_channels, in_channels / groups, R, S).
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
        What the padding reads.
    init : {"he", "glorot"}
        Weight initialisation (biases start at 0).
    seed : int or numpy.random.Generator, optional
        Seed of the initialisation.
    dtype : {numpy.float32, numpy.float64}
    algorithm : {"auto", "direct", "fast", "winograd"}
        Passed to the functional API; ``"winograd"`` (3x3 stride-1 layers)
        runs the forward pass and input delta on Winograd and the kernel
        gradient on the fast path.
    num_threads : int, optional
        Passed to the functional API.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, *, padding_mode="zeros", init="he", seed=None, dtype=np.float32,
                 algorithm="auto", num_threads=None):
        super().__init__()
        R, S = cnnprop.geometry.as_pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        groups = cnnprop.conv.check_groups(groups, self.in_channels, self.out_channels,
                                           self.in_channels // max(1, int(groups)),
                                           C_name="in_channels", K_name="out_channels")
        cnnprop.geometry.padding_pairs(_padding_arg(padding))          # validate early
        cnnprop._validate.one_of(padding_mode, "padding_mode", cnnprop.conv.PADDING_MODES)
        self.kernel_size, self.stride, self.padding = (R, S), stride, _padding_arg(padding)
        self.dilation, self.groups, self.padding_mode = dilation, groups, padding_mode
        self.algorithm, self.num_threads = algorithm, num_threads
        shape = (out_channels, self.in_channels // groups, R, S)
        self.params["weight"] = Parameter(initialise(init, shape, dtype, seed))
        self.params["bias"] = Parameter(np.zeros(out_channels, dtype=dtype))

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.padding_mode)

    def config(self):
        config = {"in_channels": self.in_channels, "out_channels": self.out_channels,
                  "kernel_size": list(self.kernel_size), "stride": _pair(self.stride, "stride"),
                  "padding": _padding_config(self.padding)}
        # the general options only when set: files saved before them still load
        if _pair(self.dilation, "dilation") != [1, 1]:
            config["dilation"] = _pair(self.dilation, "dilation")
        if self.groups != 1:
            config["groups"] = self.groups
        if self.padding_mode != "zeros":
            config["padding_mode"] = self.padding_mode
        return config

    def forward(self, z):
        self._cache = z
        return cnnprop.conv2d_forward(z, self.params["weight"].value, self.params["bias"].value,
                                      **self._geometry(), **self._options())

    def backward(self, delta, input_delta=True):
        z = self._saved()
        w = self.params["weight"]
        options = self._options()
        if options["algorithm"] == "winograd":          # Winograd has no kernel gradient
            options["algorithm"] = "fast"
        w.grad = cnnprop.conv2d_backward_filter(delta, z, self.kernel_size, **self._geometry(),
                                                **options)
        self.params["bias"].grad = cnnprop.conv2d_backward_bias(delta, num_threads=self.num_threads)
        if not input_delta:
            return None
        return cnnprop.conv2d_backward_input(delta, w.value, z.shape, **self._geometry(),
                                             **self._options())


class ConvTranspose2D(Layer, _KernelOptions):
    """Transposed 2-D convolution: eq (7g) forward, eqs (4g), (5g) backward.

    Parameters
    ----------
    in_channels, out_channels : int
        C_in and C_out; the weight has shape (in_channels, out_channels / groups, R, S)
        (PyTorch's layout).
    kernel_size, stride, padding, output_padding, dilation : int or pair
        As in :func:`cnnprop.conv_transpose2d_forward` (padding also a pair of pairs).
    groups : int
        Divides in_channels and out_channels.
    init : {"he", "glorot"}
        Weight initialisation (biases start at 0).
    seed : int or numpy.random.Generator, optional
    dtype : {numpy.float32, numpy.float64}
    algorithm : {"auto", "direct", "fast"}
    num_threads : int, optional
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, dilation=1, *, init="he", seed=None,
                 dtype=np.float32, algorithm="auto", num_threads=None):
        super().__init__()
        R, S = cnnprop.geometry.as_pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        groups = cnnprop.conv.check_groups(groups, self.in_channels, self.out_channels,
                                           self.in_channels // max(1, int(groups)),
                                           C_name="in_channels", K_name="out_channels")
        if isinstance(padding, str):
            raise ValueError(f"padding of ConvTranspose2D must be an int or pairs, got {padding!r}")
        self.kernel_size, self.stride, self.padding = (R, S), stride, _padding_arg(padding)
        self.output_padding, self.groups, self.dilation = output_padding, groups, dilation
        self.algorithm, self.num_threads = algorithm, num_threads
        # fan_in of the transposed layer: the kernels that reach one output
        weight = initialise(init, (self.out_channels // groups, in_channels, R, S), dtype, seed)
        self.params["weight"] = Parameter(np.ascontiguousarray(weight.transpose(1, 0, 2, 3)))
        self.params["bias"] = Parameter(np.zeros(out_channels, dtype=dtype))

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    groups=self.groups, dilation=self.dilation)

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": _pair(self.stride, "stride"),
                "padding": _padding_config(self.padding),
                "output_padding": _pair(self.output_padding, "output_padding"),
                "groups": self.groups, "dilation": _pair(self.dilation, "dilation")}

    def forward(self, z):
        self._cache = z
        return cnnprop.conv_transpose2d_forward(z, self.params["weight"].value,
                                                self.params["bias"].value, **self._geometry(),
                                                **self._options())

    def backward(self, delta, input_delta=True):
        z = self._saved()
        w = self.params["weight"]
        w.grad = cnnprop.conv_transpose2d_backward_filter(delta, z, self.kernel_size,
                                                          **self._geometry(), **self._options())
        self.params["bias"].grad = cnnprop.conv2d_backward_bias(delta, num_threads=self.num_threads)
        if not input_delta:
            return None
        return cnnprop.conv_transpose2d_backward_input(delta, w.value, z.shape, **self._geometry(),
                                                       **self._options())


class MaxPool2D(Layer, _KernelOptions):
    """Max pooling, eqs (13g) and (14) (docs/pooling.md); options as in :func:`cnnprop.maxpool2d_forward`.

    With ``ties="first"`` the forward pass keeps the indices of the maxima
    and the backward pass is :func:`cnnprop.maxpool2d_backward_indices` (a
    single scatter, PyTorch's rule). With ``ties="all"`` (default, the
    source's rule) the backward pass is eq (14) on the saved input and output.
    """

    def __init__(self, window, stride=None, padding=0, dilation=1, ceil_mode=False, *, ties="all",
                 algorithm="auto", num_threads=None):
        super().__init__()
        cnnprop._validate.one_of(ties, "ties", cnnprop.pool.TIES)
        self.window, self.stride, self.padding, self.ties = window, stride, padding, ties
        self.dilation, self.ceil_mode = dilation, ceil_mode
        self.algorithm, self.num_threads = algorithm, num_threads

    def config(self):
        stride = None if self.stride is None else _pair(self.stride, "stride")
        config = {"window": _pair(self.window, "window"), "stride": stride,
                  "padding": _padding_config(self.padding), "ties": self.ties}
        # the new options only when set, so that older saved models still load
        if _pair(self.dilation, "dilation") != [1, 1]:
            config["dilation"] = _pair(self.dilation, "dilation")
        if self.ceil_mode:
            config["ceil_mode"] = True
        return config

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    ceil_mode=self.ceil_mode)

    def forward(self, z):
        if self.ties == "first":
            y, indices = cnnprop.maxpool2d_forward(z, self.window, **self._geometry(), return_indices=True,
                                                   **self._options())
            self._cache = (np.shape(z), indices)
        else:
            y = cnnprop.maxpool2d_forward(z, self.window, **self._geometry(), **self._options())
            self._cache = (z, y)
        return y

    def backward(self, delta, input_delta=True):
        saved, other = self._saved()
        if self.ties == "first":
            return cnnprop.maxpool2d_backward_indices(delta, other, saved, **self._options())
        return cnnprop.maxpool2d_backward(delta, saved, other, self.window, **self._geometry(),
                                          ties=self.ties, **self._options())


class AvgPool2D(Layer, _KernelOptions):
    """Average pooling, eqs (A1)-(A2) (docs/pooling.md); options as in :func:`cnnprop.avgpool2d_forward`."""

    def __init__(self, window, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, *, algorithm="auto", num_threads=None):
        super().__init__()
        self.window, self.stride, self.padding = window, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override
        self.algorithm, self.num_threads = algorithm, num_threads

    def config(self):
        stride = None if self.stride is None else _pair(self.stride, "stride")
        override = None if self.divisor_override is None else int(self.divisor_override)
        return {"window": _pair(self.window, "window"), "stride": stride,
                "padding": _padding_config(self.padding), "ceil_mode": bool(self.ceil_mode),
                "count_include_pad": bool(self.count_include_pad), "divisor_override": override}

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)

    def forward(self, z):
        y = cnnprop.avgpool2d_forward(z, self.window, **self._geometry(), **self._options())
        self._cache = np.shape(z)
        return y

    def backward(self, delta, input_delta=True):
        return cnnprop.avgpool2d_backward(delta, self._saved(), self.window, **self._geometry(),
                                          **self._options())


class GlobalAvgPool2D(Layer, _KernelOptions):
    """Global average pooling: eq (A1) with the window (H, W), (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, *, algorithm="auto", num_threads=None):
        super().__init__()
        self.algorithm, self.num_threads = algorithm, num_threads

    def forward(self, z):
        shape = np.shape(z)
        if len(shape) not in (3, 4):
            raise ValueError(f"z must be (N, C, H, W) or (C, H, W), got shape {shape}")
        y = cnnprop.avgpool2d_forward(z, shape[-2:], **self._options())
        self._cache = shape
        return y

    def backward(self, delta, input_delta=True):
        shape = self._saved()
        return cnnprop.avgpool2d_backward(delta, shape, shape[-2:], **self._options())


class Activation(Layer, _KernelOptions):
    """Element-wise activation by name, eqs (15)-(16) (see :data:`cnnprop.ACTIVATIONS`)."""

    def __init__(self, name, *, negative_slope=None, alpha=None, algorithm="auto", num_threads=None):
        super().__init__()
        if name not in cnnprop.ACTIVATIONS:
            raise ValueError(f"name must be one of {list(cnnprop.ACTIVATIONS)}, got {name!r}")
        self.name = name
        self._kw = {k: v for k, v in (("negative_slope", negative_slope), ("alpha", alpha)) if v is not None}
        self.algorithm, self.num_threads = algorithm, num_threads

    def config(self):
        return {"name": self.name, **{k: float(v) for k, v in self._kw.items()}}

    def forward(self, z):
        self._cache = z
        return cnnprop.activation_forward(z, self.name, **self._kw, **self._options())

    def backward(self, delta, input_delta=True):
        return cnnprop.activation_backward(delta, self._saved(), self.name, **self._kw, **self._options())


class Affine(Layer, _KernelOptions):
    """Affine (fully connected) layer, eqs (17)-(20); a 4-D input is flattened in C order.

    Parameters
    ----------
    in_features, out_features : int
        J and I.
    init, seed, dtype, algorithm, num_threads
        As in :class:`Conv2D`.
    """

    def __init__(self, in_features, out_features, *, init="he", seed=None, dtype=np.float32,
                 algorithm="auto", num_threads=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.algorithm, self.num_threads = algorithm, num_threads
        self.params["weight"] = Parameter(initialise(init, (out_features, in_features), dtype, seed))
        self.params["bias"] = Parameter(np.zeros(out_features, dtype=dtype))

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features}

    def forward(self, z):
        self._cache = z
        return cnnprop.affine_forward(z, self.params["weight"].value, self.params["bias"].value,
                                      **self._options())

    def backward(self, delta, input_delta=True):
        z = self._saved()
        w = self.params["weight"]
        w.grad = cnnprop.affine_backward_weight(delta, z, **self._options())
        self.params["bias"].grad = cnnprop.affine_backward_bias(delta, num_threads=self.num_threads)
        if not input_delta:
            return None
        return cnnprop.affine_backward_input(delta, w.value, z.shape, **self._options())


#: The usual name of the affine layer in other libraries.
Linear = Affine


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in C order, the flattening of eqs (17)-(20); backward reshapes back."""

    def forward(self, z):
        z = np.asarray(z)
        self._cache = z.shape
        return z.reshape(z.shape[0], -1)

    def backward(self, delta, input_delta=True):
        return np.asarray(delta).reshape(self._saved())
