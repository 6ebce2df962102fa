"""Eqs (4)-(9): convolution forward, kernel, bias and input gradients."""
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnprop
from cnnprop import _gemm_plan
import _reference as ref
from cnnprop.verify import references as sref
from _helpers import assert_fd_linear, assert_within, fd_gradient, gamma, random
from conftest import CONV_GEOMETRIES, DTYPES

GEOMETRY_IDS = list(CONV_GEOMETRIES)
# the literal reference kernels, and the fast path (im2col + BLAS)
ALGORITHMS = ["direct", "fast"]


def _acc(algorithm, dtype):
    """The precision a kernel sums in: float64 for the literal kernels, the data type for BLAS."""
    return np.float64 if algorithm == "direct" else dtype


def _setup(rng, name, dtype):
    N, C, H, W, K, R, S, u, v, ph, pw = CONV_GEOMETRIES[name]
    z = random(rng, (N, C, H, W), dtype)
    f = random(rng, (K, C, R, S), dtype)
    b = random(rng, (K,), dtype)
    P, Q = ref.out_size(H, R, u, ph), ref.out_size(W, S, v, pw)
    delta = random(rng, (N, K, P, Q), dtype)
    return z, f, b, delta, (u, v), (ph, pw)


# ---------------------------------------------------------------- eq (4)

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", GEOMETRY_IDS)
def test_forward_matches_numpy_and_scipy(rng, name, dtype, algorithm):
    z, f, b, _, (u, v), (ph, pw) = _setup(rng, name, dtype)
    out = cnnprop.conv2d_forward(z, f, b, stride=(u, v), padding=(ph, pw), algorithm=algorithm)
    assert out.dtype == dtype
    magnitude = ref.conv_forward(abs(z), abs(f), abs(b), u, v, ph, pw)
    length = f[0].size + 1
    acc = _acc(algorithm, dtype)
    expected = ref.conv_forward(z, f, b, u, v, ph, pw)
    assert_within(out, expected, magnitude, length, "numpy reference", acc)
    assert_within(out, sref.conv_forward(z, f, b, (u, v), (ph, pw)), magnitude, length,
                  "scipy.signal.correlate", acc)


def test_forward_without_bias_is_forward_with_zero_bias(rng):
    z, f, b, _, stride, pad = _setup(rng, "asymmetric", np.float64)
    np.testing.assert_array_equal(
        cnnprop.conv2d_forward(z, f, None, stride, pad),
        cnnprop.conv2d_forward(z, f, np.zeros_like(b), stride, pad))


def test_forward_small_example_by_hand():
    z = np.arange(16.0).reshape(1, 1, 4, 4)
    f = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    # out[p, q] = z[2p, 2q] - z[2p+1, 2q+1] = -5 everywhere
    out = cnnprop.conv2d_forward(z, f, np.array([0.5]), stride=2)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -4.5))
    # padding 1: the top-left window sees only z[0, 0] in its bottom-right tap
    out = cnnprop.conv2d_forward(z, f, padding=1)
    assert out.shape == (1, 1, 5, 5)
    assert out[0, 0, 0, 0] == -z[0, 0, 0, 0]
    assert out[0, 0, 4, 4] == z[0, 0, 3, 3]


