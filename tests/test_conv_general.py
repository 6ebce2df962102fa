"""General convolution (issue 10): dilation, groups, padding forms and modes, shapes.

Every option against the plain NumPy reference of tests/_conv_reference.py
(float64, np.pad for the modes, the fold as the transpose of the padding
matrix) with the gamma_L bounds of tests/_helpers.py, on both paths and both
dtypes; the defaults bitwise against the results of the kernels before the
generalisation; bad input; the NaN rule at the padding (issue 9, defect 3);
the fast path's scratch budget (issue 9, defect 4).
"""
import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import cnnprop
from cnnprop import _gemm_plan
import _conv_reference as cref
from _helpers import assert_within, random
from conftest import DTYPES

ALGORITHMS = ["direct", "fast"]
MODES = ["zeros", "reflect", "replicate", "circular"]
DATA = os.path.join(os.path.dirname(__file__), "data")


def _acc(algorithm, dtype):
    return np.float64 if algorithm == "direct" else dtype


def _pads(g):
    return ((g.pt, g.pb), (g.pl, g.pr))


def check_all(rng, shape, kernel, stride, padding, dilation, groups, mode, dtype, algorithm):
    """Forward, input delta and kernel gradient of one geometry against the reference."""
    N, C, H, W = shape
    K, R, S = kernel
    g = cnnprop.geometry.sliding_window((H, W), (R, S), stride, padding, dilation)
    pads, st_, dil = _pads(g), (g.u, g.v), (g.dh, g.dw)
    z = random(rng, shape, dtype)
    f = random(rng, (K, C // groups, R, S), dtype)
    b = random(rng, (K,), dtype)
    delta = random(rng, (N, K, g.P, g.Q), dtype)
    kw = dict(padding_mode=mode, algorithm=algorithm)
    acc = _acc(algorithm, dtype)

    out = cnnprop.conv2d_forward(z, f, b, stride, padding, dilation, groups, **kw)
    assert out.shape == (N, K, g.P, g.Q) and out.dtype == dtype
    assert_within(out, cref.forward(z, f, b, st_, pads, dil, groups, mode),
                  cref.forward(abs(z), abs(f), abs(b), st_, pads, dil, groups, mode),
                  f[0].size + 1, "forward", acc)

    dz = cnnprop.conv2d_backward_input(delta, f, shape, stride, padding, dilation, groups, **kw)
    assert dz.shape == shape and dz.dtype == dtype
    # the fold adds up to (1 + 2 paddings) terms more per position
    assert_within(dz, cref.backward_input(delta, f, shape, st_, pads, dil, groups, mode),
                  cref.backward_input(abs(delta), abs(f), shape, st_, pads, dil, groups, mode),
                  (K // groups) * R * S * 9 + 2, "input delta", acc)

    df = cnnprop.conv2d_backward_filter(delta, z, (R, S), stride, padding, dilation, groups,
                                        reduction="sum", **kw)
    assert df.shape == f.shape and df.dtype == dtype
    assert_within(df, cref.backward_filter(delta, z, (R, S), st_, pads, dil, groups, mode),
                  cref.backward_filter(abs(delta), abs(z), (R, S), st_, pads, dil, groups, mode),
                  max(1, N * g.P * g.Q), "kernel gradient", acc)


# ---------------------------------------------------------------- defaults, bit for bit

def test_defaults_reproduce_the_source_kernels_bit_for_bit(monkeypatch):
    import _conv_defaults as make
    # the fast path's GEMM route, as it was: the routes issue 13 added for small
    # channel counts and strided 1x1 kernels sum in other orders (checked against
    # the literal kernels in tests/test_conv_planes.py)
    from cnnprop import _conv_planes, conv as conv_module
    monkeypatch.setattr(_conv_planes, "applies", lambda *args: False)
    monkeypatch.setattr(_conv_planes, "applies_input", lambda *args: False)
    monkeypatch.setattr(_conv_planes, "applies_filter", lambda *args: False)
    monkeypatch.setattr(conv_module, "_strided_1x1", lambda g: False)
    saved = np.load(os.path.join(DATA, "conv_defaults.npz"))
    for i in range(len(make.CASES)):
        for dtype in ("float32", "float64"):
            for algorithm in ALGORITHMS:
                for name, value in zip(("out", "dz", "df"), make.results(i, dtype, algorithm, True)):
                    np.testing.assert_array_equal(value, saved[f"{i}_{dtype}_{algorithm}_{name}"],
                                                  err_msg=f"case {i} {dtype} {algorithm} {name}")


def test_default_literal_kernels_equal_an_exact_loop():
    # integer data: every sum is exact in float64, so any order gives the same bits
    rng = np.random.default_rng(5)
    z = rng.integers(-4, 5, (2, 3, 7, 6)).astype(np.float64)
    f = rng.integers(-4, 5, (4, 3, 3, 2)).astype(np.float64)
    out = cnnprop.conv2d_forward(z, f, None, (2, 1), (1, 1), algorithm="direct")
    ref = cref.forward(z, f, None, (2, 1), ((1, 1), (1, 1)), (1, 1), 1)
    np.testing.assert_array_equal(out, ref)


# ---------------------------------------------------------------- each option

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, groups, mode", [
    ((2, 3, 9, 8), (4, 3, 3), 1, 2, 2, 1, "zeros"),                       # DeepLab-style
    ((1, 2, 11, 10), (3, 3, 2), (2, 3), 1, (3, 2), 1, "zeros"),           # dilation with stride
    ((2, 4, 7, 7), (6, 3, 3), 1, 1, 1, 2, "zeros"),                       # groups
    ((2, 3, 6, 7), (6, 3, 3), 2, 1, 1, 3, "zeros"),                       # depthwise, multiplier 2
    ((1, 4, 5, 5), (4, 1, 1), 1, 0, 1, 4, "zeros"),                       # 1x1 depthwise (no im2col)
    ((2, 2, 7, 8), (3, 4, 2), 2, "same", 1, 1, "zeros"),                  # 'same', even kernel, stride
    ((2, 2, 7, 8), (3, 3, 3), 3, "same", 2, 1, "zeros"),                  # 'same' with dilation
    ((1, 2, 6, 6), (2, 3, 3), 1, "valid", 1, 1, "zeros"),
    ((2, 2, 6, 7), (3, 3, 2), (1, 2), ((0, 2), (3, 1)), 1, 1, "zeros"),  # asymmetric padding
    ((2, 2, 5, 6), (3, 3, 3), 1, ((4, 0), (5, 1)), 1, 1, "reflect"),     # reflect as large as allowed
    ((2, 2, 5, 6), (3, 3, 3), 2, 2, 1, 1, "replicate"),
    ((2, 2, 5, 6), (3, 3, 3), 1, ((5, 1), (0, 6)), 1, 1, "circular"),    # circular at its bound
    ((1, 4, 6, 6), (4, 3, 3), 1, 2, 2, 2, "reflect"),                     # everything at once
])
def test_option_against_reference(rng, shape, kernel, stride, padding, dilation, groups, mode,
                                  dtype, algorithm):
    check_all(rng, shape, kernel, stride, padding, dilation, groups, mode, dtype, algorithm)


@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 3))
    C, K = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    R, S = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    form = draw(st.sampled_from(["int", "pair", "pairs", "same", "valid"]))
    p = st.integers(0, 3)
    padding = {"int": draw(p), "pair": (draw(p), draw(p)), "same": "same", "valid": "valid",
               "pairs": ((draw(p), draw(p)), (draw(p), draw(p)))}[form]
    mode = draw(st.sampled_from(MODES))
    N = draw(st.integers(0, 2))
    return (N, C, H, W), (K, R, S), stride, padding, dilation, groups, mode


