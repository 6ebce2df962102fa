"""The adapter: how a user's implementation of one layer family is called, and its conventions.

cnnprop draws its data in its own conventions (NCHW, kernels (K, C, R, S),
cross-correlation, parameter gradients of the mean loss, the source's tie
rule); :mod:`.convert` turns them into the adapter's before each call and
the results back after it, so every check compares like with like.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

__all__ = ["Adapter", "FAMILIES", "OPTIONS"]

#: The layer families an adapter can describe, and the directions each has.
FAMILIES = {
    "convolution": ("forward", "backward_input", "backward_params"),
    "transposed_convolution": ("forward", "backward_input", "backward_params"),
    "max_pooling": ("forward", "backward_input"),
    "average_pooling": ("forward", "backward_input"),
    "activation": ("forward", "backward_input"),
    "affine": ("forward", "backward_input", "backward_params"),
}

#: Options a sliding-window adapter may claim; geometries use only claimed ones.
OPTIONS = ("stride", "padding", "asymmetric_padding", "same_padding", "dilation", "groups",
           "padding_mode", "ceil_mode", "count_include_pad", "output_padding")

_CHOICES = {
    "layout": ("NCHW", "NHWC"),
    "kernel_layout": ("KCRS", "RSCK", "IJ", "JI"),
    "convolution": ("correlation", "true"),
    "reduction": ("mean", "sum"),
    "ties": ("all", "first"),
}


@dataclass(frozen=True)
class Adapter:
    """A user's implementation of one layer family, and the conventions it follows.

    Only the directions given (not None) are checked, only the options in
    ``options`` are drawn, only the ``dtypes`` listed are run. Every array
    passed is a fresh NumPy array in the adapter's layout and dtype; every
    result must be a NumPy array (or convertible) of the expected shape and
    of the input's dtype, and no input may be modified.

    Calls, by family (``stride=(u, v)``; ``padding=(p_h, p_w)``, or
    ``((p_t, p_b), (p_l, p_r))`` / ``"same"`` when those forms are claimed;
    the claimed ``dilation=(d_h, d_w)``, ``groups=g``, ``padding_mode=...``,
    ``ceil_mode=...`` are passed by keyword only when claimed):

    ==========================  =================================================================
    family                      calls
    ==========================  =================================================================
    convolution                 ``forward(x, w, b, stride=, padding=) -> y``;
                                ``backward_input(delta, w, input_shape, stride=, padding=) -> dx``;
                                ``backward_params(delta, x, kernel_size, stride=, padding=)
                                -> (dw, db)`` (eqs (4)-(9))
    transposed_convolution      as convolution, with ``output_padding=``; ``w`` of shape
                                (C_in, C_out / groups, R, S)
    max_pooling                 ``forward(x, window=, stride=, padding=) -> y``;
                                ``backward_input(delta, x, y, window=, stride=, padding=) -> dx``
                                (eqs (13), (14))
    average_pooling             ``forward(x, window=, stride=, padding=) -> y``;
                                ``backward_input(delta, input_shape, window=, stride=, padding=)``
                                (eqs (A1), (A2))
    activation                  ``forward(x) -> y``; ``backward_input(delta, x) -> dx``
                                (eqs (15), (16)) for the activation named ``activation``
    affine                      ``forward(x, w, b) -> y``; ``backward_input(delta, w, input_shape)
                                -> dx``; ``backward_params(delta, x) -> (dw, db)`` (eqs (17)-(20))
    ==========================  =================================================================

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    forward, backward_input, backward_params : callable, optional
        The directions the implementation provides.
    name : str
        A short name for test ids and reports (default: the family).
    layout : {"NCHW", "NHWC"}
        Layout of inputs, outputs and deltas.
    kernel_layout : {"KCRS", "RSCK"} or, for affine, {"IJ", "JI"}
        Layout of the kernel (K, C, R, S) as cnnprop, or (R, S, C, K) as
        TensorFlow; affine weights (I, J) as cnnprop or (J, I) for ``x @ w``.
    convolution : {"correlation", "true"}
        Whether the forward pass slides the kernel (cross-correlation, eq (4),
        every framework) or the kernel flipped (true convolution).
    reduction : {"mean", "sum"}
        Parameter gradients of the mean loss over the batch (the source's
        1/N, eqs (5), (6), (18), (19)) or of the sum (autograd of
        ``sum(delta * y)``).
    ties : {"all", "first"}
        Max-pooling tie rule (erratum E7): every tied maximum receives the
        delta, or only the first in row-major order (PyTorch).
    dtypes : tuple of str
        Precisions the implementation supports.
    options : tuple of str
        The options of :data:`OPTIONS` it supports.
    activation : str
        The activation of an ``activation`` adapter (a name in
        ``cnnprop.ACTIVATIONS``), with its ``params`` (e.g.
        ``{"negative_slope": 0.1}``).
    params : dict
        Parameters of the activation.

    Examples
    --------
    >>> from cnnprop.testing import Adapter
    >>> relu = Adapter("activation", forward=lambda x: x * (x > 0),
    ...                backward_input=lambda d, x: d * (x > 0), activation="relu")
    >>> relu.directions
    ('forward', 'backward_input')
    """

    family: str
    forward: Optional[Callable] = None
    backward_input: Optional[Callable] = None
    backward_params: Optional[Callable] = None
    name: str = ""
    layout: str = "NCHW"
    kernel_layout: str = ""
    convolution: str = "correlation"
    reduction: str = "mean"
    ties: str = "all"
    dtypes: Tuple[str, ...] = ("float64", "float32")
    options: Tuple[str, ...] = ("stride", "padding")
    activation: str = ""
    params: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {self.family!r}")
        if not self.kernel_layout:
            object.__setattr__(self, "kernel_layout", "IJ" if self.family == "affine" else "KCRS")
        if not self.name:
            object.__setattr__(self, "name", self.activation or self.family)
        for attr, choices in _CHOICES.items():
            if getattr(self, attr) not in choices:
                raise ValueError(f"{attr} must be one of {choices}, got {getattr(self, attr)!r}")
        affine_layouts = ("IJ", "JI")
        if (self.family == "affine") != (self.kernel_layout in affine_layouts):
            raise ValueError(f"kernel_layout {self.kernel_layout!r} does not apply to family {self.family!r}")
        object.__setattr__(self, "dtypes", tuple(self.dtypes))
        object.__setattr__(self, "options", tuple(self.options))
        if not self.dtypes or set(self.dtypes) - {"float64", "float32"}:
            raise ValueError(f"dtypes must be a non-empty subset of ('float64', 'float32'), got {self.dtypes}")
        unknown = set(self.options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; known: {OPTIONS}")
        for direction in ("forward", "backward_input", "backward_params"):
            fn = getattr(self, direction)
            if fn is not None and not callable(fn):
                raise TypeError(f"{direction} must be callable or None, got {type(fn).__name__}")
            if fn is not None and direction not in FAMILIES[self.family]:
                raise ValueError(f"family {self.family!r} has no {direction}")
        if not self.directions:
            raise ValueError("the adapter provides no direction (forward, backward_input, backward_params)")
        if self.family == "activation":
            import cnnprop

            if self.activation not in cnnprop.ACTIVATIONS:
                raise ValueError(f"activation must be one of {cnnprop.ACTIVATIONS}, got {self.activation!r}")

    @property
    def directions(self):
        """The directions the adapter provides, in order."""
        return tuple(d for d in FAMILIES[self.family] if getattr(self, d) is not None)

    def claims(self, option):
        """Whether the adapter supports ``option``."""
        return option in self.options

    def replace(self, **changes):
        """A copy with some fields changed (used to test other conventions)."""
        return dataclasses.replace(self, **changes)

    def conventions(self):
        """The conventions that apply to this family, as ``name=value`` text."""
        keys = {"convolution": ("layout", "kernel_layout", "convolution", "reduction"),
                "transposed_convolution": ("layout", "kernel_layout", "reduction"),
                "max_pooling": ("layout", "ties"), "average_pooling": ("layout",),
                "activation": (), "affine": ("kernel_layout", "reduction")}[self.family]
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in keys)
