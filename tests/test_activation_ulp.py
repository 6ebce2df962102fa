"""The fast transcendental activations (_kernels/_vmath.h): ulp bounds, edges, NaN, determinism.

The bounds are cnnprop.verify.ulp.FAST_ULPS; the reference is the exact
function in longdouble (cnnprop.verify.ulp.reference). Every test runs on
each instruction set this CPU has (the generic loops, and the AVX2+FMA ones).
"""
import numpy as np
import pytest

import cnnprop
from cnnprop._kernels import activation_fast
from cnnprop.verify.checks_activation import ULP_EDGES, ulp_inputs
from cnnprop.verify.ulp import FAST_ULPS, TRANSCENDENTAL, reference, reference_ulps, ulp_error
from conftest import DTYPES

ISAS = ["generic"] + (["avx2"] if activation_fast.avx2_available() else [])
DIRECTIONS = ("forward", "backward")


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test on the generic loops, then on the AVX2+FMA ones where the CPU has them."""
    assert activation_fast.select_isa(request.param) == request.param
    try:
        yield request.param
    finally:
        activation_fast.select_isa(None)


def _run(name, direction, z, delta, alpha=1.0, **options):
    params = {"alpha": alpha} if name == "elu" else {}
    if direction == "forward":
        return cnnprop.activation_forward(z, name, algorithm="fast", **params, **options)
    return cnnprop.activation_backward(delta, z, name, algorithm="fast", **params, **options)


def _float32_sweep():
    """Every 2039th float32 bit pattern of either sign: all binades, varied low bits (2.1M values)."""
    bits = np.arange(0, 0x7F800000, 2039, dtype=np.uint32)
    x = bits.view(np.float32)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("name", TRANSCENDENTAL)
def test_within_the_stated_ulp_bound(name, direction, dtype, isa):
    """Random arguments over the whole range plus the edges; float32 also a sweep of all binades."""
    rng = np.random.default_rng([7, TRANSCENDENTAL.index(name), DIRECTIONS.index(direction)])
    z = ulp_inputs(rng, dtype, size=1 << 18)
    if dtype == np.float32:
        z = np.concatenate([z, _float32_sweep()[::4 if direction == "backward" else 2]])
    delta = rng.uniform(-1, 1, z.size).astype(dtype)
    alpha = 1.5
    got = _run(name, direction, z, delta, alpha)
    error = ulp_error(got, reference(name, direction, z, delta, alpha), dtype)
    assert not np.isnan(error).any(), z[np.isnan(error)][:8]       # a NaN gained or lost
    worst = int(np.argmax(error))
    bound = FAST_ULPS[name, direction] + reference_ulps(dtype)
    assert error[worst] <= bound, (z[worst], got[worst], error[worst])
    # the bound is not vacuous: the kernels are not correctly rounded
    assert error.max() > 0.5


def test_the_sweep_can_fail(isa):
    """A kernel 1 ulp off everywhere would break the elu bound's margin check."""
    z = np.linspace(-3, -0.1, 1000)
    good = _run("elu", "forward", z, None)
    bad = good + 4 * np.spacing(np.abs(good))
    assert ulp_error(bad, reference("elu", "forward", z), np.float64).max() > FAST_ULPS["elu", "forward"]


