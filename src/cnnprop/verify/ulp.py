"""Ulp errors of the fast transcendental activations: references, measure, stated bounds.

The fast path evaluates sigmoid, tanh, elu and softplus (eq 15) and their
input deltas (eq 16) with the polynomial exp/expm1/log1p of
``_kernels/_vmath.h``, in the data type. :data:`FAST_ULPS` states, per
activation, direction and dtype, how many units in the last place (ulp) of
the data type the result may be from the exact value. The bounds are the
maxima measured over 10^7 samples per case (uniform on [-30, 30], log-uniform
magnitudes from 1e-40 to 800, and the edges; both the generic and the
AVX2+FMA loops), ``tools/ulp_sweep.py``, rounded up with a margin of at
least 1 ulp; docs/performance.md gives the measured values.

The backward bounds hold for ``|delta| < 2^98`` (float32) and ``2^963``
(float64): see the subnormal tails in docs/performance.md.

One ulp of a value ``v`` here is ``numpy.spacing`` of ``|v|`` rounded to the
data type (the gap to the next representable number away from zero), and
never less than the smallest subnormal, so an error next to 0 or in the
subnormal range is counted in the absolute ulps of that range.
"""
import numpy as np

__all__ = ["TRANSCENDENTAL", "FAST_ULPS", "reference", "ulp_error", "reference_ulps"]

#: The activations whose fast kernels are the polynomial ones.
TRANSCENDENTAL = ("sigmoid", "tanh", "elu", "softplus")

# (name, direction) -> stated bound in ulp, the same for float32 and float64
# (the measured maxima differ by < 0.1 ulp between the dtypes and the ISAs).
# backward: delta * phi'(z) against the exact product for the rounded delta.
FAST_ULPS = {
    ("sigmoid", "forward"): 4, ("sigmoid", "backward"): 6,
    ("tanh", "forward"): 4, ("tanh", "backward"): 6,
    ("elu", "forward"): 3, ("elu", "backward"): 3,
    ("softplus", "forward"): 4, ("softplus", "backward"): 5,
}

# Digits the reference is evaluated with: numpy's longdouble (64-bit
# significand on x86) where it is wider than float64, else float64.
_WIDE = np.longdouble if np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant else np.float64


def reference_ulps(dtype):
    """Error of :func:`reference` itself, in ulp of ``dtype`` (added to a bound).

    With an extended longdouble the reference is within a few units of 2^-63
    relative, far below an ulp of float64 (0.05 allowed). Where longdouble is
    float64 (MSVC, some ARM builds) it is libm in float64, a few ulp of
    float64 per function and form (4 allowed), and negligible for float32.
    """
    if np.dtype(dtype) == np.float32:
        return 0.05
    return 0.05 if _WIDE is not np.float64 else 4.0


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def reference(name, direction, z, delta=None, alpha=1.0):
    """The exact activation (forward) or ``delta * phi'(z)`` (backward), in wide precision.

    Parameters
    ----------
    name : {"sigmoid", "tanh", "elu", "softplus"}
    direction : {"forward", "backward"}
    z, delta : ndarray
        Inputs in the data type; ``delta`` only for ``"backward"``.
    alpha : float
        elu's parameter.

    Returns
    -------
    ndarray
        In :data:`_WIDE` precision (longdouble where it is wider than float64).
    """
    x = np.asarray(z).astype(_WIDE)
    a = _WIDE(alpha)
    with np.errstate(all="ignore"):
        if direction == "forward":
            if name == "sigmoid":
                return _sigmoid(x)
            if name == "tanh":
                return np.tanh(x)
            if name == "elu":
                return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))
            if name == "softplus":
                return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        else:
            d = np.asarray(delta).astype(_WIDE)
            if name == "sigmoid":
                e = np.exp(-np.abs(x))
                return d * (e / ((1 + e) * (1 + e)))
            if name == "tanh":
                e = np.exp(-2 * np.abs(x))
                return d * (4 * e / ((1 + e) * (1 + e)))
            if name == "elu":
                return np.where(x > 0, d, d * (a * np.exp(np.minimum(x, 0))))
            if name == "softplus":
                return d * _sigmoid(x)
    raise ValueError(f"no reference for {name!r} {direction!r}")


def ulp_error(got, truth, dtype):
    """``|got - truth|`` in ulp of ``dtype`` at ``truth``, element-wise.

    NaN where exactly one of ``got`` and ``truth`` is NaN (a NaN that should
    not be, or a NaN lost); 0 where both are NaN or both are the same
    infinity; infinite where ``got`` is infinite and ``truth`` is not (or the
    other way round).
    """
    dtype = np.dtype(dtype).type
    got = np.asarray(got)
    truth = np.asarray(truth)
    with np.errstate(all="ignore"):
        rounded = truth.astype(dtype)
        spacing = np.maximum(np.spacing(np.abs(rounded)).astype(_WIDE),
                             _WIDE(np.finfo(dtype).smallest_subnormal))
        error = (np.abs(got.astype(_WIDE) - truth) / spacing).astype(np.float64)
    error[got.astype(_WIDE) == truth] = 0.0             # also equal infinities
    both_nan = np.isnan(got) & np.isnan(truth)
    error[both_nan] = 0.0
    error[np.isnan(got) ^ np.isnan(truth)] = np.nan
    return error