@given(geometries(), st.sampled_from(ALGORITHMS), st.sampled_from(DTYPES))
def test_random_geometries(geometry, algorithm, dtype):
    shape, kernel, stride, padding, dilation, groups, mode = geometry
    try:
        g = cnnprop.geometry.sliding_window(shape[2:], kernel[1:], stride, padding, dilation)
        cnnprop.conv.check_padding_mode(mode, g)
    except ValueError:
        assume(False)
    check_all(np.random.default_rng(7), shape, kernel, stride, padding, dilation, groups, mode,
              dtype, algorithm)


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unbatched_is_the_batch_of_one(rng, algorithm):
    z, f = random(rng, (2, 6, 5), np.float64), random(rng, (4, 1, 3, 3), np.float64)
    kw = dict(stride=1, padding="same", dilation=2, groups=2, algorithm=algorithm)
    out = cnnprop.conv2d_forward(z, f, **kw)
    np.testing.assert_array_equal(out, cnnprop.conv2d_forward(z[None], f, **kw)[0])
    delta = random(rng, out.shape, np.float64)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, **kw)
    np.testing.assert_array_equal(dz, cnnprop.conv2d_backward_input(delta[None], f, (1,) + z.shape, **kw)[0])
    df = cnnprop.conv2d_backward_filter(delta, z, (3, 3), **kw)
    np.testing.assert_array_equal(df, cnnprop.conv2d_backward_filter(delta[None], z[None], (3, 3), **kw))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_batch(algorithm):
    z, f = np.zeros((0, 4, 5, 5)), np.ones((2, 2, 3, 3))
    out = cnnprop.conv2d_forward(z, f, None, 1, 1, 1, 2, algorithm=algorithm)
    assert out.shape == (0, 2, 5, 5)
    dz = cnnprop.conv2d_backward_input(out, f, z.shape, 1, 1, 1, 2, algorithm=algorithm)
    assert dz.shape == z.shape
    df = cnnprop.conv2d_backward_filter(out, z, 3, 1, 1, 1, 2, reduction="sum", algorithm=algorithm)
    np.testing.assert_array_equal(df, np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="empty batch"):
        cnnprop.conv2d_backward_filter(out, z, 3, 1, 1, 1, 2, algorithm=algorithm)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(dilation=4), ValueError, "dilated kernel"),             # extent 9 > 5 + 2
    (dict(dilation=0), ValueError, "dilation"),
    (dict(groups=3), ValueError, "groups"),                       # C = 4
    (dict(groups=0), ValueError, "groups"),
    (dict(groups=1.5), TypeError, "groups"),
    (dict(padding=(1, 1, 1)), ValueError, "padding"),
    (dict(padding="full"), ValueError, "padding"),
    (dict(padding_mode="mirror"), ValueError, "padding_mode"),
    (dict(padding=5, padding_mode="reflect"), ValueError, "reflect"),
    (dict(padding=6, padding_mode="circular"), ValueError, "circular"),
])
def test_bad_options_name_the_argument(kwargs, error, match):
    z, f = np.ones((1, 4, 5, 5)), np.ones((2, 4, 3, 3))
    options = dict(padding=1)
    options.update(kwargs)
    with pytest.raises(error, match=match):
        cnnprop.conv2d_forward(z, f, **options)