# ---------------------------------------------------------------- eqs (7)-(9)

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", GEOMETRY_IDS)
def test_backward_input_matches_numpy_and_scipy(rng, name, dtype, algorithm):
    z, f, _, delta, (u, v), (ph, pw) = _setup(rng, name, dtype)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, (u, v), (ph, pw), algorithm=algorithm)
    assert dz.dtype == dtype and dz.shape == z.shape
    magnitude = ref.conv_backward_input(abs(delta), abs(f), z.shape, u, v, ph, pw)
    length = f.shape[0] * f.shape[2] * f.shape[3]
    acc = _acc(algorithm, dtype)
    assert_within(dz, ref.conv_backward_input(delta, f, z.shape, u, v, ph, pw),
                  magnitude, length, "numpy scatter reference", acc)
    assert_within(dz, sref.conv_backward_input(delta, f, z.shape, (u, v), (ph, pw)),
                  magnitude, length, "scipy.signal.convolve", acc)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_backward_input_zero_on_rows_the_stride_skips(rng, algorithm):
    z, f, _, delta, stride, pad = _setup(rng, "unused_rows", np.float64)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, stride, pad, algorithm=algorithm)
    # windows cover rows/columns 0..6 of 8: the last row and column get nothing
    assert np.all(dz[:, :, 7, :] == 0) and np.all(dz[:, :, :, 7] == 0)
    assert np.all(dz[:, :, :7, :7] != 0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", ["stride2_pad1", "asymmetric", "unused_rows", "kernel_fills_padded"])
def test_backward_input_against_finite_differences(rng, name, algorithm):
    z, f, b, _, (u, v), (ph, pw) = _setup(rng, name, np.float64)
    out_shape = cnnprop.conv2d_forward(z, f, b, (u, v), (ph, pw)).shape
    g = random(rng, out_shape, np.float64)

    def loss(x):
        return float(np.sum(g * cnnprop.conv2d_forward(x, f, b, (u, v), (ph, pw), algorithm=algorithm)))

    fd = fd_gradient(loss, z, step=1.0)
    dz = cnnprop.conv2d_backward_input(g, f, z.shape, (u, v), (ph, pw), algorithm=algorithm)
    magnitude = np.sum(abs(g) * ref.conv_forward(abs(z) + 1, abs(f), abs(b), u, v, ph, pw))
    assert_fd_linear(dz, fd, magnitude, f[0].size + 1 + g.size, 1.0, name)


# ---------------------------------------------------------------- eq (5)

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", GEOMETRY_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_backward_filter_matches_numpy_and_scipy(rng, name, dtype, reduction, algorithm):
    z, f, _, delta, (u, v), (ph, pw) = _setup(rng, name, dtype)
    R, S = f.shape[2:]
    df = cnnprop.conv2d_backward_filter(delta, z, (R, S), (u, v), (ph, pw), reduction=reduction,
                                        algorithm=algorithm)
    assert df.dtype == dtype and df.shape == f.shape
    scale = 1 / z.shape[0] if reduction == "mean" else 1.0
    magnitude = ref.conv_backward_filter(abs(delta), abs(z), R, S, u, v, ph, pw, scale)
    length = delta.shape[0] * delta.shape[2] * delta.shape[3] + 1
    acc = _acc(algorithm, dtype)
    assert_within(df, ref.conv_backward_filter(delta, z, R, S, u, v, ph, pw, scale),
                  magnitude, length, "numpy reference", acc)
    assert_within(df, sref.conv_backward_filter(delta, z, (R, S), (u, v), (ph, pw), scale),
                  magnitude, length, "scipy.signal.correlate", acc)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", ["plain", "stride2_pad1", "stride_gt_kernel", "pad_gt_kernel"])
def test_backward_filter_and_bias_against_finite_differences(rng, name, algorithm):
    """Eqs (5), (6) are derivatives of the mean loss E = (1/N) sum_n E_n."""
    z, f, b, _, (u, v), (ph, pw) = _setup(rng, name, np.float64)
    N = z.shape[0]
    out_shape = cnnprop.conv2d_forward(z, f, b, (u, v), (ph, pw)).shape
    g = random(rng, out_shape, np.float64)   # g = dE_n/dZ(l+1) for E_n = sum(g[n] * out[n])

    def mean_loss(f_, b_):
        return float(np.sum(g * cnnprop.conv2d_forward(z, f_, b_, (u, v), (ph, pw), algorithm=algorithm))) / N

    magnitude = np.sum(abs(g) * ref.conv_forward(abs(z), abs(f) + 1, abs(b) + 1, u, v, ph, pw)) / N
    length = f[0].size + 1 + g.size
    df = cnnprop.conv2d_backward_filter(g, z, f.shape[2:], (u, v), (ph, pw), algorithm=algorithm)
    assert_fd_linear(df, fd_gradient(lambda x: mean_loss(x, b), f, 1.0), magnitude, length, 1.0, "eq 5")
    db = cnnprop.conv2d_backward_bias(g)
    assert_fd_linear(db, fd_gradient(lambda x: mean_loss(f, x), b, 1.0), magnitude, length, 1.0, "eq 6")


# ---------------------------------------------------------------- eq (6)

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_backward_bias_matches_numpy(rng, dtype, reduction):
    delta = random(rng, (3, 5, 4, 6), dtype)
    db = cnnprop.conv2d_backward_bias(delta, reduction)
    scale = 1 / 3 if reduction == "mean" else 1.0
    expected = np.float64(delta).sum(axis=(0, 2, 3)) * scale
    assert db.dtype == dtype
    assert_within(db, expected, np.abs(np.float64(delta)).sum(axis=(0, 2, 3)) * scale, 3 * 4 * 6 + 1)


# ---------------------------------------------------------------- properties

@st.composite
def conv_geometries(draw):
    R = draw(st.integers(1, 5))
    S = draw(st.integers(1, 5))
    # padding up to the kernel size plus two: windows made of padding only
    ph = draw(st.integers(0, R + 2))
    pw = draw(st.integers(0, S + 2))
    # from "kernel as large as the padded input" to a few windows more
    H = draw(st.integers(max(1, R - 2 * ph), R + 7))
    W = draw(st.integers(max(1, S - 2 * pw), S + 7))
    return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 3)), K=draw(st.integers(1, 3)),
                H=H, W=W, R=R, S=S, u=draw(st.integers(1, 6)), v=draw(st.integers(1, 6)),
                ph=ph, pw=pw, seed=draw(st.integers(0, 2 ** 32 - 1)),
                dtype=draw(st.sampled_from(DTYPES)), algorithm=draw(st.sampled_from(ALGORITHMS)))


