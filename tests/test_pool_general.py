"""General max pooling, eq (13g) and eq (14) with dilation, four paddings and
ceil_mode; indices and the backward pass from indices (docs/pooling.md)."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import cnnprop
from cnnprop.pool import pool_geometry
from cnnprop.verify import references as ref
from _helpers import assert_within, distinct, fd_gradient, random
from conftest import DTYPES, accumulation


@st.composite
def geometries(draw, dilation=True):
    """A pooling geometry the API accepts: windows 1..4, strides 1..4,
    dilation 1..3, each side padded below the extent, ceil_mode either way."""
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    u, v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    Re, Se = dh * (R - 1) + 1, dw * (S - 1) + 1
    pads = ((draw(st.integers(0, Re - 1)), draw(st.integers(0, Re - 1))),
            (draw(st.integers(0, Se - 1)), draw(st.integers(0, Se - 1))))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    ceil = draw(st.booleans())
    N, C = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    try:
        g = pool_geometry((H, W), (R, S), (u, v), pads, (dh, dw), ceil)
    except ValueError:
        assume(False)
    return (N, C, H, W), g, ceil


def _args(g):
    return dict(window=(g.R, g.S), stride=(g.u, g.v), padding=((g.pt, g.pb), (g.pl, g.pr)),
                dilation=(g.dh, g.dw), ceil_mode=g.ceil_mode)


def _ref(z, g):
    return ref.maxpool_general(z, (g.R, g.S), (g.u, g.v), ((g.pt, g.pb), (g.pl, g.pr)),
                               (g.dh, g.dw), (g.P, g.Q))


def scatter(delta, indices, shape):
    """Eq (14) from indices in NumPy: np.add.at in float64."""
    out = np.zeros((shape[0] * shape[1], shape[2] * shape[3]))
    d = np.float64(delta).reshape(out.shape[0], delta.shape[2] * delta.shape[3])
    i = indices.reshape(d.shape)
    for k in range(out.shape[0]):
        np.add.at(out[k], i[k], d[k])
    return out.reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), data=st.data())
def test_forward_and_indices_match_brute_force(case, data, dtype):
    shape, g, _ = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    # few levels: many ties, so "first maximum" is tested, not just "a maximum"
    z = rng.integers(-3, 0, size=shape).astype(dtype)
    y_ref, i_ref = _ref(z, g)
    for algorithm in ("direct", "fast"):
        y, i = cnnprop.maxpool2d_forward(z, **_args(g), return_indices=True, algorithm=algorithm)
        assert y.dtype == dtype and i.dtype == np.int64
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_array_equal(cnnprop.maxpool2d_forward(z, **_args(g), algorithm=algorithm), y)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), data=st.data())
def test_backward_from_indices_is_ties_first(case, data, dtype):
    shape, g, _ = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    z = rng.integers(0, 3, size=shape).astype(dtype)
    for algorithm in ("direct", "fast"):
        y, i = cnnprop.maxpool2d_forward(z, **_args(g), return_indices=True, algorithm=algorithm)
        delta = random(rng, y.shape, dtype)
        dz = cnnprop.maxpool2d_backward_indices(delta, i, z.shape, algorithm=algorithm)
        first = cnnprop.maxpool2d_backward(delta, z, y, **_args(g), ties="first", algorithm=algorithm)
        # the same windows add into the same inputs in the same order
        np.testing.assert_array_equal(dz, first)
        truth = scatter(delta, i, z.shape)
        assert_within(dz, truth, scatter(abs(delta), i, z.shape), g.R * g.S,
                      accumulate=accumulation(algorithm, dtype))


def _scatter_all(delta, z, y, g):
    """Eq (14), ties="all", as a scatter over the windows' taps in NumPy."""
    N, C, H, W = z.shape
    hh, ww, inside = ref._pool_taps(H, W, g.P, g.Q, (g.R, g.S), (g.u, g.v),
                                    ((g.pt, g.pb), (g.pl, g.pr)), (g.dh, g.dw))
    dz = np.zeros(z.shape)
    for p, q in np.ndindex(g.P, g.Q):
        for h, w in zip(hh[p, q][inside[p, q]], ww[p, q][inside[p, q]]):
            hit = z[:, :, h, w] == y[:, :, p, q]
            dz[:, :, h, w] += np.where(hit, delta[:, :, p, q], 0.0)
    return dz


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), data=st.data())
def test_backward_ties_all_matches_scatter(case, data, dtype):
    shape, g, _ = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    z = rng.integers(0, 3, size=shape).astype(dtype)
    y = cnnprop.maxpool2d_forward(z, **_args(g))
    delta = random(rng, y.shape, dtype)
    truth = _scatter_all(np.float64(delta), z, y, g)
    magnitude = _scatter_all(abs(np.float64(delta)), z, y, g)
    for algorithm in ("direct", "fast"):
        dz = cnnprop.maxpool2d_backward(delta, z, y, **_args(g), algorithm=algorithm)
        assert_within(dz, truth, magnitude, g.R * g.S, accumulate=accumulation(algorithm, dtype))


