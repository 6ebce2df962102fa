"""Checks of the element-wise activations, eqs (15) and (16)."""
from typing import NamedTuple

import numpy as np
from scipy.special import expit

import cnnprop
from cnnprop._kernels import activation_fast

from . import ulp
from .bounds import U64, unit_roundoff, worst_element
from .data import uniform
from .registry import Outcome, check


class ActivationCase(NamedTuple):
    """One activation, its parameter, its formula and a bound on |phi'''|."""

    name: str
    params: dict
    formula: object
    third_derivative: float


def _elu(x, a):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))


CASES = (
    ActivationCase("relu", {}, lambda x: np.maximum(x, 0.0), 0.0),
    ActivationCase("leaky_relu", {"negative_slope": 0.1}, lambda x: np.where(x > 0, x, 0.1 * x), 0.0),
    ActivationCase("sigmoid", {}, expit, 0.125),
    ActivationCase("tanh", {}, np.tanh, 2.0),
    ActivationCase("elu", {"alpha": 1.5}, lambda x: _elu(x, 1.5), 1.5),
    ActivationCase("softplus", {}, lambda x: np.logaddexp(0.0, x), 0.125),
    ActivationCase("identity", {}, lambda x: x, 0.0),
)
assert {c.name for c in CASES} == set(cnnprop.ACTIVATIONS), "a registered activation is not verified"

LIBM_ULPS = 8   # libm's exp, expm1, log1p, tanh are within a few ulp; forms chain at most 3
KINK_MARGIN = 1.0 / 32


def _inputs(rng):
    z = uniform(rng, (2, 3, 6, 7), -8.0, 8.0)
    # keep a margin from the kinks at 0 (relu, leaky_relu, elu)
    return np.where(np.abs(z) < KINK_MARGIN, 0.5, z)


# Where an inaccurate formula shows: next to 0 (exp(x) - 1 for expm1) and in
# the tails (1 - 1/(1 + e^x) for the sigmoid, log(1 + e^x) for softplus).
EDGES = np.array([-1e-12, -3e-9, 1e-12, 2e-7, -40.0, -30.0, -20.0, 20.0, 30.0, 40.0])


@check("activation_forward", "(15)",
       "each activation against its NumPy/SciPy formula",
       cases=CASES, quick_cases=CASES)
def activation_forward(case, dtype, rng):
    z = np.concatenate([_inputs(rng).ravel(), EDGES])
    out = cnnprop.activation_forward(z.astype(dtype), case.name, **case.params)
    truth = case.formula(z)
    # float64 evaluation within LIBM_ULPS ulp on each side, then one rounding
    # (the fast path evaluates in the data type with the polynomial kernels of
    # _vmath.h: FAST_ULPS ulp of the data type), all relative to |phi(x)|,
    # also near 0 and in the tails
    error, bound = worst_element(out, truth, np.abs(truth), _relative_bound(dtype), unit_roundoff(dtype))
    return Outcome(error, bound, "NumPy/SciPy formula, relative to |phi|")


def _relative_bound(dtype):
    """Relative error allowed against the float64 truth, before the final rounding."""
    if cnnprop.current_algorithm() == "direct":
        return 2 * LIBM_ULPS * U64               # float64 libm, here and in the reference
    # the fast path's polynomial kernels: FAST_ULPS ulp, up to 2 u each
    # relative to the value, plus the float64 libm of the reference
    return 2 * max(ulp.FAST_ULPS.values()) * unit_roundoff(dtype) + LIBM_ULPS * U64


def _fd_step(case):
    """Step balancing truncation h^2 M3 / 6 and rounding ~u/h; 1/128 for piecewise-linear maps."""
    if case.third_derivative == 0:
        return 1.0 / 128          # below KINK_MARGIN: never crosses a kink
    return float((3 * LIBM_ULPS * U64 / case.third_derivative) ** (1 / 3))


@check("activation_backward_fd", "(16)",
       "delta * phi'(z) against central differences of phi, away from kinks",
       cases=CASES, quick_cases=CASES)