@given(conv_geometries())
def test_all_conv_equations_on_random_geometries(geo):
    rng = np.random.default_rng(geo["seed"])
    N, C, K, H, W, R, S = (geo[k] for k in "N C K H W R S".split())
    u, v, ph, pw, dtype = geo["u"], geo["v"], geo["ph"], geo["pw"], geo["dtype"]
    kw = dict(algorithm=geo["algorithm"])
    acc = _acc(geo["algorithm"], dtype)
    z, f = random(rng, (N, C, H, W), dtype), random(rng, (K, C, R, S), dtype)
    b = random(rng, (K,), dtype)
    out = cnnprop.conv2d_forward(z, f, b, (u, v), (ph, pw), **kw)
    P, Q = ref.out_size(H, R, u, ph), ref.out_size(W, S, v, pw)
    assert out.shape == (N, K, P, Q)
    assert_within(out, ref.conv_forward(z, f, b, u, v, ph, pw),
                  ref.conv_forward(abs(z), abs(f), abs(b), u, v, ph, pw), C * R * S + 1, "eq 4", acc)
    delta = random(rng, out.shape, dtype)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, (u, v), (ph, pw), **kw)
    assert_within(dz, ref.conv_backward_input(delta, f, z.shape, u, v, ph, pw),
                  ref.conv_backward_input(abs(delta), abs(f), z.shape, u, v, ph, pw), K * R * S, "eq 7", acc)
    df = cnnprop.conv2d_backward_filter(delta, z, (R, S), (u, v), (ph, pw), **kw)
    assert_within(df, ref.conv_backward_filter(delta, z, R, S, u, v, ph, pw, 1 / N),
                  ref.conv_backward_filter(abs(delta), abs(z), R, S, u, v, ph, pw, 1 / N),
                  N * P * Q + 1, "eq 5", acc)