@pytest.mark.parametrize("spec", [
    # (H, W, window, stride, padding, dilation, ceil_mode)
    (7, 8, 3, 2, 1, 2, True),                       # dilation with padding, ceil past the padding
    (6, 5, (2, 3), (3, 2), ((1, 0), (0, 2)), (2, 1), True),
    (5, 5, 2, 2, 0, 1, True),                       # ceil window past the bottom
    (9, 4, 3, 1, ((2, 0), (1, 1)), 1, False),
])
def test_backward_against_finite_differences(rng, spec, algorithm):
    H, W, window, stride, padding, dilation, ceil = spec
    z = distinct(rng, (2, 2, H, W), np.float64)
    kw = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil)
    y, i = cnnprop.maxpool2d_forward(z, window, **kw, return_indices=True)
    g = random(rng, y.shape, np.float64)
    step = 1.0 / 512
    fd = fd_gradient(lambda x: float(np.sum(g * cnnprop.maxpool2d_forward(x, window, **kw))), z, step)
    bound = 4 * g.size * 2.0 ** -53 * np.sum(np.abs(g) * (np.abs(y) + 1)) / step
    for dz in (cnnprop.maxpool2d_backward(g, z, y, window, **kw),
               cnnprop.maxpool2d_backward(g, z, y, window, **kw, ties="first"),
               cnnprop.maxpool2d_backward_indices(g, i, z.shape)):
        assert np.max(np.abs(dz - fd)) <= bound


def test_defaults_reduce_to_the_source_equation(rng, algorithm):
    """dilation 1, symmetric padding, floor mode: eq (13g) is eq (13)."""
    import _reference
    z = random(rng, (2, 3, 9, 7), np.float64)
    np.testing.assert_array_equal(cnnprop.maxpool2d_forward(z, 3, 2, 1, 1, False),
                                  _reference.maxpool_forward(z, 3, 3, 2, 2, 1, 1))


