"""Eqs (15), (16): element-wise activations and their derivatives."""
import numpy as np
import pytest
from scipy.special import expit

import cnnprop
from _helpers import random, unit_roundoff
from conftest import DTYPES

from cnnprop.verify.ulp import FAST_ULPS

# The fast path's polynomial kernels are within FAST_ULPS ulp (at most 6, see
# test_activation_ulp.py); an ulp is up to 2 u relative to the value; 8 more
# u for the float64 libm of the literal kernels where they are the reference
FAST_UNITS = 2 * max(FAST_ULPS.values()) + 8


# Independent float64 formulas (numpy / scipy), evaluated directly.
PHI = {
    "identity": lambda x, a: x,
    "relu": lambda x, a: np.maximum(x, 0.0),
    "leaky_relu": lambda x, a: np.where(x > 0, x, a * x),
    "sigmoid": lambda x, a: expit(x),
    "tanh": lambda x, a: np.tanh(x),
    "elu": lambda x, a: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
    "softplus": lambda x, a: np.logaddexp(0.0, x),
}
PARAM = {"leaky_relu": ("negative_slope", 0.01), "elu": ("alpha", 1.0)}
# bounds on |phi'''| used in the finite-difference truncation error
THIRD_DERIVATIVE_BOUND = {"identity": 0, "relu": 0, "leaky_relu": 0, "sigmoid": 0.125,
                          "tanh": 2.0, "elu": 1.0, "softplus": 0.125}


def _kw(name, value=None):
    if name not in PARAM:
        return {}
    key, default = PARAM[name]
    return {key: default if value is None else value}


def test_registry_lists_every_activation():
    assert set(cnnprop.ACTIVATIONS) == set(PHI)


# next to 0, where exp(x) - 1 loses expm1's digits, and in the tails, where
# 1 - 1/(1 + e^x) or log(1 + e^x) lose theirs
EDGES = [-1e-12, -3e-9, 1e-12, 2e-7, -40.0, -30.0, -20.0, 20.0, 30.0, 40.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(PHI))
def test_forward_matches_numpy(rng, name, dtype, algorithm):
    z = np.concatenate([random(rng, (3 * 4 * 5 * 6,), dtype, -6, 6), np.array(EDGES, dtype)])
    out = cnnprop.activation_forward(z, name, **_kw(name))
    assert out.dtype == dtype and out.shape == z.shape
    a = PARAM.get(name, (None, 0.0))[1]
    expected = PHI[name](np.float64(z), a)
    # literal: evaluated in float64 (libm and the reference: a few ulp each)
    # and rounded once; fast float32: float32 libm. Relative to |phi|
    # everywhere, also near 0 and in the tails.
    ulps = FAST_UNITS if algorithm == "fast" else 1
    tol = (ulps * unit_roundoff(dtype) + 16 * 2.0 ** -53) * np.abs(expected)
    assert np.all(np.abs(out - expected) <= tol)


@pytest.mark.parametrize("name", list(PHI))
def test_backward_against_finite_differences(rng, name, algorithm):
    """Central differences of phi, away from the kinks at 0.

    Error of (phi(x+h) - phi(x-h)) / 2h: truncation h^2 |phi'''| / 6 plus
    rounding ~ 2 u |phi(x)| / (2h) each side; h = 2^-17 balances them for
    |x| <= 8, and stays below the distance to the kink (|x| >= 1/64).
    """
    z = random(rng, (2, 3, 4, 5), np.float64, -8, 8)
    z = np.where(np.abs(z) < 1 / 64, 0.5, z)
    delta = random(rng, z.shape, np.float64)
    h = 2.0 ** -17
    kw = _kw(name)
    fd = (cnnprop.activation_forward(z + h, name, **kw)
          - cnnprop.activation_forward(z - h, name, **kw)) / (2 * h)
    dz = cnnprop.activation_backward(delta, z, name, **kw)
    phi = np.abs(PHI[name](z, PARAM.get(name, (None, 0.0))[1]))
    bound = np.abs(delta) * (h * h * THIRD_DERIVATIVE_BOUND[name] / 6
                             + 4 * 2.0 ** -53 * (phi + 1) / h)
    assert np.all(np.abs(dz - delta * fd) <= bound + 1e-300)
    assert np.max(np.abs(dz - delta * fd)) < 1e-9


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(PHI))
def test_float32_backward_is_the_rounded_float64_result(rng, name, dtype, algorithm):
    z = random(rng, (50,), np.float64, -5, 5)
    delta = random(rng, (50,), np.float64)
    exact = cnnprop.activation_backward(delta, z, name, **_kw(name), algorithm="direct")
    got = cnnprop.activation_backward(delta.astype(dtype), z.astype(dtype), name, **_kw(name))
    # the literal kernel rounds the float64 value once; the fast one works in the data type
    ulps = FAST_UNITS if algorithm == "fast" else 1
    assert np.all(np.abs(got - exact) <= ulps * unit_roundoff(dtype) * np.abs(exact))