@settings(max_examples=30)
@given(conv_geometries(), st.integers(1, 40), st.booleans())
def test_fast_path_agrees_with_the_literal_kernels(geo, batch, small_blocks):
    """The GEMM path against the literal kernels, with batches that span several
    column blocks (and, with small blocks, blocks of several samples, several
    tasks and partial sums)."""
    if not small_blocks:
        return _fast_against_literal(geo, batch)
    with mock.patch.multiple(_gemm_plan, BLOCK_BYTES=0, INPUT_ROWS=4, FILTER_ROWS=4, PARTIALS=3):
        _fast_against_literal(geo, batch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C, R, stride, pad", [(40, 3, 1, 1), (300, 1, 2, 0), (70, 3, 2, 2)])
def test_fast_path_with_many_channels_splits_rows_and_channels_correctly(rng, dtype, C, R, stride, pad):
    """C*R*S above the row groups of eqs (5) and (7) (256 rows): several channel
    and row groups, each with its own offset into F and dF."""
    z = random(rng, (3, C, 7, 6), dtype)
    f = random(rng, (5, C, R, R), dtype)
    delta = random(rng, cnnprop.conv2d_forward(z, f, None, stride, pad).shape, dtype)
    m_in = ref.conv_backward_input(abs(delta), abs(f), z.shape, stride, stride, pad, pad)
    m_f = ref.conv_backward_filter(abs(delta), abs(z), R, R, stride, stride, pad, pad, 1 / 3)
    for algorithm in ALGORITHMS:
        dz = cnnprop.conv2d_backward_input(delta, f, z.shape, stride, pad, algorithm=algorithm)
        df = cnnprop.conv2d_backward_filter(delta, z, (R, R), stride, pad, algorithm=algorithm)
        acc = _acc(algorithm, dtype)
        assert_within(dz, ref.conv_backward_input(delta, f, z.shape, stride, stride, pad, pad), m_in,
                      5 * R * R, "eq 7", acc)
        assert_within(df, ref.conv_backward_filter(delta, z, R, R, stride, stride, pad, pad, 1 / 3), m_f,
                      delta[:, 0].size + 1, "eq 5", acc)


def _fast_against_literal(geo, batch):
    rng = np.random.default_rng(geo["seed"])
    C, K, H, W, R, S = (geo[k] for k in "C K H W R S".split())
    stride, pad, dtype = (geo["u"], geo["v"]), (geo["ph"], geo["pw"]), geo["dtype"]
    z, f = random(rng, (batch, C, H, W), dtype), random(rng, (K, C, R, S), dtype)
    b = random(rng, (K,), dtype)
    runs = {}
    for algorithm in ALGORITHMS:
        out = cnnprop.conv2d_forward(z, f, b, stride, pad, algorithm=algorithm)
        delta = random(np.random.default_rng(1), out.shape, dtype)
        runs[algorithm] = (out, cnnprop.conv2d_backward_input(delta, f, z.shape, stride, pad, algorithm=algorithm),
                           cnnprop.conv2d_backward_filter(delta, z, (R, S), stride, pad, algorithm=algorithm))
    magnitudes = (ref.conv_forward(abs(z), abs(f), abs(b), *stride, *pad),
                  ref.conv_backward_input(abs(delta), abs(f), z.shape, *stride, *pad),
                  ref.conv_backward_filter(abs(delta), abs(z), R, S, *stride, *pad, 1 / batch))
    lengths = (C * R * S + 1, K * R * S, delta[:, 0].size + 1)
    for fast, literal, m, length in zip(runs["fast"], runs["direct"], magnitudes, lengths):
        # both against the exact value: the literal within u_out, the fast one within gamma_L(dtype)
        assert_within(fast, literal, m, length, "fast vs direct", accumulate=dtype)


@given(conv_geometries())
def test_input_delta_is_the_adjoint_of_the_forward_map(geo):
    """<conv(z), delta> == <z, conv_backward_input(delta)>: eq (7) is the transpose of eq (4)."""
    rng = np.random.default_rng(geo["seed"])
    N, C, K, H, W, R, S = (geo[k] for k in "N C K H W R S".split())
    stride, pad = (geo["u"], geo["v"]), (geo["ph"], geo["pw"])
    z, f = random(rng, (N, C, H, W), np.float64), random(rng, (K, C, R, S), np.float64)
    out = cnnprop.conv2d_forward(z, f, None, stride, pad)
    delta = random(rng, out.shape, np.float64)
    lhs = np.sum(out * delta)
    rhs = np.sum(z * cnnprop.conv2d_backward_input(delta, f, z.shape, stride, pad))
    # both sides sum the same products z*f*delta, each in at most
    # L = C*R*S + K*R*S + size terms: |lhs - rhs| <= 2 gamma_L sum|products|
    magnitude = np.sum(ref.conv_forward(abs(z), abs(f), None, *stride, *pad) * abs(delta))
    length = C * R * S + K * R * S + z.size + out.size
    assert abs(lhs - rhs) <= 2 * gamma(length) * magnitude


# ---------------------------------------------------------------- threads

@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["batch1_odd", "plain", "one_by_one_strided", "one_by_one"])
def test_results_bitwise_identical_for_any_thread_count(rng, monkeypatch, name, dtype, algorithm):
    # the smallest blocks: many blocks, tasks and partial sums to spread over threads
    monkeypatch.setattr(_gemm_plan, "BLOCK_BYTES", 0)
    z, f, b, delta, stride, pad = _setup(rng, name, dtype)
    # a batch large enough for several blocks, tasks and partial sums
    z, delta = np.concatenate([z] * 9), np.concatenate([delta] * 9)
    kw = dict(algorithm=algorithm)
    runs = []
    for threads in (1, 2, 3, 5):
        runs.append((
            cnnprop.conv2d_forward(z, f, b, stride, pad, num_threads=threads, **kw),
            cnnprop.conv2d_backward_input(delta, f, z.shape, stride, pad, num_threads=threads, **kw),
            cnnprop.conv2d_backward_filter(delta, z, f.shape[2:], stride, pad, num_threads=threads, **kw),
            cnnprop.conv2d_backward_bias(delta, num_threads=threads),
        ))
    for other in runs[1:]:
        for a, b_ in zip(runs[0], other):
            np.testing.assert_array_equal(a, b_)


def test_float32_inputs_that_are_not_contiguous_or_writeable(rng):
    z, f, b, delta, stride, pad = _setup(rng, "stride2_pad1", np.float32)
    expected = cnnprop.conv2d_forward(z, f, b, stride, pad)
    z_view = np.asfortranarray(z)
    f_ro = f.copy()
    f_ro.flags.writeable = False
    np.testing.assert_array_equal(cnnprop.conv2d_forward(z_view, f_ro, b, stride, pad), expected)
    wide = np.zeros(z.shape[:3] + (2 * z.shape[3],), np.float32)
    wide[..., ::2] = z
    np.testing.assert_array_equal(cnnprop.conv2d_forward(wide[..., ::2], f, b, stride, pad), expected)
    big_endian = z.astype(">f4")
    np.testing.assert_array_equal(cnnprop.conv2d_forward(big_endian, f.astype(">f4"), b, stride, pad),
                                  expected)
