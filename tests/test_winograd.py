"""Winograd minimal filtering (algorithm="winograd"): eqs (4g), (7g) by (W1), (W2)."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnprop
from cnnprop import _winograd
from cnnprop.verify import references as sref
from cnnprop.verify.bounds import gamma, unit_roundoff
from _helpers import random
from conftest import DTYPES


def _bound(result, truth, magnitude, channels, dtype, m=None):
    """Worst |result - truth| / bound (W3) of docs/winograd.md: must be <= 1.

    ``gamma_L(u) m_W + u |truth|`` with ``L = rounding_length(m, channels)``,
    plus ``gamma_L(u64) m_W`` for a float64 truth that is itself rounded.
    """
    u = unit_roundoff(dtype)
    length = _winograd.rounding_length(m or _winograd.tile_size(dtype), channels)
    bound = (gamma(length, u) + gamma(length)) * magnitude + u * np.abs(truth)
    diff = np.abs(np.float64(result) - truth)
    assert np.all(np.isfinite(result))
    return float(np.max(diff / np.where(bound > 0, bound, 1.0), initial=0.0))


def _forward_case(rng, N, C, H, W, K, pads, dtype):
    z = random(rng, (N, C, H, W), dtype)
    f = random(rng, (K, C, 3, 3), dtype)
    b = random(rng, (K,), dtype)
    return z, f, b


# ---------------------------------------------------------------- the transforms

@pytest.mark.parametrize("m", _winograd.TILES)
def test_transforms_reproduce_the_correlation_exactly(m):
    # y_i = sum_k d_{i+k} g_k: the coefficient of d_a g_k in A^T[(G g) . (B^T d)] is [a == i + k]
    AT, G, BT = _winograd.exact_transforms(m)
    alpha = m + 2
    for i in range(m):
        for a in range(alpha):
            for k in range(3):
                coef = sum((AT[i][x] * G[x][k] * BT[x][a] for x in range(alpha)), Fraction(0))
                assert coef == int(a == i + k), (m, i, a, k)


def test_the_float_transforms_are_the_exact_ones_rounded():
    for m in _winograd.TILES:
        for exact, flt in zip(_winograd.exact_transforms(m), _winograd.transforms(m)):
            np.testing.assert_array_equal(flt, np.array([[float(x) for x in r] for r in exact]))


# ---------------------------------------------------------------- against the references

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_forward_matches_scipy_and_the_literal_kernel(rng, dtype, pad):
    z, f, b = _forward_case(rng, 2, 5, 11, 8, 4, pad, dtype)
    out = cnnprop.conv2d_forward(z, f, b, padding=pad, algorithm="winograd")
    assert out.dtype == dtype
    truth = sref.conv_forward(z, f, b, (1, 1), (pad, pad))
    m = _winograd.tile_size(dtype)
    mag = sref.winograd_magnitude(z, f, b, out.shape, pad, pad, m)
    assert _bound(out, truth, mag, 5, dtype) <= 1
    direct = cnnprop.conv2d_forward(z, f, b, padding=pad, algorithm="direct")
    assert _bound(out, np.float64(direct), mag, 5 + 1, dtype) <= 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", [0, 1, 2, 3])
def test_input_delta_matches_scipy_and_the_literal_kernel(rng, dtype, pad):
    N, C, H, W, K = 2, 3, 9, 10, 5
    f = random(rng, (K, C, 3, 3), dtype)
    P, Q = H + 2 * pad - 2, W + 2 * pad - 2
    delta = random(rng, (N, K, P, Q), dtype)
    dz = cnnprop.conv2d_backward_input(delta, f, (N, C, H, W), padding=pad, algorithm="winograd")
    assert dz.dtype == dtype and dz.shape == (N, C, H, W)
    truth = sref.conv_backward_input(delta, f, (N, C, H, W), (1, 1), (pad, pad))
    m = _winograd.tile_size(dtype)
    f_rot = np.ascontiguousarray(f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    mag = sref.winograd_magnitude(delta, f_rot, None, dz.shape, 2 - pad, 2 - pad, m)
    assert _bound(dz, truth, mag, K, dtype) <= 1
    direct = cnnprop.conv2d_backward_input(delta, f, (N, C, H, W), padding=pad, algorithm="direct")
    assert _bound(dz, np.float64(direct), mag, K + 1, dtype) <= 1


@pytest.mark.parametrize("m", _winograd.TILES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_both_tile_sizes_in_both_dtypes(rng, m, dtype):
    # the kernel takes either tile size whatever tile_size() picks for the dtype
    z, f, b = _forward_case(rng, 3, 6, 13, 7, 5, 1, dtype)
    out = _winograd.correlate(z, _winograd.filter_transform(f, m), b, (3, 5, 13, 7), 1, 1, m, None)
    truth = sref.conv_forward(z, f, b, (1, 1), (1, 1))
    mag = sref.winograd_magnitude(z, f, b, out.shape, 1, 1, m)
    assert _bound(out, truth, mag, 6, dtype, m) <= 1


def test_the_winograd_magnitude_bounds_the_direct_one(rng):
    z, f, b = _forward_case(rng, 2, 3, 7, 9, 2, 1, np.float64)
    direct = sref.conv_forward(abs(z), abs(f), abs(b), (1, 1), (1, 1))
    for m in _winograd.TILES:
        mag = sref.winograd_magnitude(z, f, b, direct.shape, 1, 1, m)
        assert np.all(mag >= direct * (1 - 1e-12))


@st.composite
def geometries(draw):
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))          # pt, pb, pl, pr
    H = draw(st.integers(max(1, 3 - pads[0] - pads[1]), 12))
    W = draw(st.integers(max(1, 3 - pads[2] - pads[3]), 12))
    return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 4)), K=draw(st.integers(1, 4)),
                H=H, W=W, pads=((pads[0], pads[1]), (pads[2], pads[3])),
                dtype=draw(st.sampled_from(DTYPES)), m=draw(st.sampled_from(_winograd.TILES)))


@settings(max_examples=60, deadline=None)
@given(geometries())
def test_random_geometries_forward_and_input_delta(case):
    rng = np.random.default_rng(0)
    N, C, K, H, W, dtype, m = (case[k] for k in ("N", "C", "K", "H", "W", "dtype", "m"))
    (pt, pb), (pl, pr) = case["pads"]
    z, f, b = _forward_case(rng, N, C, H, W, K, 0, dtype)
    P, Q = H + pt + pb - 2, W + pl + pr - 2
    # forward with the tile size drawn, against the literal kernel
    out = _winograd.correlate(z, _winograd.filter_transform(f, m), b, (N, K, P, Q), pt, pl, m, None)
    truth = sref.general_conv_forward(z, f, b, (1, 1), case["pads"], (1, 1), 1, "zeros")
    assert _bound(out, truth, sref.winograd_magnitude(z, f, b, out.shape, pt, pl, m), C, dtype, m) <= 1
    # the public API (the dtype's tile size), forward and input delta
    api = cnnprop.conv2d_forward(z, f, b, padding=case["pads"], algorithm="winograd")
    ma = _winograd.tile_size(dtype)
    assert _bound(api, truth, sref.winograd_magnitude(z, f, b, api.shape, pt, pl, ma), C, dtype) <= 1
    delta = random(rng, (N, K, P, Q), dtype)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, padding=case["pads"], algorithm="winograd")
    dz_truth = sref.general_conv_backward_input(delta, f, z.shape, (1, 1), case["pads"], (1, 1), 1,
                                                "zeros")
    f_rot = f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    mag = sref.winograd_magnitude(delta, f_rot, None, z.shape, 2 - pt, 2 - pl, ma)
    assert _bound(dz, dz_truth, mag, K, dtype) <= 1


def test_batch_one_single_channels_and_tiny_planes(rng):
    for N, C, H, W, K in [(1, 1, 1, 1, 1), (1, 1, 3, 3, 1), (1, 2, 2, 5, 1), (4, 1, 5, 2, 3)]:
        for dtype in DTYPES:
            z, f, b = _forward_case(rng, N, C, H, W, K, 1, dtype)
            out = cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="winograd")
            direct = cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="direct")
            mag = sref.winograd_magnitude(z, f, b, out.shape, 1, 1, _winograd.tile_size(dtype))
            assert _bound(out, np.float64(direct), mag, C + 1, dtype) <= 1


def test_unbatched_and_empty_batch(rng):
    z, f, b = _forward_case(rng, 1, 2, 6, 6, 3, 1, np.float64)
    np.testing.assert_array_equal(cnnprop.conv2d_forward(z[0], f, b, padding=1, algorithm="winograd"),
                                  cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="winograd")[0])
    empty = cnnprop.conv2d_forward(z[:0], f, b, padding=1, algorithm="winograd")
    assert empty.shape == (0, 3, 6, 6)
    dz = cnnprop.conv2d_backward_input(np.zeros((0, 3, 6, 6)), f, (0, 2, 6, 6), padding=1,
                                       algorithm="winograd")
    assert dz.shape == (0, 2, 6, 6)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_run_on_the_padded_input(rng, mode):
    z, f, b = _forward_case(rng, 2, 3, 7, 6, 2, 1, np.float64)
    kw = dict(padding=1, padding_mode=mode)
    np.testing.assert_allclose(cnnprop.conv2d_forward(z, f, b, algorithm="winograd", **kw),
                               cnnprop.conv2d_forward(z, f, b, algorithm="direct", **kw),
                               rtol=0, atol=1e-13)
    delta = random(rng, (2, 2, 7, 6), np.float64)
    np.testing.assert_allclose(
        cnnprop.conv2d_backward_input(delta, f, z.shape, algorithm="winograd", **kw),
        cnnprop.conv2d_backward_input(delta, f, z.shape, algorithm="direct", **kw), rtol=0, atol=1e-13)


# ---------------------------------------------------------------- determinism and memory

@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_for_any_thread_count(rng, dtype, monkeypatch):
    monkeypatch.setattr(_winograd, "BLOCK_TILES", 5)        # many blocks, ragged last one
    z, f, b = _forward_case(rng, 3, 4, 13, 11, 6, 1, dtype)
    delta = random(rng, (3, 6, 13, 11), dtype)
    runs = [(cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="winograd", num_threads=t),
             cnnprop.conv2d_backward_input(delta, f, z.shape, padding=1, algorithm="winograd",
                                           num_threads=t))
            for t in (1, 2, 3, 5)]
    for other in runs[1:]:
        for a, c in zip(runs[0], other):
            np.testing.assert_array_equal(a, c)


def test_blocks_cover_every_tile_once_within_the_scratch_budget():
    for tiles, C, K in [(1, 1, 1), (49, 256, 256), (6272, 64, 64), (10_000, 4096, 4096), (63, 3, 64)]:
        for alpha in (4, 6):
            blocks, width = _winograd.plan_blocks(tiles, C, K, alpha, 4)
            covered = np.concatenate([np.arange(a, e) for a, e in blocks])
            np.testing.assert_array_equal(covered, np.arange(tiles))
            assert int(np.max(blocks[:, 1] - blocks[:, 0])) == width
            assert width == 1 or alpha * alpha * (C + K) * width * 4 <= _winograd.SCRATCH_BYTES


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("kw, shape, match", [
    (dict(stride=2), (4, 3, 3, 3), "stride"),
    (dict(), (4, 3, 5, 5), "kernel 5x5"),
    (dict(), (4, 3, 3, 1), "kernel 3x1"),
    (dict(dilation=2), (4, 3, 3, 3), "dilation"),
    (dict(groups=3), (3, 1, 3, 3), "groups=3"),
])
def test_unsupported_geometries_are_a_clear_value_error(rng, kw, shape, match):
    z = random(rng, (1, 3, 9, 9), np.float32)
    f = random(rng, shape, np.float32)
    with pytest.raises(ValueError, match=f"algorithm='winograd' needs.*{match}"):
        cnnprop.conv2d_forward(z, f, algorithm="winograd", **kw)
    out = cnnprop.conv2d_forward(z, f, **kw)
    with pytest.raises(ValueError, match=f"algorithm='winograd' needs.*{match}"):
        cnnprop.conv2d_backward_input(out, f, z.shape, algorithm="winograd", **kw)


def test_functions_without_winograd_refuse_it(rng):
    z = random(rng, (1, 2, 6, 6), np.float32)
    delta = random(rng, (1, 2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="only for conv2d_forward and conv2d_backward_input"):
        cnnprop.conv2d_backward_filter(delta, z, (3, 3), padding=1, algorithm="winograd")
    with pytest.raises(ValueError, match="only for conv2d_forward"):
        cnnprop.activation_forward(z, "relu", algorithm="winograd")
    with pytest.raises(ValueError, match="only for conv2d_forward"):
        cnnprop.maxpool2d_forward(z, 2, algorithm="winograd")


def test_use_algorithm_winograd_runs_it_where_it_can_and_the_fast_path_elsewhere(rng):
    z, f, b = _forward_case(rng, 2, 3, 8, 8, 4, 1, np.float32)
    with cnnprop.use_algorithm("winograd"):
        assert cnnprop.current_algorithm() == "winograd"
        np.testing.assert_array_equal(cnnprop.conv2d_forward(z, f, b, padding=1),
                                      cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="winograd"))
        # strided: not Winograd's; the fast path, bitwise
        np.testing.assert_array_equal(cnnprop.conv2d_forward(z, f, b, stride=2),
                                      cnnprop.conv2d_forward(z, f, b, stride=2, algorithm="fast"))
        delta = random(rng, (2, 4, 8, 8), np.float32)
        np.testing.assert_array_equal(
            cnnprop.conv2d_backward_filter(delta, z, (3, 3), padding=1),
            cnnprop.conv2d_backward_filter(delta, z, (3, 3), padding=1, algorithm="fast"))
        np.testing.assert_array_equal(cnnprop.activation_forward(z, "relu"),
                                      cnnprop.activation_forward(z, "relu", algorithm="fast"))


def test_the_nn_layer_takes_winograd(rng):
    from cnnprop import nn

    layer = nn.Conv2D(3, 4, 3, padding=1, seed=0, algorithm="winograd")
    z = random(rng, (2, 3, 8, 8), np.float32)
    out = layer.forward(z)
    dz = layer.backward(np.ones_like(out))
    assert dz.shape == z.shape and layer.params["weight"].grad.shape == (4, 3, 3, 3)


# ---------------------------------------------------------------- the "auto" rule

def _same(a, b):
    return a.shape == b.shape and np.array_equal(a, b)


def test_auto_picks_winograd_only_where_the_rule_says(rng):
    # float32, C = K = 64, 46x46: 23 * 23 = 529 tiles >= AUTO_MIN_TILES: Winograd
    z, f, b = _forward_case(rng, 1, 64, 46, 46, 64, 1, np.float32)
    auto = cnnprop.conv2d_forward(z, f, b, padding=1)
    assert _same(auto, cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="winograd"))
    assert not _same(auto, cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="fast"))
    # the input delta needs 128 channels: the fast path here
    delta = random(rng, (1, 64, 46, 46), np.float32)
    assert _same(cnnprop.conv2d_backward_input(delta, f, z.shape, padding=1),
                 cnnprop.conv2d_backward_input(delta, f, z.shape, padding=1, algorithm="fast"))
    # float64 (its F(4x4) errs 23-33x more than the GEMM path, normwise): never
    z64, f64, b64 = (a.astype(np.float64) for a in (z, f, b))
    assert _same(cnnprop.conv2d_forward(z64, f64, b64, padding=1),
                 cnnprop.conv2d_forward(z64, f64, b64, padding=1, algorithm="fast"))
    # too few tiles (44x44: 484), too few channels, a strided layer: the fast path
    for zz, ff, kw in [(z[:, :, :44, :44], f, dict(padding=1)), (z[:, :32], f[:, :32], dict(padding=1)),
                       (z, f, dict(padding=1, stride=2))]:
        zz = np.ascontiguousarray(zz)
        ff = np.ascontiguousarray(ff)
        assert _same(cnnprop.conv2d_forward(zz, ff, b, **kw),
                     cnnprop.conv2d_forward(zz, ff, b, algorithm="fast", **kw))
    # use_algorithm("direct") still means the literal kernels
    with cnnprop.use_algorithm("direct"):
        assert _same(cnnprop.conv2d_forward(z, f, b, padding=1),
                     cnnprop.conv2d_forward(z, f, b, padding=1, algorithm="direct"))


def test_auto_rule_counts_the_tiles_of_the_direction():
    from cnnprop.geometry import sliding_window

    g = sliding_window((46, 46), (3, 3), 1, 1, 1)
    assert _winograd.auto_picks("forward", 1, 64, 64, g, np.float32)
    assert not _winograd.auto_picks("input", 1, 64, 64, g, np.float32)
    assert _winograd.auto_picks("input", 1, 128, 128, g, np.float32)
    assert not _winograd.auto_picks("forward", 1, 64, 64, g, np.float64)
    assert not _winograd.auto_picks("forward", 1, 64, 63, g, np.float32)


def test_transposed_convolution_takes_winograd_where_it_is_a_stride_1_3x3_correlation(rng):
    # its forward pass is eq (7g), its input delta eq (4g): both run on Winograd
    x = random(rng, (2, 4, 6, 5), np.float64)
    f = random(rng, (4, 3, 3, 3), np.float64)             # (C_in, C_out, R, S)
    y = cnnprop.conv_transpose2d_forward(x, f, None, 1, 1, algorithm="winograd")
    np.testing.assert_allclose(y, cnnprop.conv_transpose2d_forward(x, f, None, 1, 1, algorithm="direct"),
                               rtol=0, atol=1e-13)
    dx = cnnprop.conv_transpose2d_backward_input(y, f, x.shape, 1, 1, algorithm="winograd")
    np.testing.assert_allclose(
        dx, cnnprop.conv_transpose2d_backward_input(y, f, x.shape, 1, 1, algorithm="direct"),
        rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="winograd"):
        cnnprop.conv_transpose2d_forward(x, f, None, 2, 1, algorithm="winograd")


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_bound_catches_a_kernel_transform_wrong_in_its_12th_bit(rng, dtype):
    # (W3) is tight enough to fail on a transform that is wrong by a relative 2**-12
    z, f, b = _forward_case(rng, 2, 8, 9, 9, 4, 1, dtype)
    m = _winograd.tile_size(dtype)
    U = _winograd.filter_transform(f, m)
    bad = U * (1 + 2.0 ** -12)
    truth = sref.conv_forward(z, f, b, (1, 1), (1, 1))
    mag = sref.winograd_magnitude(z, f, b, (2, 4, 9, 9), 1, 1, m)
    good = _winograd.correlate(z, U, b, (2, 4, 9, 9), 1, 1, m, None)
    wrong = _winograd.correlate(z, bad, b, (2, 4, 9, 9), 1, 1, m, None)
    assert _bound(good, truth, mag, 8, dtype) <= 1 < _bound(wrong, truth, mag, 8, dtype)
