"""Average pooling, eqs (A1) and (A2) (docs/pooling.md), with PyTorch's divisor rule."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import cnnprop
from cnnprop.avgpool import divisor_map
from cnnprop.pool import pool_geometry
from cnnprop.verify import references as ref
from _helpers import assert_within, fd_gradient, gamma, random
from conftest import DTYPES, accumulation


@st.composite
def geometries(draw):
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    u, v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = ((draw(st.integers(0, R - 1)), draw(st.integers(0, R - 1))),
            (draw(st.integers(0, S - 1)), draw(st.integers(0, S - 1))))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    ceil = draw(st.booleans())
    include = draw(st.booleans())
    override = draw(st.sampled_from([None, None, 1, 3, 7]))
    N, C = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    try:
        g = pool_geometry((H, W), (R, S), (u, v), pads, 1, ceil)
    except ValueError:
        assume(False)
    return (N, C, H, W), g, dict(window=(R, S), stride=(u, v), padding=pads, ceil_mode=ceil,
                                 count_include_pad=include, divisor_override=override)


def _reference(z, g, kw):
    return ref.avgpool_forward(z, kw["window"], kw["stride"], kw["padding"], (g.P, g.Q),
                               kw["count_include_pad"], kw["divisor_override"])


def _divisor(g, kw):
    return ref.avgpool_divisor(g.H, g.W, g.P, g.Q, kw["window"], kw["stride"], kw["padding"],
                               kw["count_include_pad"], kw["divisor_override"])


@given(case=geometries())
def test_divisor_map_matches_box_correlation(case):
    _, g, kw = case
    np.testing.assert_array_equal(divisor_map(g, kw["count_include_pad"], kw["divisor_override"]),
                                  _divisor(g, kw))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), data=st.data())
def test_forward_matches_scipy(case, data, dtype):
    shape, g, kw = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    z = random(rng, shape, dtype)
    truth = _reference(z, g, kw)
    magnitude = _reference(abs(np.float64(z)), g, kw)
    for algorithm in ("direct", "fast"):
        y = cnnprop.avgpool2d_forward(z, **kw, algorithm=algorithm)
        assert y.dtype == dtype and y.shape == truth.shape
        # R*S additions and one division
        assert_within(y, truth, magnitude, g.R * g.S + 1, accumulate=accumulation(algorithm, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=geometries(), data=st.data())
def test_backward_is_the_adjoint_of_forward(case, data, dtype):
    shape, g, kw = case
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    delta = random(rng, shape[:2] + (g.P, g.Q), dtype)
    # the exact adjoint in float64: (A2) is the transpose of (A1)'s matrix,
    # columns of which are the reference applied to unit inputs
    D = _divisor(g, kw)
    truth = np.zeros(shape)
    magnitude = np.zeros(shape)
    hh, ww, inside = ref._pool_taps(g.H, g.W, g.P, g.Q, kw["window"], kw["stride"],
                                    kw["padding"], (1, 1))
    for p, q in np.ndindex(g.P, g.Q):
        for h, w in zip(hh[p, q][inside[p, q]], ww[p, q][inside[p, q]]):
            truth[:, :, h, w] += np.float64(delta[:, :, p, q]) / D[p, q]
            magnitude[:, :, h, w] += abs(np.float64(delta[:, :, p, q])) / D[p, q]
    for algorithm in ("direct", "fast"):
        dz = cnnprop.avgpool2d_backward(delta, shape, **kw, algorithm=algorithm)
        assert dz.dtype == dtype
        assert_within(dz, truth, magnitude, g.R * g.S + 1, accumulate=accumulation(algorithm, dtype))


@pytest.mark.parametrize("kw", [
    dict(window=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(window=(2, 3), stride=(1, 2), padding=((1, 0), (0, 2)), ceil_mode=True),
    dict(window=3, stride=1, padding=1, divisor_override=5),
])
def test_backward_against_finite_differences(rng, kw, algorithm):
    z = random(rng, (2, 2, 7, 6), np.float64)
    y = cnnprop.avgpool2d_forward(z, **kw)
    g = random(rng, y.shape, np.float64)
    step = 0.25                                      # linear: no truncation error at any step
    fd = fd_gradient(lambda x: float(np.sum(g * cnnprop.avgpool2d_forward(x, **kw))), z, step)
    dz = cnnprop.avgpool2d_backward(g, z.shape, **kw)
    magnitude = float(np.sum(np.abs(g) * cnnprop.avgpool2d_forward(abs(z) + step, **kw)))
    bound = 2 * gamma(g.size + 20) * magnitude / step + 1e-15 * np.abs(fd)
    assert np.all(np.abs(dz - fd) <= bound)


def test_adjoint_identity(rng, algorithm):
    """<A1 x, d> = <x, A2 d> to rounding."""
    kw = dict(window=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    x = random(rng, (2, 3, 9, 8), np.float64)
    y = cnnprop.avgpool2d_forward(x, **kw)
    d = random(rng, y.shape, np.float64)
    lhs, rhs = np.sum(y * d), np.sum(x * cnnprop.avgpool2d_backward(d, x.shape, **kw))
    assert abs(lhs - rhs) <= 1e-13 * np.sum(np.abs(x))


def test_global_average_and_defaults(rng, algorithm):
    z = random(rng, (2, 3, 5, 4), np.float64)
    y = cnnprop.avgpool2d_forward(z, (5, 4))
    np.testing.assert_allclose(y[:, :, 0, 0], z.mean(axis=(2, 3)), rtol=1e-14)
    # stride defaults to the window
    np.testing.assert_array_equal(cnnprop.avgpool2d_forward(z, 2), cnnprop.avgpool2d_forward(z, 2, 2))


def test_unbatched_and_empty_batch(rng, algorithm):
    z = random(rng, (3, 7, 6), np.float32)
    kw = dict(window=3, stride=2, padding=1, ceil_mode=True)
    y = cnnprop.avgpool2d_forward(z, **kw)
    np.testing.assert_array_equal(y, cnnprop.avgpool2d_forward(z[None], **kw)[0])
    d = random(rng, y.shape, np.float32)
    np.testing.assert_array_equal(cnnprop.avgpool2d_backward(d, z.shape, **kw),
                                  cnnprop.avgpool2d_backward(d[None], (1,) + z.shape, **kw)[0])
    e = np.zeros((0, 2, 5, 5))
    y = cnnprop.avgpool2d_forward(e, **kw)
    assert y.shape == (0, 2, 3, 3)
    assert cnnprop.avgpool2d_backward(y, e.shape, **kw).shape == e.shape


def test_thread_count_does_not_change_results(rng):
    z = random(rng, (3, 5, 20, 17), np.float32)
    for algorithm in ("direct", "fast"):
        kw = dict(window=3, stride=1, padding=1, ceil_mode=True, algorithm=algorithm)
        y = cnnprop.avgpool2d_forward(z, **kw, num_threads=1)
        d = random(rng, y.shape, np.float32)
        dz = cnnprop.avgpool2d_backward(d, z.shape, **kw, num_threads=1)
        for threads in (2, 3):
            np.testing.assert_array_equal(cnnprop.avgpool2d_forward(z, **kw, num_threads=threads), y)
            np.testing.assert_array_equal(
                cnnprop.avgpool2d_backward(d, z.shape, **kw, num_threads=threads), dz)


Z = np.zeros((1, 1, 4, 4))
BAD = [
    (lambda: cnnprop.avgpool2d_forward(Z, 2, padding=2), ValueError, "padding must be smaller than the window"),
    (lambda: cnnprop.avgpool2d_forward(Z, 2, divisor_override=0), ValueError, "divisor_override must be None or >= 1"),
    (lambda: cnnprop.avgpool2d_forward(Z, 2, divisor_override=-3), ValueError, "divisor_override"),
    (lambda: cnnprop.avgpool2d_forward(Z, 2, divisor_override=1.5), TypeError, "divisor_override"),
    (lambda: cnnprop.avgpool2d_forward(Z, 2, count_include_pad="yes"), TypeError, "count_include_pad must be a bool"),
    (lambda: cnnprop.avgpool2d_forward(Z, 5), ValueError, "does not fit"),
    (lambda: cnnprop.avgpool2d_backward(np.ones((1, 1, 3, 2)), Z.shape, 2), ValueError,
     r"delta must have shape \(1, 1, 2, 2\)"),
    (lambda: cnnprop.avgpool2d_backward(np.ones((1, 1, 2, 2)), (1, 4, 4), 2), ValueError, "input_shape"),
    (lambda: cnnprop.avgpool2d_forward(Z.astype(int), 2), TypeError, "float32 or float64"),
]


@pytest.mark.parametrize("call, error, message", BAD)
def test_bad_input_is_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_verify_catches_a_wrong_divisor(monkeypatch):
    """A backward kernel that divides by the count without padding where the padding counts fails."""
    from cnnprop import verify
    from cnnprop._kernels import avgpool_direct

    real = avgpool_direct.avgpool2d_backward

    def off(delta, dz, divisor, *args):
        real(delta, dz, divisor * (1 + 2.0 ** -40), *args)

    monkeypatch.setattr(avgpool_direct, "avgpool2d_backward", off)
    report = verify.run(quick=True, checks=["avgpool_backward"], paths=["direct"], dtypes=["float64"])
    assert not report.ok
