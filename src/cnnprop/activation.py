"""Element-wise activations: eqs (15) and (16) of docs/spec.md, and their registry.

| name         | phi(x)                               | phi'(x), and the value chosen at the kink |
|--------------|--------------------------------------|-------------------------------------------|
| identity     | x                                    | 1                                         |
| relu         | max(x, 0)                            | 1 for x > 0, 0 for x <= 0 (phi'(0) = 0)   |
| leaky_relu   | x for x > 0, a*x otherwise           | 1 for x > 0, a for x <= 0 (phi'(0) = a)   |
| sigmoid      | 1 / (1 + exp(-x))                    | phi(x) * (1 - phi(x))                     |
| tanh         | tanh(x)                              | 1 - tanh(x)**2                            |
| elu          | x for x > 0, a*(exp(x) - 1) otherwise| 1 for x > 0, a*exp(x) for x <= 0 (phi'(0) = a) |
| softplus     | log(1 + exp(x))                      | sigmoid(x)                                |

The kink values match PyTorch's autograd. ``a`` is ``negative_slope`` for
leaky_relu (default 0.01) and ``alpha`` for elu (default 1.0).
"""
import math

import numpy as np

from . import _validate as check
from ._algorithm import resolve
from ._kernels import activation_direct, activation_fast
from ._threads import resolve_num_threads

__all__ = ["ACTIVATIONS", "activation_forward", "activation_backward"]

# The activations that take a parameter: name -> (parameter name, default).
_PARAMETERS = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}

# Work units an element costs, for the automatic thread count (the units of
# _threads.MIN_WORK_PER_THREAD, calibrated on multiply-adds of ~0.1-0.2 ns).
# Measured on one thread, fast path, 3.2M elements (docs/performance.md):
# relu/identity/leaky_relu run at memory speed, ~0.6 ns (float32) to 1.4 ns
# (float64) an element; the polynomial exp/log1p loops take 1.5x to 3.5x
# that with AVX2 and 5x to 8x on the generic loops. So the cheap loops count
# 8 (two threads from 131072 elements, ~75 us of float32 relu) and the
# transcendental ones twice that (two threads from 65536 elements, 60 to
# 250 us on one thread).
_WORK_PER_ELEMENT = {"sigmoid": 16, "tanh": 16, "elu": 16, "softplus": 16}

#: Names accepted by :func:`activation_forward` and :func:`activation_backward`.
ACTIVATIONS = tuple(activation_direct.CODES)


