"""Transposed convolution: the exact adjoint of eq (4g), its gradients, its options and errors."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import cnnprop
from _helpers import random
from conftest import DTYPES

ALGORITHMS = ["direct", "fast"]


@st.composite
def transposed(draw):
    groups = draw(st.integers(1, 3))
    C_in, C_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    R, S = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    op = (draw(st.integers(0, max(stride[0], dilation[0]) - 1)),
          draw(st.integers(0, max(stride[1], dilation[1]) - 1)))
    p = st.integers(0, 2)
    padding = draw(st.sampled_from([draw(p), (draw(p), draw(p)), ((draw(p), draw(p)), (draw(p), draw(p)))]))
    N = draw(st.integers(1, 2))
    return (N, C_in, H, W), (C_out, R, S), stride, padding, op, groups, dilation


@given(transposed(), st.sampled_from(ALGORITHMS), st.sampled_from(DTYPES))
def test_transposed_is_the_adjoint_of_the_convolution(geometry, algorithm, dtype):
    """<conv(y), x> == <y, conv_T(x)> up to the rounding of the two sums (float64 data)."""
    (N, C_in, H, W), (C_out, R, S), stride, padding, op, groups, dilation = geometry
    rng = np.random.default_rng(3)
    x = random(rng, (N, C_in, H, W), dtype)
    f = random(rng, (C_in, C_out // groups, R, S), dtype)
    try:
        y = cnnprop.conv_transpose2d_forward(x, f, None, stride, padding, op, groups, dilation,
                                             algorithm=algorithm)
    except ValueError as exc:
        assert "no output" in str(exc)
        assume(False)
    v = random(rng, y.shape, dtype)
    cv = cnnprop.conv_transpose2d_backward_input(v, f, x.shape, stride, padding, op, groups, dilation,
                                                 algorithm=algorithm)
    # conv_transpose2d_backward_input is eq (4g), the convolution the transposed one transposes
    left = float(np.sum(cv.astype(np.float64) * x))
    right = float(np.sum(v.astype(np.float64) * y))
    magnitude = float(np.sum(abs(v.astype(np.float64)) * cnnprop.conv_transpose2d_forward(
        abs(x).astype(np.float64), abs(f).astype(np.float64), None, stride, padding, op, groups,
        dilation)))
    terms = C_in * R * S + C_out * R * S + y.size + x.size
    u = np.finfo(dtype).eps
    assert abs(left - right) <= 2 * terms * u * magnitude + 1e-300


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_small_example_by_hand(algorithm):
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    f = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    y = cnnprop.conv_transpose2d_forward(x, f, np.array([0.5]), stride=2, algorithm=algorithm)
    expected = np.array([[1, 10, 2, 20], [100, 1000, 200, 2000],
                         [3, 30, 4, 40], [300, 3000, 400, 4000]]) + 0.5
    np.testing.assert_array_equal(y[0, 0], expected)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_output_padding_at_its_bound_and_unbatched(algorithm):
    rng = np.random.default_rng(0)
    x, f = random(rng, (2, 3, 3), np.float64), random(rng, (2, 4, 3, 3), np.float64)
    # dilation 3 > stride 2: output_padding up to 2
    y = cnnprop.conv_transpose2d_forward(x, f, None, 2, 1, 2, 1, 3, algorithm=algorithm)
    assert y.shape == (4, (3 - 1) * 2 - 2 + 3 * 2 + 1 + 2, (3 - 1) * 2 - 2 + 3 * 2 + 1 + 2)
    batched = cnnprop.conv_transpose2d_forward(x[None], f, None, 2, 1, 2, 1, 3, algorithm=algorithm)
    np.testing.assert_array_equal(y, batched[0])
    with pytest.raises(ValueError, match="output_padding"):
        cnnprop.conv_transpose2d_forward(x, f, None, 2, 1, 3, 1, 3)


def test_empty_batch_and_bad_input():
    f = np.ones((4, 1, 3, 3))
    y = cnnprop.conv_transpose2d_forward(np.ones((0, 4, 3, 3)), f, None, 1, 0, 0, 2)
    assert y.shape == (0, 2, 5, 5)
    df = cnnprop.conv_transpose2d_backward_filter(y, np.ones((0, 4, 3, 3)), 3, groups=2,
                                                  reduction="sum")
    np.testing.assert_array_equal(df, np.zeros((4, 1, 3, 3)))
    x = np.ones((1, 4, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        cnnprop.conv_transpose2d_forward(x, f, groups=3)
    with pytest.raises(ValueError, match="f.shape"):
        cnnprop.conv_transpose2d_forward(x, np.ones((3, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding"):
        cnnprop.conv_transpose2d_forward(x, f, padding="same")
    with pytest.raises(ValueError, match="output_padding"):
        cnnprop.conv_transpose2d_forward(x, f, output_padding=1)
    with pytest.raises(ValueError, match="no output"):
        cnnprop.conv_transpose2d_forward(x, f, padding=4)
    with pytest.raises(ValueError, match="dilation"):
        cnnprop.conv_transpose2d_forward(x, f, dilation=0)