def test_groups_errors():
    z = np.ones((1, 4, 5, 5))
    with pytest.raises(ValueError, match="output channels"):
        cnnprop.conv2d_forward(z, np.ones((3, 2, 3, 3)), groups=2)        # K = 3
    with pytest.raises(ValueError, match="kernel shape disagrees with groups"):
        cnnprop.conv2d_forward(z, np.ones((4, 4, 3, 3)), groups=2)        # f.shape[1] != C/2
    with pytest.raises(ValueError, match="groups"):
        cnnprop.conv2d_backward_filter(np.ones((1, 3, 3, 3)), z, 3, groups=2)
    with pytest.raises(ValueError, match="groups"):
        cnnprop.conv2d_backward_input(np.ones((1, 4, 3, 3)), np.ones((4, 4, 3, 3)), z.shape, groups=2)


def test_reduction_is_keyword_only():
    with pytest.raises(TypeError):
        cnnprop.conv2d_backward_filter(np.ones((1, 1, 3, 3)), np.ones((1, 1, 5, 5)), 3, 1, 0, 1, 1,
                                       "sum")


# ---------------------------------------------------------------- NaN rule (issue 9, defect 3)

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_nonfinite_weight_facing_zero_padding_is_nan_on_both_paths(algorithm):
    z = np.ones((1, 1, 1, 1))
    f = np.full((1, 1, 3, 3), np.nan)
    f[0, 0, 1, 1] = 2
    out = cnnprop.conv2d_forward(z, f, padding=1, algorithm=algorithm)
    assert np.isnan(out).all()
    f = np.zeros((1, 1, 3, 3))
    f[0, 0, 0, 0] = np.inf
    out = cnnprop.conv2d_forward(np.ones((1, 1, 3, 3)), f, padding=1, algorithm=algorithm)
    # the inf tap (0, 0) faces the padding in the first output row and column
    assert np.isnan(out[0, 0, 0]).all() and np.isnan(out[0, 0, :, 0]).all()
    assert (out[0, 0, 1:, 1:] == np.inf).all()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_nonfinite_delta_facing_zero_padding_is_nan_on_both_paths(algorithm):
    z = np.ones((1, 1, 1, 1))
    delta = np.array([[[[np.inf]]]])
    df = cnnprop.conv2d_backward_filter(delta, z, 3, padding=1, algorithm=algorithm)
    assert df[0, 0, 1, 1] == np.inf
    off = np.ones((3, 3), bool)
    off[1, 1] = False
    assert np.isnan(df[0, 0][off]).all()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_finite_data_is_untouched_by_the_nan_rule(rng, algorithm):
    z = random(rng, (1, 1, 4, 4), np.float64)
    f = random(rng, (1, 1, 3, 3), np.float64)
    out = cnnprop.conv2d_forward(z, f, padding=1, algorithm=algorithm)
    assert np.isfinite(out).all()