def test_derivative_values_at_the_kinks(algorithm):
    z = np.zeros(1)
    one = np.ones(1)
    assert cnnprop.activation_backward(one, z, "relu")[0] == 0.0
    assert cnnprop.activation_backward(one, z, "leaky_relu", negative_slope=0.2)[0] == 0.2
    assert cnnprop.activation_backward(one, z, "elu", alpha=0.5)[0] == 0.5
    assert cnnprop.activation_backward(one, z, "sigmoid")[0] == 0.25
    assert cnnprop.activation_backward(one, z, "softplus")[0] == 0.5
    assert cnnprop.activation_backward(one, z, "tanh")[0] == 1.0


def test_parameters_change_the_result(algorithm):
    z = np.array([-2.0, 3.0])
    np.testing.assert_array_equal(cnnprop.activation_forward(z, "leaky_relu", negative_slope=0.5),
                                  [-1.0, 3.0])
    np.testing.assert_allclose(cnnprop.activation_forward(z, "elu", alpha=2.0),
                               [2 * np.expm1(-2.0), 3.0], rtol=1e-15)
    np.testing.assert_array_equal(cnnprop.activation_forward(z, "leaky_relu"), [-0.02, 3.0])


@pytest.mark.parametrize("name", list(PHI))
def test_extreme_inputs_do_not_overflow(name, algorithm):
    z = np.array([-1e308, -800.0, -40.0, 40.0, 800.0, 1e308])
    with np.errstate(all="raise"):
        out = cnnprop.activation_forward(z, name, **_kw(name))
        d = cnnprop.activation_backward(np.ones_like(z), z, name, **_kw(name))
    assert np.all(np.isfinite(out) | np.isinf(z) | (np.abs(z) > 1e300))
    assert np.all(np.isfinite(d))


@pytest.mark.parametrize("name", list(PHI))
def test_nan_propagates(name, algorithm):
    z = np.array([np.nan, 1.0])
    out = cnnprop.activation_forward(z, name, **_kw(name))
    d = cnnprop.activation_backward(np.ones(2), z, name, **_kw(name))
    assert np.isnan(out[0]) and np.isnan(d[0])
    assert np.isfinite(out[1]) and np.isfinite(d[1])


def test_any_shape_and_empty_arrays(rng):
    for shape in [(), (7,), (2, 3), (2, 3, 4, 5, 1)]:
        z = random(rng, shape, np.float32)
        out = cnnprop.activation_forward(z, "tanh")
        assert out.shape == z.shape and out.dtype == np.float32
    empty = np.empty((0, 3))
    assert cnnprop.activation_forward(empty, "relu").shape == (0, 3)
    assert cnnprop.activation_backward(empty, empty, "relu").shape == (0, 3)


def test_bitwise_identical_for_any_thread_count(rng, algorithm):
    z = random(rng, (4, 8, 16, 16), np.float32, -4, 4)
    for name in PHI:
        base = cnnprop.activation_backward(z, z, name, num_threads=1)
        np.testing.assert_array_equal(cnnprop.activation_backward(z, z, name, num_threads=2), base)


def _exact_derivative(name, x):
    """phi'(x) to 40 digits with the decimal module (an independent reference)."""
    from decimal import Decimal, getcontext

    getcontext().prec = 40
    x = Decimal(float(x))
    if name == "tanh":          # 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|x|)
        e = (-2 * abs(x)).exp()
        return float(4 * e / (1 + e) ** 2)
    e = (-abs(x)).exp()         # sigmoid' = softplus'' ... here: sigmoid(x) (1 - sigmoid(x))
    return float(e / (1 + e) ** 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_derivatives_stay_accurate_in_the_tails(name, dtype, algorithm):
    """1 - tanh(x)^2 and s (1 - s) cancel for large |x|; the kernels must not."""
    z = np.array([-40.0, -30.0, -20.0, -15.0, -8.0, -3.0, 0.5, 3.0, 8.0, 15.0, 20.0, 30.0, 40.0], dtype)
    got = cnnprop.activation_backward(np.ones_like(z), z, name)
    exact = np.array([_exact_derivative(name, x) for x in z])
    ulps = FAST_UNITS if algorithm == "fast" else 8
    assert np.all(np.abs(got - exact) <= ulps * unit_roundoff(dtype) * exact)
