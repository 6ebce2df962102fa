"""The fast path's routes for untuned shapes (issue 13): the plane kernels and the strided 1x1.

The plane route (cnnprop._conv_planes, _kernels/conv_planes.pyx) runs eqs
(4g) and (7g) for groups of at most 16 input and output channels and eq (5g)
for depthwise-like groups and groups whose outputs and taps tile by 4 x 3; a strided 1x1 convolution runs on the subsampled
input. Each against the literal kernels (float64 tight, float32 within the
fast path's gamma_L bound, tests/_helpers.py), over the register blocks of
the inner loops (wide rows, four-row tiles, tails), bands cut at every row,
the generic and the AVX2 loops, any thread count, and hypothesis geometries.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import cnnprop
from cnnprop import _conv_planes, conv as conv_module
from cnnprop._kernels import conv_planes
from _helpers import assert_within, random
from conftest import DTYPES


def _record_routes(monkeypatch):
    """The plane-route functions called while the returned list is live."""
    calls = []
    for name in ("forward", "backward_input", "backward_filter"):
        original = getattr(_conv_planes, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(_conv_planes, name, spy)
    return calls


def _three(z, f, b, delta, kw, algorithm, threads=None):
    R, S = f.shape[2:]
    kw = dict(kw, algorithm=algorithm, num_threads=threads)
    return (cnnprop.conv2d_forward(z, f, b, **kw),
            cnnprop.conv2d_backward_input(delta, f, z.shape, **kw),
            cnnprop.conv2d_backward_filter(delta, z, (R, S), reduction="sum", **kw))


def _magnitudes(z, f, b, delta, kw):
    a = [abs(np.float64(x)) for x in (z, f, b, delta)]
    return _three(*a, kw, "direct")


@pytest.fixture(autouse=True)
def _plane_route_for_float64_too(monkeypatch):
    # float64 takes the route for depthwise groups only (the rule of _conv_planes.applies):
    # the kernels take any C_g in both dtypes, so the tests below run them on float64 too
    for name in ("applies", "applies_input", "applies_filter"):
        rule = getattr(_conv_planes, name)

        def both(*args, _rule=rule):
            return _rule(*args[:-1], 4) if len(args) > 4 and args[-1] == 8 else _rule(*args)

        monkeypatch.setattr(_conv_planes, name, both)


def check_against_direct(rng, shape, kernel, dtype, threads=None, **kw):
    """The fast path (whatever route it takes) against the literal kernels."""
    N, C, H, W = shape
    K, R, S = kernel
    groups = kw.get("groups", 1)
    z = random(rng, shape, dtype)
    f = random(rng, (K, C // groups, R, S), dtype)
    b = random(rng, (K,), dtype)
    g = cnnprop.geometry.sliding_window((H, W), (R, S), kw.get("stride", 1), kw.get("padding", 0),
                                        kw.get("dilation", 1))
    delta = random(rng, (N, K, g.P, g.Q), dtype)
    fast = _three(z, f, b, delta, kw, "fast", threads)
    exact = _three(*(np.float64(x) for x in (z, f, b, delta)), kw, "direct")
    mags = _magnitudes(z, f, b, delta, kw)
    lengths = (f[0].size + 1, (K // groups) * R * S, max(1, N * g.P * g.Q))
    for name, x, e, m, n in zip(("forward", "input delta", "kernel gradient"), fast, exact, mags,
                                lengths):
        assert x.dtype == dtype
        assert_within(x, e, m, n, name, dtype)
    return fast


# ---------------------------------------------------------------- which route

@pytest.mark.parametrize("C, K, groups, routes", [
    (8, 8, 8, ["forward", "backward_input", "backward_filter"]),     # depthwise
    (4, 32, 4, ["forward", "backward_input", "backward_filter"]),    # multiplier 8
    (4, 72, 4, []),                                                  # multiplier 18: GEMMs
    (16, 16, 2, ["forward", "backward_input", "backward_filter"]),   # small groups, dF 4 x 3 tiles
    (3, 16, 1, ["forward", "backward_input", "backward_filter"]),    # few channels
    (6, 6, 2, ["forward", "backward_input"]),                        # K_g = 3: dF by GEMMs
    (32, 16, 1, []),                                                 # C_g > 16
    (3, 64, 1, []),                                                  # K_g > 16
])
def test_the_plane_route_takes_small_groups_only(rng, monkeypatch, C, K, groups, routes):
    calls = _record_routes(monkeypatch)
    z, f = random(rng, (2, C, 9, 9), np.float32), random(rng, (K, C // groups, 3, 3), np.float32)
    out = cnnprop.conv2d_forward(z, f, padding=1, groups=groups, algorithm="fast")
    cnnprop.conv2d_backward_input(out, f, z.shape, padding=1, groups=groups, algorithm="fast")
    cnnprop.conv2d_backward_filter(out, z, 3, padding=1, groups=groups, algorithm="fast")
    assert calls == routes


def test_float64_takes_the_plane_route_for_depthwise_groups_only(rng, monkeypatch):
    monkeypatch.undo()                      # the rules as they are, without the fixture below
    calls = _record_routes(monkeypatch)
    for f_channels, groups in ((2, 4), (1, 8)):
        z = random(rng, (2, 8, 9, 9), np.float64)
        f = random(rng, (8, f_channels, 3, 3), np.float64)
        out = cnnprop.conv2d_forward(z, f, padding=1, groups=groups, algorithm="fast")
        cnnprop.conv2d_backward_input(out, f, z.shape, padding=1, groups=groups, algorithm="fast")
        cnnprop.conv2d_backward_filter(out, z, 3, padding=1, groups=groups, algorithm="fast")
    assert calls == ["forward", "backward_input", "backward_filter"]


def test_a_stride_keeps_the_input_delta_on_the_gemms(rng, monkeypatch):
    calls = _record_routes(monkeypatch)
    z, f = random(rng, (2, 8, 9, 9), np.float32), random(rng, (8, 2, 3, 3), np.float32)
    out = cnnprop.conv2d_forward(z, f, stride=2, padding=1, groups=4, algorithm="fast")
    cnnprop.conv2d_backward_input(out, f, z.shape, stride=2, padding=1, groups=4, algorithm="fast")
    f = random(rng, (4, 1, 3, 3), np.float32)                              # depthwise too
    out = cnnprop.conv2d_forward(z[:, :4], f, stride=(1, 2), padding=1, groups=4, algorithm="fast")
    cnnprop.conv2d_backward_input(out, f, (2, 4, 9, 9), stride=(1, 2), padding=1, groups=4,
                                  algorithm="fast")
    assert calls == ["forward", "forward"]


def test_the_strided_spread_of_the_input_delta_against_the_literal_kernels(rng, monkeypatch):
    # not taken by the route rule any more (slower than col2im), kept correct for any stride
    monkeypatch.setattr(_conv_planes, "applies_input", lambda *args: True)
    calls = _record_routes(monkeypatch)
    for dtype in DTYPES:
        check_against_direct(rng, (2, 6, 17, 41), (6, 3, 3), dtype, stride=2, padding=1, groups=6)
        check_against_direct(rng, (2, 4, 15, 38), (8, 3, 2), dtype, stride=(3, 2),
                             padding=((2, 0), (1, 3)), dilation=(2, 3), groups=2)
    assert calls.count("backward_input") == 4


def test_the_kernel_gradients_running_sums_stay_within_the_scratch_budget(monkeypatch):
    monkeypatch.undo()                      # the rules as they are, without the fixture below
    # 16 outputs of one channel a group, float64: a 3x3 kernel takes 16 * 9 pairs
    # of lanes (60 KB), a 51x51 one 16 * 2601 (17 MB, past the 16 MB budget)
    assert _conv_planes.applies_filter(4, 64, 4, 1, 9, 8)
    assert _conv_planes.applies_filter(4, 64, 4, 1, 49 * 49, 8)
    assert not _conv_planes.applies_filter(4, 64, 4, 1, 51 * 51, 8)


def test_auto_sends_depthwise_layers_to_the_plane_route(rng, monkeypatch):
    calls = _record_routes(monkeypatch)
    z, f = random(rng, (2, 32, 40, 40), np.float32), random(rng, (32, 1, 3, 3), np.float32)
    out = cnnprop.conv2d_forward(z, f, padding=1, groups=32)
    cnnprop.conv2d_backward_filter(out, z, 3, padding=1, groups=32)
    assert calls == ["forward", "backward_filter"]


# ---------------------------------------------------------------- against the literal kernels

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kernel, kw", [
    # wide rows: blocks of 32 (float32) / 16 columns, then 8, 4 and single columns
    ((2, 4, 9, 45), (4, 3, 3), dict(padding=1, groups=4)),
    ((3, 3, 13, 70), (6, 3, 5), dict(padding=(1, 2), groups=3)),                  # multiplier 2
    # strides (the phase layout of eqs (4g), (5g)), dilation, asymmetric padding
    ((2, 6, 17, 41), (6, 3, 3), dict(stride=2, padding=1, groups=6)),
    ((2, 4, 15, 38), (8, 3, 2), dict(stride=(3, 2), padding=((2, 0), (1, 3)), dilation=(2, 3),
                                     groups=2)),
    ((1, 2, 7, 9), (4, 5, 5), dict(padding=4, groups=2)),                         # padding > kernel/2
    ((2, 1, 6, 5), (2, 6, 5), dict(padding=((0, 0), (0, 0)), groups=1)),          # kernel = input
    ((5, 3, 8, 8), (16, 3, 3), dict(padding=1)),                                  # few channels, groups 1
    ((3, 8, 9, 40), (8, 3, 3), dict(stride=(1, 2), padding=1, groups=2)),         # dF in 4 x 3 tiles
    ((2, 4, 7, 12), (8, 5, 3), dict(padding=2, dilation=(1, 2), groups=2)),       # 4 x 3 tiles, tails
    ((2, 16, 6, 33), (16, 1, 1), dict(groups=16)),                                # 1x1 depthwise
])
def test_plane_route_against_the_literal_kernels(rng, shape, kernel, kw, dtype):
    check_against_direct(rng, shape, kernel, dtype, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bands_of_one_row(rng, monkeypatch, dtype):
    # eqs (4g), (7g): every output is the same sequence of operations whatever the
    # band height, so bands of one row give bitwise the same result; eq (5g)'s lanes
    # take the rows of a band four at a time (the band height is a function of the
    # shapes, not of the thread count): within the bound, checked against the literal kernels
    args = ((2, 4, 11, 37), (8, 3, 3), dtype)
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=4)
    whole = check_against_direct(np.random.default_rng(5), *args, **kw)
    monkeypatch.setattr(_conv_planes, "BAND_BYTES", 1)
    banded = check_against_direct(np.random.default_rng(5), *args, **kw)
    for a, b in zip(whole[:2], banded[:2]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not conv_planes.AVX2, reason="the CPU has no AVX2: only the generic loops run")
@pytest.mark.parametrize("dtype", DTYPES)
def test_generic_loops_against_the_literal_kernels(rng, dtype):
    try:
        assert conv_planes.use_avx2(False) is False
        check_against_direct(rng, (2, 4, 9, 45), (8, 3, 3), dtype, padding=1, groups=4)
        check_against_direct(rng, (2, 3, 10, 23), (3, 3, 3), dtype, stride=2, padding=1, groups=3)
    finally:
        assert conv_planes.use_avx2(True) is True


@pytest.mark.parametrize("dtype", DTYPES)
def test_plane_route_bitwise_across_thread_counts(rng, dtype):
    # 7 samples in kernel-gradient spans, 3 groups of 2 channels
    runs = [check_against_direct(np.random.default_rng(3), (7, 6, 12, 35), (6, 3, 3), dtype,
                                 threads, stride=(1, 2), padding=1, groups=3)
            for threads in (1, 2, 3)]
    runs_dw = [check_against_direct(np.random.default_rng(4), (9, 5, 10, 19), (5, 3, 3), dtype,
                                    threads, padding=1, groups=5)
               for threads in (1, 2, 3)]
    for results in (runs, runs_dw):
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_array_equal(a, b)


def test_nonfinite_kernel_input_delta_leaves_the_plane_route(rng, monkeypatch):
    # the plane route multiplies the stride's zeros: inf * 0 would be NaN where no window is
    calls = _record_routes(monkeypatch)
    f = random(rng, (3, 1, 3, 3), np.float64)
    f[1, 0, 0, 0] = np.inf
    delta = random(rng, (1, 3, 4, 4), np.float64)
    kw = dict(stride=2, padding=1, groups=3)
    fast = cnnprop.conv2d_backward_input(delta, f, (1, 3, 8, 8), algorithm="fast", **kw)
    direct = cnnprop.conv2d_backward_input(delta, f, (1, 3, 8, 8), algorithm="direct", **kw)
    assert "backward_input" not in calls
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(direct))
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(direct))


@st.composite
def small_group_geometries(draw):
    groups = draw(st.integers(1, 4))
    C, K = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple(draw(st.integers(0, 4)) for _ in range(4))
    H = draw(st.integers(max(1, (R - 1) * dh + 1 - pads[0] - pads[1]), 12))
    W = draw(st.integers(max(1, (S - 1) * dw + 1 - pads[2] - pads[3]), 70))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    N = draw(st.integers(1, 3))
    return (N, C, H, W), (K, R, S), dict(stride=stride, padding=(pads[:2], pads[2:]),
                                         dilation=(dh, dw), groups=groups)


@settings(max_examples=60, deadline=None)
@given(small_group_geometries(), st.sampled_from(DTYPES))
def test_random_small_group_geometries(geometry, dtype):
    shape, kernel, kw = geometry
    try:
        cnnprop.geometry.sliding_window(shape[2:], kernel[1:], kw["stride"], kw["padding"],
                                        kw["dilation"])
    except ValueError:
        assume(False)
    check_against_direct(np.random.default_rng(11), shape, kernel, dtype, **kw)


# ---------------------------------------------------------------- strided 1x1

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, K, stride, groups", [
    ((2, 24, 9, 8), 40, 2, 1),
    ((1, 32, 7, 7), 20, (3, 1), 2),
    ((3, 20, 5, 6), 36, (1, 2), 1),
    ((2, 18, 1, 5), 18, (2, 3), 1),
])
def test_strided_1x1_against_the_literal_kernels(rng, shape, K, stride, groups, dtype):
    g = cnnprop.geometry.sliding_window(shape[2:], (1, 1), stride, 0, 1)
    assert conv_module._strided_1x1(g)
    check_against_direct(rng, shape, (K, 1, 1), dtype, stride=stride, groups=groups)