# ---------------------------------------------------------------- determinism

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_general_options_bitwise_across_thread_counts(rng, algorithm, monkeypatch):
    monkeypatch.setattr(_gemm_plan, "BLOCK_BYTES", 0)                  # many small blocks
    z, f = random(rng, (5, 6, 9, 8), np.float32), random(rng, (6, 2, 3, 3), np.float32)
    kw = dict(stride=(1, 2), padding=((2, 0), (1, 1)), dilation=(2, 1), groups=3, algorithm=algorithm)
    runs = []
    for threads in (1, 2, 3):
        out = cnnprop.conv2d_forward(z, f, num_threads=threads, **kw)
        dz = cnnprop.conv2d_backward_input(out, f, z.shape, num_threads=threads, **kw)
        df = cnnprop.conv2d_backward_filter(out, z, (3, 3), num_threads=threads, **kw)
        runs.append((out, dz, df))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- scratch budget (issue 9, defect 4)

def test_fast_path_scratch_stays_within_the_budget(rng):
    # C*R*S = 16384*64 = 1M rows of im2col: the plan before the budget took 100 MB
    # of columns here (656 MB in issue 9's case); tracemalloc sees numpy's allocations
    z = random(rng, (1, 16384, 12, 12), np.float32)
    f = random(rng, (2, 16384, 8, 8), np.float32)
    slack = 1024 * 1024
    tracemalloc.start()
    try:
        out = cnnprop.conv2d_forward(z, f, algorithm="fast", num_threads=1)
        _, peak = tracemalloc.get_traced_memory()
        assert peak <= out.nbytes + _gemm_plan.SCRATCH_BYTES + slack, peak
        tracemalloc.reset_peak()
        df = cnnprop.conv2d_backward_filter(out, z, 8, algorithm="fast", num_threads=1)
        _, peak = tracemalloc.get_traced_memory()
        assert peak <= df.nbytes + _gemm_plan.PARTIAL_BYTES + _gemm_plan.SCRATCH_BYTES + slack, peak
    finally:
        tracemalloc.stop()
    # and the chunked sums are still right
    z64, f64 = z.astype(np.float64), f.astype(np.float64)
    ref = np.zeros((2, 5, 5))
    mag = np.zeros((2, 5, 5))
    for r in range(8):
        for s in range(8):
            window = z64[0, :, r:r + 5, s:s + 5]
            ref += np.einsum("chw,kc->khw", window, f64[:, :, r, s])
            mag += np.einsum("chw,kc->khw", abs(window), abs(f64[:, :, r, s]))
    assert_within(out[0], ref, mag, 16384 * 64, "chunked forward", np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_path_with_chunked_reduction_and_one_partial(rng, monkeypatch, dtype):
    # a tiny budget: eq (4g)'s reduction cut into many chunks (beta = 1), eq (5g) in one partial
    monkeypatch.setattr(_gemm_plan, "SCRATCH_BYTES", 64)
    monkeypatch.setattr(_gemm_plan, "PARTIAL_BYTES", 0)
    plan = _gemm_plan.plan_conv(2, 4, 6, 5, 5, 3, 3, (1, 1), (1, 1, 1, 1), 8, 2)
    assert plan.chunk_rows < 18 and len(plan.spans) == 1
    check_all(rng, (2, 4, 7, 6), (6, 3, 3), 1, ((1, 0), (2, 1)), (2, 1), 2, "zeros", dtype, "fast")
    check_all(rng, (3, 4, 5, 5), (4, 1, 1), 1, 0, 1, 2, "zeros", dtype, "fast")     # direct_cols


@pytest.mark.parametrize("mode", MODES)
def test_literal_float32_is_the_float64_result_rounded_once(rng, mode):
    # the literal kernels (and the padding-mode fold) sum in float64 and round once
    z, f = random(rng, (2, 4, 6, 7), np.float32), random(rng, (6, 2, 3, 2), np.float32)
    kw = dict(stride=(2, 1), padding=((2, 1), (1, 0)), dilation=(1, 2), groups=2,
              padding_mode=mode, algorithm="direct")
    out = cnnprop.conv2d_forward(z, f, **kw)
    np.testing.assert_array_equal(out, cnnprop.conv2d_forward(np.float64(z), np.float64(f), **kw)
                                  .astype(np.float32))
    delta = random(rng, out.shape, np.float32)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, **kw)
    np.testing.assert_array_equal(dz, cnnprop.conv2d_backward_input(
        np.float64(delta), np.float64(f), z.shape, **kw).astype(np.float32))
    df = cnnprop.conv2d_backward_filter(delta, z, (3, 2), **kw)
    np.testing.assert_array_equal(df, cnnprop.conv2d_backward_filter(
        np.float64(delta), np.float64(z), (3, 2), **kw).astype(np.float32))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_padding_modes_and_transposed_bitwise_across_thread_counts(rng, algorithm, monkeypatch):
    monkeypatch.setattr(_gemm_plan, "BLOCK_BYTES", 0)
    z, f = random(rng, (5, 4, 9, 8), np.float32), random(rng, (4, 2, 3, 3), np.float32)
    kw = dict(padding=((2, 1), (0, 2)), dilation=2, groups=2, padding_mode="reflect",
              algorithm=algorithm)
    runs = []
    for threads in (1, 2, 3):
        out = cnnprop.conv2d_forward(z, f, num_threads=threads, **kw)
        dz = cnnprop.conv2d_backward_input(out, f, z.shape, num_threads=threads, **kw)
        df = cnnprop.conv2d_backward_filter(out, z, 3, num_threads=threads, **kw)
        y = cnnprop.conv_transpose2d_forward(z, f, None, 2, 1, 1, 2, 1, algorithm=algorithm,
                                             num_threads=threads)
        dx = cnnprop.conv_transpose2d_backward_input(y, f, z.shape, 2, 1, 1, 2, 1,
                                                     algorithm=algorithm, num_threads=threads)
        dfT = cnnprop.conv_transpose2d_backward_filter(y, z, 3, 2, 1, 1, 2, 1,
                                                       algorithm=algorithm, num_threads=threads)
        runs.append((out, dz, df, y, dx, dfT))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
