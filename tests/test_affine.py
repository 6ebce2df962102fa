"""Eqs (17)-(20): the affine (fully connected) layer."""
import numpy as np
import pytest

import cnnprop
from cnnprop import _gemm_plan
from _helpers import assert_fd_linear, assert_within, fd_gradient, random
from conftest import DTYPES

SHAPES = {  # input shape, I
    "flat": ((5, 7), 3),
    "nchw": ((4, 3, 2, 5), 6),
    "batch1_wide": ((1, 1300), 4),   # J spans several column blocks of eq (20)
    "single_output": ((3, 2, 3, 3), 1),
}


def _setup(rng, name, dtype):
    shape, I = SHAPES[name]
    z = random(rng, shape, dtype)
    J = int(np.prod(shape[1:]))
    w = random(rng, (I, J), dtype)
    b = random(rng, (I,), dtype)
    delta = random(rng, (shape[0], I), dtype)
    return z, w, b, delta


ALGORITHMS = ["direct", "fast"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(SHAPES))
def test_all_equations_match_numpy_matmul(rng, name, dtype, algorithm):
    z, w, b, delta = _setup(rng, name, dtype)
    N, J = z.shape[0], w.shape[1]
    z2, w64, d64 = np.float64(z).reshape(N, J), np.float64(w), np.float64(delta)
    kw = dict(algorithm=algorithm)
    acc = np.float64 if algorithm == "direct" else dtype
    out = cnnprop.affine_forward(z, w, b, **kw)
    assert out.dtype == dtype and out.shape == (N, w.shape[0])
    assert_within(out, z2 @ w64.T + b, abs(z2) @ abs(w64).T + abs(b), J + 1, "eq 17", acc)
    dw = cnnprop.affine_backward_weight(delta, z, **kw)
    # + 1: the 1/N, applied once (direct: a float64 division; gemm: BLAS's alpha)
    assert_within(dw, d64.T @ z2 / N, abs(d64).T @ abs(z2) / N, N + 1, "eq 18", acc)
    db = cnnprop.affine_backward_bias(delta)
    assert_within(db, d64.sum(0) / N, abs(d64).sum(0) / N, N + 1, "eq 19")
    dz = cnnprop.affine_backward_input(delta, w, z.shape, **kw)
    assert dz.shape == z.shape
    assert_within(dz.reshape(N, J), d64 @ w64, abs(d64) @ abs(w64), w.shape[0], "eq 20", acc)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", ["flat", "nchw"])
def test_against_finite_differences(rng, name, algorithm):
    z, w, b, _ = _setup(rng, name, np.float64)
    N = z.shape[0]
    g = random(rng, (N, w.shape[0]), np.float64)
    kw = dict(algorithm=algorithm)

    def mean_loss(z_, w_, b_):
        return float(np.sum(g * cnnprop.affine_forward(z_, w_, b_, **kw))) / N

    flat = z.reshape(N, -1)
    magnitude = np.sum(abs(g) * ((abs(flat) + 1) @ (abs(w) + 1).T + abs(b) + 1))
    length = w.shape[1] + 1 + g.size
    fd_z = fd_gradient(lambda x: mean_loss(x, w, b), z, 1.0) * N   # Delta is dE_n/dZ
    assert_fd_linear(cnnprop.affine_backward_input(g, w, z.shape, **kw), fd_z, magnitude, length, 1.0, "eq 20")
    assert_fd_linear(cnnprop.affine_backward_weight(g, z, **kw),
                     fd_gradient(lambda x: mean_loss(z, x, b), w, 1.0), magnitude, length, 1.0, "eq 18")
    assert_fd_linear(cnnprop.affine_backward_bias(g),
                     fd_gradient(lambda x: mean_loss(z, w, x), b, 1.0), magnitude, length, 1.0, "eq 19")


def test_flattening_is_c_order(rng):
    z, w, b, _ = _setup(rng, "nchw", np.float64)
    np.testing.assert_array_equal(cnnprop.affine_forward(z, w, b),
                                  cnnprop.affine_forward(z.reshape(z.shape[0], -1), w, b))


def test_reduction_sum_is_n_times_mean(rng):
    z, w, b, delta = _setup(rng, "flat", np.float64)
    N = z.shape[0]
    np.testing.assert_allclose(cnnprop.affine_backward_weight(delta, z, "sum"),
                               N * cnnprop.affine_backward_weight(delta, z, "mean"), rtol=1e-15)
    np.testing.assert_allclose(cnnprop.affine_backward_bias(delta, "sum"),
                               N * cnnprop.affine_backward_bias(delta), rtol=1e-15)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bitwise_identical_for_any_thread_count(rng, monkeypatch, algorithm):
    monkeypatch.setattr(_gemm_plan, "TILE", 7)      # many tiles to spread over threads
    z, w, b, delta = _setup(rng, "batch1_wide", np.float32)
    z, delta = np.concatenate([z] * 20), np.concatenate([delta] * 20)
    kw = dict(algorithm=algorithm)
    calls = [
        lambda t: cnnprop.affine_forward(z, w, b, num_threads=t, **kw),
        lambda t: cnnprop.affine_backward_input(delta, w, z.shape, num_threads=t, **kw),
        lambda t: cnnprop.affine_backward_weight(delta, z, num_threads=t, **kw),
        lambda t: cnnprop.affine_backward_bias(delta, num_threads=t),
    ]
    for call in calls:
        np.testing.assert_array_equal(call(1), call(2))
        np.testing.assert_array_equal(call(1), call(3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_path_agrees_with_the_literal_kernels_on_larger_shapes(rng, dtype):
    z = random(rng, (70, 3, 10, 11), dtype)
    w = random(rng, (300, 330), dtype)
    b = random(rng, (300,), dtype)
    delta = random(rng, (70, 300), dtype)
    z2 = np.float64(z).reshape(70, -1)
    pairs = [
        (lambda a: cnnprop.affine_forward(z, w, b, algorithm=a), abs(z2) @ abs(np.float64(w)).T + abs(b), 331),
        (lambda a: cnnprop.affine_backward_input(delta, w, z.shape, algorithm=a).reshape(70, -1),
         abs(np.float64(delta)) @ abs(np.float64(w)), 300),
        (lambda a: cnnprop.affine_backward_weight(delta, z, algorithm=a),
         abs(np.float64(delta)).T @ abs(z2) / 70, 71),
    ]
    for call, magnitude, length in pairs:
        assert_within(call("fast"), call("direct"), magnitude, length, "fast vs direct", accumulate=dtype)