def _resolve(name, negative_slope, alpha):
    """(kernel code, parameter value) for an activation name and its options."""
    check.one_of(name, "name", ACTIVATIONS)
    code = activation_direct.CODES[name]
    param, default = _PARAMETERS.get(name, (None, None))
    given = {"negative_slope": negative_slope, "alpha": alpha}
    for option, value in given.items():
        if value is not None and option != param:
            raise TypeError(f"activation {name!r} takes no {option} parameter")
    value = given.get(param) if param else None
    if value is None:
        return code, (default if default is not None else 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{param} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{param} must be finite, got {value!r}")
    return code, float(value)


def activation_forward(z, name, *, negative_slope=None, alpha=None, algorithm="auto", num_threads=None):
    """Activation forward pass, eq (15): ``out = phi(z)`` element-wise.

    Parameters
    ----------
    z : ndarray of any shape
        Layer input, float32 or float64.
    name : str
        One of :data:`ACTIVATIONS`: ``identity``, ``relu``, ``leaky_relu``,
        ``sigmoid``, ``tanh``, ``elu``, ``softplus``.
    negative_slope : float, optional
        Slope of ``leaky_relu`` for ``x <= 0``; default 0.01.
    alpha : float, optional
        Scale of ``elu`` for ``x <= 0``; default 1.0.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel, evaluated in float64 and rounded
        once (the reference path). ``"fast"``: one vectorised loop per
        activation in the data type; sigmoid, tanh, elu and softplus use
        polynomial exp/expm1/log1p, within a few ulp
        (``cnnprop.verify.ulp.FAST_ULPS``). ``"auto"`` (default): the
        choice of :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray
        Same shape and dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float dtype, or a parameter the activation does not take.
    ValueError
        Unknown ``name`` or a non-finite parameter.

    Notes
    -----
    The literal kernel evaluates in float64 and rounds once; sigmoid and
    softplus use forms that never overflow on both paths. NaN propagates.
    On the fast path sigmoid, tanh, elu and softplus are within 4 ulp of the
    exact value (elu 3), saturate to the exact limits (0, 1, -1, -alpha) and
    keep tanh's signed zeros; a NaN comes out as NaN, not necessarily with
    its payload. Their last bits depend on the CPU (AVX2+FMA loops where it
    has them, generic ones elsewhere), never on the thread count.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> cnnprop.activation_forward(np.array([-2.0, 0.0, 3.0]), "relu")
    array([0., 0., 3.])
    >>> cnnprop.activation_forward(np.array([-2.0, 3.0]), "leaky_relu", negative_slope=0.5)
    array([-1.,  3.])
    """
    code, param = _resolve(name, negative_slope, alpha)
    z = check.float_array(z, "z", allow_empty=True)
    kernels = activation_fast if resolve(algorithm, z.size, 0) == "fast" else activation_direct
    threads = resolve_num_threads(num_threads, work=_WORK_PER_ELEMENT.get(name, 8) * z.size)
    out = np.empty_like(z)
    kernels.activation_forward(z.reshape(-1), out.reshape(-1), code, param, threads)
    return out


def activation_backward(delta, z, name, *, negative_slope=None, alpha=None, algorithm="auto",
                        num_threads=None):
    """Activation input delta, eq (16): ``dz = delta * phi'(z)`` element-wise.

    Parameters
    ----------
    delta : ndarray
        ``dE_n/dZ(l+1)``, same shape and dtype as ``z``.
    z : ndarray
        Layer input of the forward pass (not its output).
    name : str
        One of :data:`ACTIVATIONS`.
    negative_slope, alpha : float, optional
        As in :func:`activation_forward`.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel, evaluated in float64 and rounded
        once (the reference path). ``"fast"``: one vectorised loop per
        activation in the data type; sigmoid, tanh, elu and softplus use
        polynomial exp/expm1/log1p, within a few ulp
        (``cnnprop.verify.ulp.FAST_ULPS``). ``"auto"`` (default): the
        choice of :func:`use_algorithm`, else ``"fast"``.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray
        ``dE_n/dZ(l)``, same shape and dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, or a parameter the activation does not take.
    ValueError
        Shape mismatch, unknown ``name``, non-finite parameter.

    Notes
    -----
    At a kink the derivative takes the value in the module table (relu:
    ``phi'(0) = 0``). ``phi'(NaN)`` is NaN. On the fast path the
    transcendental derivatives are within 6 ulp of ``delta * phi'(z)``
    (elu 3, softplus 5) and vanish exactly in the tails.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.array([-1.0, 0.0, 2.0])
    >>> cnnprop.activation_backward(np.ones(3), z, "relu")
    array([0., 0., 1.])
    """
    code, param = _resolve(name, negative_slope, alpha)
    delta = check.float_array(delta, "delta", allow_empty=True)
    z = check.float_array(z, "z", allow_empty=True)
    check.same_dtype(z=z, delta=delta)
    check.check_shape(delta, "delta", z.shape, "the shape of z")
    kernels = activation_fast if resolve(algorithm, z.size, 0) == "fast" else activation_direct
    threads = resolve_num_threads(num_threads, work=_WORK_PER_ELEMENT.get(name, 8) * z.size)
    out = np.empty_like(z)
    kernels.activation_backward(delta.reshape(-1), z.reshape(-1), out.reshape(-1), code, param, threads)
    return out
