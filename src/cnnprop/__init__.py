"""cnnprop: exact, verified forward and backward propagation of convolutional networks.

Every function implements one numbered equation of the source document, as
restated with 0-based indices in the project's spec (docs/spec.md, docs/equations.md;
the general convolution (4g), (5g), (7g) and T1-T3 in docs/spec-beyond.md, the
general pooling and average pooling in docs/pooling.md):

==================================  ======================
function                            equations
==================================  ======================
conv2d_forward                      (4), general (4g)
conv2d_backward_filter              (5), general (5g)
conv2d_backward_bias                (6)
conv2d_backward_input               (7)-(9), general (7g)
conv_transpose2d_forward            (7g) with x as D' (T1)
conv_transpose2d_backward_input     (4g) (T2)
conv_transpose2d_backward_filter    (5g), roles swapped (T3)
maxpool2d_forward                   (13), general (13g)
maxpool2d_backward                  (14)
maxpool2d_backward_indices          (14), ties="first"
avgpool2d_forward                   (A1)
avgpool2d_backward                  (A2)
activation_forward                  (15)
activation_backward                 (16)
affine_forward                      (17)
affine_backward_weight              (18)
affine_backward_bias                (19)
affine_backward_input               (20)
output_size                         Table 1
window_range                        (8), (9), (12)
==================================  ======================

Arrays are NCHW, float32 or float64. Parameter gradients carry the source's
1/N (``reduction="mean"``) unless ``reduction="sum"`` is asked for.
"""
from ._algorithm import ALGORITHMS, current_algorithm, use_algorithm
from ._kernels import _support
from .activation import ACTIVATIONS, activation_backward, activation_forward
from .affine import (affine_backward_bias, affine_backward_input,
                     affine_backward_weight, affine_forward)
from .conv import (conv2d_backward_bias, conv2d_backward_filter,
                   conv2d_backward_input, conv2d_forward)
from .conv_transpose import (conv_transpose2d_backward_filter, conv_transpose2d_backward_input,
                             conv_transpose2d_forward)
from .geometry import output_size, window_range
from .avgpool import avgpool2d_backward, avgpool2d_forward
from .pool import maxpool2d_backward, maxpool2d_backward_indices, maxpool2d_forward

__version__ = "0.1.0"

__all__ = [
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_filter",
    "conv2d_backward_bias",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward_input",
    "conv_transpose2d_backward_filter",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_backward_indices",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "activation_forward",
    "activation_backward",
    "ACTIVATIONS",
    "affine_forward",
    "affine_backward_input",
    "affine_backward_weight",
    "affine_backward_bias",
    "output_size",
    "window_range",
    "use_algorithm",
    "current_algorithm",
    "ALGORITHMS",
    "build_info",
]


def build_info():
    """How this installation of cnnprop was compiled.

    Returns
    -------
    dict
        ``version``; ``openmp`` (kernels compiled with OpenMP);
        ``boundscheck`` (kernels compiled with Cython bounds checks);
        ``max_threads`` (threads a call uses when ``num_threads=None``).

    Examples
    --------
    >>> sorted(build_info())
    ['boundscheck', 'max_threads', 'openmp', 'version']
    """
    from ._threads import resolve_num_threads

    return {
        "version": __version__,
        "openmp": _support.openmp_enabled(),
        "boundscheck": _support.boundscheck_enabled(),
        "max_threads": resolve_num_threads(None),
    }


# The subpackages load on first use (PEP 562), so ``import cnnprop`` stays
# light and ``cnnprop.verify.run()`` works without importing cnnprop.verify.
_SUBMODULES = ("verify", "nn", "bench")


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