def test_nan_wins_with_the_index_of_its_first_nan(algorithm):
    z = np.array([[[[1.0, np.nan], [np.nan, 5.0]]]])
    y, i = cnnprop.maxpool2d_forward(z, 2, return_indices=True)
    assert np.isnan(y[0, 0, 0, 0]) and i[0, 0, 0, 0] == 1
    dz = cnnprop.maxpool2d_backward_indices(np.ones_like(y), i, z.shape)
    np.testing.assert_array_equal(dz[0, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_unbatched_and_empty_batch(rng, algorithm):
    z = random(rng, (3, 7, 6), np.float64)
    y, i = cnnprop.maxpool2d_forward(z, 3, 2, 1, ceil_mode=True, return_indices=True)
    yb, ib = cnnprop.maxpool2d_forward(z[None], 3, 2, 1, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(y, yb[0])
    np.testing.assert_array_equal(i, ib[0])
    d = random(rng, y.shape, np.float64)
    np.testing.assert_array_equal(cnnprop.maxpool2d_backward(d, z, y, 3, 2, 1, ceil_mode=True),
                                  cnnprop.maxpool2d_backward(d[None], z[None], yb, 3, 2, 1, ceil_mode=True)[0])
    np.testing.assert_array_equal(cnnprop.maxpool2d_backward_indices(d, i, z.shape),
                                  cnnprop.maxpool2d_backward_indices(d[None], ib, z[None].shape)[0])
    e = np.zeros((0, 2, 5, 5), np.float32)
    y, i = cnnprop.maxpool2d_forward(e, 2, return_indices=True)
    assert y.shape == i.shape == (0, 2, 2, 2)
    assert cnnprop.maxpool2d_backward(y, e, y, 2).shape == e.shape
    assert cnnprop.maxpool2d_backward_indices(y, i, e.shape).shape == e.shape


def test_thread_count_does_not_change_results(rng):
    z = rng.integers(0, 3, size=(3, 5, 20, 17)).astype(np.float32)
    for algorithm in ("direct", "fast"):
        kw = dict(stride=1, padding=1, dilation=2, ceil_mode=True, algorithm=algorithm)
        y, i = cnnprop.maxpool2d_forward(z, 3, **kw, return_indices=True, num_threads=1)
        d = random(rng, y.shape, np.float32)
        base = cnnprop.maxpool2d_backward_indices(d, i, z.shape, algorithm=algorithm, num_threads=1)
        for threads in (2, 3):
            y2, i2 = cnnprop.maxpool2d_forward(z, 3, **kw, return_indices=True, num_threads=threads)
            np.testing.assert_array_equal(i2, i)
            np.testing.assert_array_equal(
                cnnprop.maxpool2d_backward_indices(d, i, z.shape, algorithm=algorithm,
                                                   num_threads=threads), base)


def test_ceil_mode_output_sizes_match_counting():
    for size in range(1, 8):
        for R in range(1, 5):
            for u in range(1, 5):
                for d in range(1, 3):
                    extent = d * (R - 1) + 1
                    for before in range(extent):
                        for after in range(extent):
                            for ceil in (False, True):
                                count = ref.pool_output_size(size, extent, u, before, after, ceil)
                                try:
                                    got = cnnprop.output_size(size, R, u, (before, after), d, ceil)
                                except ValueError:
                                    got = 0
                                assert got == count, (size, R, u, d, before, after, ceil)


Z = np.zeros((1, 1, 4, 4))
BAD = [
    (lambda: cnnprop.maxpool2d_forward(Z, 2, padding=2), ValueError, "padding must be smaller than the window extent"),
    (lambda: cnnprop.maxpool2d_forward(Z, 2, padding=((0, 2), (0, 0))), ValueError, "padding must be smaller"),
    (lambda: cnnprop.maxpool2d_forward(Z, 2, dilation=0), ValueError, "dilation must be >= 1"),
    (lambda: cnnprop.maxpool2d_forward(np.zeros((1, 1, 1, 1)), (2, 1), 1, ((1, 1), (0, 0)), dilation=(2, 1)),
     ValueError, "holds no input position"),
    (lambda: cnnprop.maxpool2d_forward(Z, 2, ceil_mode=1), TypeError, "ceil_mode must be a bool"),
    (lambda: cnnprop.maxpool2d_backward_indices(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), Z.shape),
     TypeError, "indices must have dtype int64"),
    (lambda: cnnprop.maxpool2d_backward_indices(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64), Z.shape),
     ValueError, "indices must have the shape of delta"),
    (lambda: cnnprop.maxpool2d_backward_indices(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), Z.shape),
     ValueError, r"indices must lie in \[0, H\*W\) = \[0, 16\)"),
    (lambda: cnnprop.maxpool2d_backward_indices(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), -1), Z.shape),
     ValueError, "indices must lie in"),
    (lambda: cnnprop.maxpool2d_backward_indices(np.ones((1, 1, 2, 2)), [[[[0, 1], [2, 3]]]], Z.shape),
     TypeError, "indices must be an int64 ndarray"),
    (lambda: cnnprop.maxpool2d_backward_indices(np.ones((1, 2, 2, 2)), np.zeros((1, 2, 2, 2), np.int64), Z.shape),
     ValueError, "N and C must agree"),
    (lambda: cnnprop.maxpool2d_backward(np.ones((1, 2, 2)), Z, np.ones((1, 1, 2, 2)), 2),
     ValueError, "delta is unbatched"),
]


@pytest.mark.parametrize("call, error, message", BAD)
def test_bad_input_is_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bad_indices_write_nothing():
    """The range check runs before the kernel: the output never exists."""
    bad = np.array([[[[0, 1], [2, 1 << 40]]]], dtype=np.int64)
    with pytest.raises(ValueError):
        cnnprop.maxpool2d_backward_indices(np.ones((1, 1, 2, 2)), bad, (1, 1, 4, 4), algorithm="fast")


def test_same_and_valid_padding(rng, algorithm):
    """"same" is TensorFlow's split (extra row at the bottom), "valid" is 0, for both poolings."""
    z = random(rng, (1, 2, 7, 6), np.float64)
    np.testing.assert_array_equal(cnnprop.maxpool2d_forward(z, 2, 2, "same"),
                                  cnnprop.maxpool2d_forward(z, 2, 2, ((0, 1), (0, 0))))
    np.testing.assert_array_equal(cnnprop.maxpool2d_forward(z, 3, 2, "valid"),
                                  cnnprop.maxpool2d_forward(z, 3, 2, 0))
    np.testing.assert_array_equal(
        cnnprop.avgpool2d_forward(z, 3, 1, "same", count_include_pad=False),
        cnnprop.avgpool2d_forward(z, 3, 1, 1, count_include_pad=False))
