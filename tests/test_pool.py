"""Eqs (13), (14): max pooling, with errata E7 (tie rules) and E8 (padding never wins)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnprop
import _reference as ref
from _helpers import assert_within, distinct, fd_gradient, random
from conftest import DTYPES, accumulation

# (N, C, H, W, R, S, u, v, ph, pw)
POOL_GEOMETRIES = {
    "2x2_s2": (2, 3, 8, 6, 2, 2, 2, 2, 0, 0),
    "3x3_s2_p1_overlap": (2, 2, 9, 7, 3, 3, 2, 2, 1, 1),
    "asymmetric": (1, 2, 7, 10, 3, 2, 1, 3, 1, 0),
    "stride_gt_window": (2, 1, 9, 9, 2, 2, 3, 3, 0, 1),
    "window_fills_padded": (1, 2, 3, 4, 5, 4, 1, 1, 1, 0),
    "1x1_unused": (1, 3, 5, 5, 1, 1, 2, 2, 0, 0),
}
IDS = list(POOL_GEOMETRIES)


def _geometry(name):
    N, C, H, W, R, S, u, v, ph, pw = POOL_GEOMETRIES[name]
    return (N, C, H, W), (R, S), (u, v), (ph, pw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", IDS)
def test_forward_matches_numpy(rng, name, dtype, algorithm):
    shape, window, stride, pad = _geometry(name)
    z = random(rng, shape, dtype)
    y = cnnprop.maxpool2d_forward(z, window, stride, pad)
    assert y.dtype == dtype
    # a max is exact: no rounding anywhere
    np.testing.assert_array_equal(y, ref.maxpool_forward(z, *window, *stride, *pad))


def test_stride_defaults_to_the_window(rng):
    z = random(rng, (2, 2, 9, 8), np.float64)
    np.testing.assert_array_equal(cnnprop.maxpool2d_forward(z, (3, 2)),
                                  cnnprop.maxpool2d_forward(z, (3, 2), stride=(3, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ties", ["all", "first"])
@pytest.mark.parametrize("name", IDS)
def test_backward_matches_numpy_on_distinct_inputs(rng, name, dtype, ties, algorithm):
    shape, window, stride, pad = _geometry(name)
    z = distinct(rng, shape, dtype)
    y = cnnprop.maxpool2d_forward(z, window, stride, pad)
    delta = random(rng, y.shape, dtype)
    dz = cnnprop.maxpool2d_backward(delta, z, y, window, stride, pad, ties=ties)
    expected = ref.maxpool_backward(delta, z, y, *window, *stride, *pad, ties)
    assert dz.dtype == dtype
    # at most R*S windows add into one input
    magnitude = ref.maxpool_backward(abs(delta), z, y, *window, *stride, *pad, ties)
    assert_within(dz, expected, magnitude, window[0] * window[1], accumulate=accumulation(algorithm, dtype))


@pytest.mark.parametrize("name", IDS)
def test_backward_against_finite_differences(rng, name, algorithm):
    shape, window, stride, pad = _geometry(name)
    z = distinct(rng, shape, np.float64)            # values 1/64 apart: no tie, no switch
    y = cnnprop.maxpool2d_forward(z, window, stride, pad)
    g = random(rng, y.shape, np.float64)

    def loss(x):
        return float(np.sum(g * cnnprop.maxpool2d_forward(x, window, stride, pad)))

    step = 1.0 / 512                                 # well below half the gap: argmax fixed
    fd = fd_gradient(loss, z, step)
    dz = cnnprop.maxpool2d_backward(g, z, y, window, stride, pad)
    # the loss is linear in each entry within the step; only rounding is left
    bound = 4 * g.size * 2.0 ** -53 * np.sum(np.abs(g) * (np.abs(y) + 1)) / step
    assert np.max(np.abs(dz - fd)) <= bound


def test_overlapping_windows_accumulate(algorithm):
    """One input that is the maximum of several overlapping windows receives every delta."""
    z = np.zeros((1, 1, 3, 3))
    z[0, 0, 1, 1] = 5.0
    y = cnnprop.maxpool2d_forward(z, 2, stride=1)         # 4 windows, all contain (1, 1)
    delta = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    for ties in ("all", "first"):
        dz = cnnprop.maxpool2d_backward(delta, z, y, 2, stride=1, ties=ties)
        expected = np.zeros((1, 1, 3, 3))
        expected[0, 0, 1, 1] = 10.0
        np.testing.assert_array_equal(dz, expected)


def test_first_rule_with_overlap_and_ties(algorithm):
    """A tied value shared by overlapping windows: each window picks its own first max."""
    z = np.array([[[[1.0, 9.0, 9.0, 1.0]]]])        # 1 x 4, windows of 1 x 2, stride 1
    y = cnnprop.maxpool2d_forward(z, (1, 2), stride=1)
    np.testing.assert_array_equal(y, [[[[9.0, 9.0, 9.0]]]])
    delta = np.array([[[[1.0, 10.0, 100.0]]]])
    first = cnnprop.maxpool2d_backward(delta, z, y, (1, 2), stride=1, ties="first")
    np.testing.assert_array_equal(first, [[[[0.0, 11.0, 100.0, 0.0]]]])
    all_ = cnnprop.maxpool2d_backward(delta, z, y, (1, 2), stride=1, ties="all")
    np.testing.assert_array_equal(all_, [[[[0.0, 11.0, 110.0, 0.0]]]])


def test_matches_the_framework_rule_of_torch_when_available(rng, algorithm):
    torch = pytest.importorskip("torch")
    z = np.round(random(rng, (2, 3, 8, 8), np.float64) * 2) / 2   # many ties
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(zt, 3, stride=2, padding=1)
    g = random(rng, tuple(yt.shape), np.float64)
    yt.backward(torch.tensor(g))
    y = cnnprop.maxpool2d_forward(z, 3, 2, 1)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    dz = cnnprop.maxpool2d_backward(g, z, y, 3, 2, 1, ties="first")
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-15, atol=0)


def test_nan_pools_to_nan_and_receives_the_delta(algorithm):
    z = np.array([[[[1.0, np.nan], [3.0, 2.0]]]])
    y = cnnprop.maxpool2d_forward(z, 2)
    assert np.isnan(y[0, 0, 0, 0])
    for ties in ("all", "first"):
        dz = cnnprop.maxpool2d_backward(np.ones_like(y), z, y, 2, ties=ties)
        np.testing.assert_array_equal(dz, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_infinities_pool_like_numbers(algorithm):
    z = np.array([[[[-np.inf, -np.inf], [-np.inf, -np.inf]]]])
    y = cnnprop.maxpool2d_forward(z, 2)
    assert y[0, 0, 0, 0] == -np.inf
    dz = cnnprop.maxpool2d_backward(np.ones_like(y), z, y, 2, ties="first")
    assert dz[0, 0, 0, 0] == 1 and dz.sum() == 1


@st.composite
def pool_geometries(draw):
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, R - 1)), draw(st.integers(0, S - 1))
    H = draw(st.integers(max(1, R - 2 * ph), R + 6))
    W = draw(st.integers(max(1, S - 2 * pw), S + 6))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W), window=(R, S),
                stride=(draw(st.integers(1, 5)), draw(st.integers(1, 5))), padding=(ph, pw),
                seed=draw(st.integers(0, 2 ** 32 - 1)), dtype=draw(st.sampled_from(DTYPES)),
                levels=draw(st.sampled_from([3, 1000])),   # 3 levels: ties everywhere
                algorithm=draw(st.sampled_from(["direct", "fast"])))


@given(pool_geometries())
def test_pooling_on_random_geometries(geo):
    rng = np.random.default_rng(geo["seed"])
    z = (rng.integers(0, geo["levels"], size=geo["shape"]) / 4).astype(geo["dtype"])
    window, stride, pad = geo["window"], geo["stride"], geo["padding"]
    with cnnprop.use_algorithm(geo["algorithm"]):
        y = cnnprop.maxpool2d_forward(z, window, stride, pad)
        np.testing.assert_array_equal(y, ref.maxpool_forward(z, *window, *stride, *pad))
        delta = random(rng, y.shape, geo["dtype"])
        for ties in ("all", "first"):
            dz = cnnprop.maxpool2d_backward(delta, z, y, window, stride, pad, ties=ties)
            expected = ref.maxpool_backward(delta, z, y, *window, *stride, *pad, ties)
            magnitude = ref.maxpool_backward(abs(delta), z, y, *window, *stride, *pad, ties)
            assert_within(dz, expected, magnitude, window[0] * window[1],
                          accumulate=accumulation(geo["algorithm"], geo["dtype"]))


def test_bitwise_identical_for_any_thread_count(rng, algorithm):
    z = np.round(random(rng, (3, 5, 11, 9), np.float32) * 4) / 4
    y = cnnprop.maxpool2d_forward(z, 3, 2, 1, num_threads=1)
    delta = random(rng, y.shape, np.float32)
    for threads in (2, 3):
        np.testing.assert_array_equal(cnnprop.maxpool2d_forward(z, 3, 2, 1, num_threads=threads), y)
    for ties in ("all", "first"):
        base = cnnprop.maxpool2d_backward(delta, z, y, 3, 2, 1, ties=ties, num_threads=1)
        for threads in (2, 3):
            np.testing.assert_array_equal(
                cnnprop.maxpool2d_backward(delta, z, y, 3, 2, 1, ties=ties, num_threads=threads), base)