# value -> (sigmoid, tanh, elu with alpha 1.5, softplus): exact results
SATURATION = {
    np.inf: (1.0, 1.0, np.inf, np.inf),
    -np.inf: (0.0, -1.0, -1.5, 0.0),
    -800.0: (0.0, -1.0, -1.5, 0.0),
    800.0: (1.0, 1.0, 800.0, 800.0),
    -120.0: (None, -1.0, -1.5, None),
}


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturation_values_are_exact(dtype, isa):
    for value, expected in SATURATION.items():
        z = np.array([value], dtype)
        for name, want in zip(TRANSCENDENTAL, expected):
            if want is None:
                continue
            got = _run(name, "forward", z, None, 1.5)[0]
            assert got == dtype(want), (name, value, got)
    # the derivatives vanish in the tails, where the literal formulas do too
    z = np.array([-np.inf, np.inf, -800.0, 800.0], dtype)
    ones = np.ones_like(z)
    for name in ("sigmoid", "tanh"):
        assert np.all(_run(name, "backward", z, ones) == 0), name
    np.testing.assert_array_equal(_run("elu", "backward", z, ones, 1.5), [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_run("softplus", "backward", z, ones), [0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_signed_zeros_and_tiny_arguments(dtype, isa):
    tiny = np.finfo(dtype).smallest_subnormal
    z = np.array([0.0, -0.0, tiny, -tiny], dtype)
    tanh = _run("tanh", "forward", z, None)
    np.testing.assert_array_equal(tanh, z)                      # tanh x = x, sign of zero kept
    assert np.signbit(tanh[1]) and not np.signbit(tanh[0])
    elu = _run("elu", "forward", z, None, 1.0)
    assert np.signbit(elu[1]) and elu[0] == 0 and elu[2] == tiny
    np.testing.assert_array_equal(_run("sigmoid", "forward", z, None), np.full(4, 0.5, dtype))
    np.testing.assert_array_equal(_run("softplus", "forward", z[:2], None), np.full(2, np.log(2), dtype))
    ones = np.ones_like(z)
    np.testing.assert_array_equal(_run("sigmoid", "backward", z, ones), np.full(4, 0.25, dtype))
    np.testing.assert_array_equal(_run("tanh", "backward", z, ones), np.ones(4, dtype))
    np.testing.assert_array_equal(_run("elu", "backward", z[:2], ones[:2], 0.5), [0.5, 0.5])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", TRANSCENDENTAL)
def test_nan_in_nan_out(name, dtype, isa):
    """NaN in z gives NaN forward and backward; NaN in delta gives NaN; the payload is not kept."""
    z = np.array([np.nan, -np.nan, 1.0, -1.0, 0.0], dtype)
    delta = np.array([1.0, 1.0, np.nan, np.nan, np.nan], dtype)
    assert np.all(np.isnan(_run(name, "forward", z, None)) == [True, True, False, False, False])
    assert np.all(np.isnan(_run(name, "backward", z, delta)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_the_literal_kernels_at_the_edges(dtype, isa):
    """Where the literal kernels are exact (saturation, zeros, infinities) the fast ones agree."""
    z = ULP_EDGES.astype(dtype) if dtype == np.float64 else ULP_EDGES[np.abs(ULP_EDGES) < 3e38].astype(dtype)
    delta = np.ones_like(z)
    for name in TRANSCENDENTAL:
        for direction in DIRECTIONS:
            fast = _run(name, direction, z, delta)
            if direction == "forward":
                direct = cnnprop.activation_forward(z, name, algorithm="direct")
            else:
                direct = cnnprop.activation_backward(delta, z, name, algorithm="direct")
            exact = np.isinf(direct) | (direct == 0) | (np.abs(direct) == 1) | np.isnan(direct)
            # where the literal kernel's exp underflows early (4 exp(-745.2)
            # is 1e-323, not 0), the fast one is the closer: compare where the
            # exact value rounds to the literal result
            with np.errstate(over="ignore"):
                truth = reference(name, direction, z, delta).astype(dtype)
            exact &= (truth == direct) | np.isnan(direct)
            assert exact.sum() >= 5
            np.testing.assert_array_equal(fast[exact], direct[exact], err_msg=f"{name} {direction}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_independent_of_threads_and_of_position(dtype, isa):
    """Element-wise: a value's result depends on the value only, not on the
    thread count, the chunk it falls in, or its alignment (vector body or
    scalar remainder of a loop)."""
    rng = np.random.default_rng(3)
    z = (rng.standard_normal(3 * 16384 + 37) * 5).astype(dtype)
    delta = rng.standard_normal(z.size).astype(dtype)
    for name in TRANSCENDENTAL:
        for direction in DIRECTIONS:
            base = _run(name, direction, z, delta, num_threads=1)
            np.testing.assert_array_equal(_run(name, direction, z, delta, num_threads=2), base)
            np.testing.assert_array_equal(_run(name, direction, z, delta, num_threads=3), base)
            for shift in (1, 3, 7):
                np.testing.assert_array_equal(_run(name, direction, z[shift:], delta[shift:]), base[shift:])
            for k in range(1, 9):     # arrays shorter than a vector: all scalar code
                np.testing.assert_array_equal(_run(name, direction, z[:k].copy(), delta[:k].copy()), base[:k])
            # one argument in the far tail switches its chunk's backward loop
            # to the one with the scaled exp: the other results stay the same
            far = z.copy()
            far[5] = -1000.0
            np.testing.assert_array_equal(np.delete(_run(name, direction, far, delta), 5), np.delete(base, 5))


def test_isa_selection():
    assert activation_fast.isa() in ISAS
    assert activation_fast.select_isa("generic") == "generic"
    assert activation_fast.isa() == "generic"
    best = activation_fast.select_isa(None)
    assert best == ISAS[-1]
    with pytest.raises(ValueError):
        activation_fast.select_isa("avx512")


@pytest.mark.parametrize("value, expected", [("generic", "generic"), ("auto", ISAS[-1]), ("", ISAS[-1]),
                                             ("avx512", ISAS[-1])])
def test_environment_pins_the_instruction_set(value, expected):
    """CNNPROP_VMATH is read at import: run in a fresh interpreter."""
    import os
    import subprocess
    import sys

    code = "import cnnprop._kernels.activation_fast as a, warnings; print(a.isa())"
    env = dict(os.environ, CNNPROP_VMATH=value)
    src = os.path.dirname(os.path.dirname(cnnprop.__file__))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
    assert ("ignored" in out.stderr) == (value == "avx512")


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_float_is_within_the_bound(dtype):
    """Property: every float (NaN, infinities, subnormals included), any delta in range, both directions."""
    from hypothesis import given, settings, strategies as st

    width = np.finfo(dtype).bits
    values = st.lists(st.floats(width=width, allow_nan=True, allow_infinity=True), min_size=1, max_size=64)
    # the bounds hold for |delta| below 2^98 (float32) and 2^963 (float64):
    # beyond, delta * exp(x) in the far tail may overflow on the way (_vmath.h)
    limit = 2.0 ** 97 if dtype == np.float32 else 2.0 ** 960
    deltas = st.floats(-limit, limit, width=width)

    @settings(max_examples=300, deadline=None)
    @given(values, deltas)
    def check(xs, d):
        z = np.array(xs, dtype)
        delta = np.full(z.shape, d, dtype)
        for name in TRANSCENDENTAL:
            for direction in DIRECTIONS:
                got = _run(name, direction, z, delta)
                error = ulp_error(got, reference(name, direction, z, delta), dtype)
                assert not np.isnan(error).any(), (name, direction, z, got)
                assert error.max() <= FAST_ULPS[name, direction] + reference_ulps(dtype), (name, direction, z, got)

    check()