def activation_backward_fd(case, dtype, rng):
    z = _inputs(rng)
    delta = uniform(rng, z.shape)
    if dtype == "float32":
        got = cnnprop.activation_backward(delta.astype(dtype), z.astype(dtype), case.name, **case.params)
        exact = cnnprop.activation_backward(delta, z, case.name, **case.params)
        error, bound = worst_element(got, exact, np.abs(exact), _relative_bound(dtype), unit_roundoff(dtype))
        return Outcome(error, bound, "float32 vs float64 result")
    h = _fd_step(case)

    def phi(x):
        return cnnprop.activation_forward(x, case.name, **case.params)

    fd = (phi(z + h) - phi(z - h)) / (2 * h)
    dz = cnnprop.activation_backward(delta, z, case.name, **case.params)
    # truncation + rounding of phi at z +- h (LIBM_ULPS each) + rounding of z +- h
    slope = np.maximum(np.abs(fd), 1.0)
    scale = np.maximum(np.abs(phi(z + h)), np.abs(phi(z - h)))
    bound = (h * h * case.third_derivative / 6
             + (LIBM_ULPS * U64 * scale + U64 * (np.abs(z) + h) * slope) / h
             + 4 * U64 * np.abs(fd))
    error = np.abs(dz - delta * fd) / np.abs(delta)
    worst = int(np.argmax(error / bound))
    return Outcome(float(error.flat[worst]), float(bound.flat[worst]),
                   f"element-wise central differences, h = {h:.2g}")


# Where the polynomial kernels of the fast path switch form or saturate:
# signed zeros, infinities, NaN, subnormals, the clamps of exp (-746, -104)
# and expm1 (-100, -40), the underflow thresholds, the reduction's
# half-ulp points (+-ln2/2), log1p's switch (exp(-|x|) = 1/2 at |x| = ln2),
# and magnitudes that overflow float32.
ULP_EDGES = np.array([
    0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, -1e-310, 1.4e-45, -1.4e-45,
    1e-38, -1e-38, 1e-30, -1e-30, 1e-8, -1e-8, 3e-4, -3e-4, 0.34657359, -0.34657359,
    0.6931471805599453, -0.6931471805599453, 0.7, -0.7, 1.0, -1.0, 9.0, -9.0, 20.0, -20.0,
    40.0, -40.0, 50.0, -50.0, 87.3, -87.3, 88.8, -88.8, 100.0, -100.0, 103.97, -103.97,
    104.0, -104.0, 120.0, -120.0, 354.0, -354.0, 372.6, -372.6, 708.0, -708.0, 745.1,
    -745.1, 746.0, -746.0, 800.0, -800.0, 1e30, -1e30, 3e38, -3e38, 1e300, -1e300,
])


class UlpCase(NamedTuple):
    """One transcendental activation in one direction, with its stated ulp bound."""

    name: str
    activation: str
    direction: str
    params: dict


ULP_CASES = tuple(UlpCase(f"{name}/{direction}", name, direction, {"alpha": 1.5} if name == "elu" else {})
                  for name in ulp.TRANSCENDENTAL for direction in ("forward", "backward"))


def ulp_inputs(rng, dtype, size=4096):
    """Random arguments over the whole range, and the edges, in ``dtype``."""
    quarter = size // 4
    magnitude = 10.0 ** rng.uniform(-40, np.log10(800), size - 3 * quarter)
    x = np.concatenate([rng.uniform(-30, 30, quarter), rng.uniform(-3, 3, quarter),
                        rng.standard_normal(quarter),
                        rng.choice([-1.0, 1.0], magnitude.size) * magnitude, ULP_EDGES])
    with np.errstate(over="ignore"):
        return x.astype(dtype)


@check("activation_fast_ulp", "(15), (16)",
       "fast sigmoid/tanh/elu/softplus and their deltas within their stated ulp bounds (edges, NaN, inf)",
       cases=ULP_CASES, quick_cases=ULP_CASES, paths=("fast",))
def activation_fast_ulp(case, dtype, rng):
    z = ulp_inputs(rng, dtype)
    delta = uniform(rng, z.shape).astype(dtype)
    if case.direction == "forward":
        got = cnnprop.activation_forward(z, case.activation, **case.params)
    else:
        got = cnnprop.activation_backward(delta, z, case.activation, **case.params)
    truth = ulp.reference(case.activation, case.direction, z, delta, case.params.get("alpha", 1.0))
    # a NaN gained or lost is a NaN error, which never passes. Reported as
    # ulps times the dtype's epsilon (the relative spacing at 1), the scale
    # of the other checks' relative errors: 1 ulp of float64 is 2.2e-16.
    eps = float(np.finfo(dtype).eps)
    error = float(np.max(ulp.ulp_error(got, truth, dtype)))
    bound = ulp.FAST_ULPS[case.activation, case.direction] + ulp.reference_ulps(dtype)
    return Outcome(error * eps, bound * eps,
                   f"ulps x eps against a longdouble reference ({activation_fast.isa()} loops)")
