"""Errata E1-E11 of docs/spec.md: one test each that shows the corrected form.

docs/errata.md links every erratum to its test here.
"""
import math

import numpy as np

import cnnprop
import _reference as ref
from _helpers import random


def test_e1_output_height_uses_the_height_stride():
    """Table 1 divides by v; P uses the height stride u."""
    # H = 7, R = 3, u = 2, v = 1
    z = np.zeros((1, 1, 7, 7))
    out = cnnprop.conv2d_forward(z, np.zeros((1, 1, 3, 3)), stride=(2, 1))
    assert out.shape[2] == cnnprop.output_size(7, 3, 2, 0) == 3
    assert out.shape[2] == math.ceil((7 - 3 + 1) / 2)     # corrected Table 1, with u
    # (the source's Table 1, with v = 1, would give ceil(5 / 1) = 5 rows)


def test_e2_p_is_the_row_index_and_q_the_column_index(rng):
    """p runs with H, R, u, p_h (rows) and q with W, S, v, p_w (columns)."""
    z = random(rng, (1, 1, 9, 5), np.float64)
    f = random(rng, (1, 1, 3, 2), np.float64)
    out = cnnprop.conv2d_forward(z, f, stride=(2, 1), padding=(1, 0))
    assert out.shape[2:] == ((9 + 2 - 3) // 2 + 1, (5 - 2) // 1 + 1) == (5, 4)
    # out[p, q] is the window whose top-left input is (p*u - p_h, q*v - p_w)
    p, q = 2, 3
    window = z[0, 0, p * 2 - 1:p * 2 - 1 + 3, q:q + 2]
    assert np.isclose(out[0, 0, p, q], np.sum(window * f[0, 0]), rtol=1e-15)


def test_e3_row_window_range_uses_the_height_padding():
    """Eqs (10)-(11) write p_w for the row; eq (12) and the code use p_h."""
    # H = 5, R = 3, u = 1, p_h = 1, p_w = 0: row 0 is covered by p = 0 and p = 1
    P = cnnprop.output_size(5, 3, 1, 1)
    assert list(cnnprop.window_range(0, P, 3, 1, 1)) == [0, 1]
    # with the width padding 0 in its place, row 0 would be covered by p = 0 only
    assert list(cnnprop.window_range(0, cnnprop.output_size(5, 3, 1, 0), 3, 1, 0)) == [0]
    delta = np.ones((1, 1, P, 3))
    dz = cnnprop.conv2d_backward_input(delta, np.ones((1, 1, 3, 3)), (1, 1, 5, 5), 1, (1, 0))
    assert dz[0, 0, 0, 2] == 2 * 3        # two windows in the row, three in the column


def test_e4_pooling_columns_use_the_width_padding(rng):
    """Eq (13) writes p_v; it is p_w."""
    z = random(rng, (1, 2, 4, 6), np.float64)
    y = cnnprop.maxpool2d_forward(z, (2, 3), stride=(2, 3), padding=(0, 1))
    assert y.shape[2:] == (2, 2)
    np.testing.assert_array_equal(y[:, :, 0, 0], z[:, :, 0:2, 0:2].max(axis=(2, 3)))
    np.testing.assert_array_equal(y, ref.maxpool_forward(z, 2, 3, 2, 3, 0, 1))


def test_e5_pooling_reads_the_input_channel_c():
    """Z[n,k,h,w] in the text is Z[n,c,h,w]: pooling keeps channel c as channel c."""
    z = np.broadcast_to(np.arange(4.0)[None, :, None, None], (2, 4, 4, 4)).copy()
    y = cnnprop.maxpool2d_forward(z, 2)
    np.testing.assert_array_equal(y[:, :, 0, 0], np.broadcast_to(np.arange(4.0), (2, 4)))


def test_e6_one_bias_per_output_channel(rng):
    """Eq (4) writes one scalar b; eq (6) makes it b[k]."""
    z = random(rng, (2, 3, 6, 5), np.float64)
    f = random(rng, (4, 3, 3, 2), np.float64)
    b = np.array([1.0, -2.0, 0.5, 3.0])
    diff = cnnprop.conv2d_forward(z, f, b) - cnnprop.conv2d_forward(z, f)
    np.testing.assert_allclose(diff, np.broadcast_to(b[None, :, None, None], diff.shape), atol=1e-14)
    delta = random(rng, diff.shape, np.float64)
    np.testing.assert_allclose(cnnprop.conv2d_backward_bias(delta), delta.sum(axis=(0, 2, 3)) / 2,
                               rtol=1e-15)


def test_e7_tie_rules():
    """"all" (the source) copies the delta to every tied maximum; "first"
    (the frameworks) gives it to the first in row-major order."""
    z = np.array([[[[7.0, 1.0, 2.0, 2.0],
                    [7.0, 7.0, 2.0, 0.0],
                    [0.0, 3.0, 4.0, 4.0],
                    [3.0, 0.0, 4.0, 4.0]]]])
    y = cnnprop.maxpool2d_forward(z, 2)
    np.testing.assert_array_equal(y, [[[[7.0, 2.0], [3.0, 4.0]]]])
    delta = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    all_ = cnnprop.maxpool2d_backward(delta, z, y, 2, ties="all")
    np.testing.assert_array_equal(all_, [[[[10, 0, 20, 20],
                                           [10, 10, 20, 0],
                                           [0, 30, 40, 40],
                                           [30, 0, 40, 40]]]])
    first = cnnprop.maxpool2d_backward(delta, z, y, 2, ties="first")
    np.testing.assert_array_equal(first, [[[[10, 0, 20, 0],
                                            [0, 0, 0, 0],
                                            [0, 30, 40, 0],
                                            [0, 0, 0, 0]]]])
    # 'first' conserves the total delta; 'all' does not at a tie
    assert first.sum() == delta.sum()
    assert all_.sum() > delta.sum()


def test_e8_padding_never_wins(rng):
    """With every input negative, a zero padding would win every border window; it must not."""
    z = -1.0 - random(rng, (2, 3, 6, 6), np.float64) ** 2
    y = cnnprop.maxpool2d_forward(z, 3, stride=2, padding=1)
    assert np.all(y < 0)
    np.testing.assert_array_equal(y, ref.maxpool_forward(z, 3, 3, 2, 2, 1, 1))
    # the corner window holds z[0:2, 0:2] only
    np.testing.assert_array_equal(y[:, :, 0, 0], z[:, :, :2, :2].max(axis=(2, 3)))


def test_e9_parameter_gradients_carry_one_over_n(rng):
    """reduction="mean" (the source's 1/N) is reduction="sum" divided by N."""
    z = random(rng, (3, 2, 6, 6), np.float64)
    delta = random(rng, (3, 4, 4, 4), np.float64)
    mean = cnnprop.conv2d_backward_filter(delta, z, 3, reduction="mean")
    total = cnnprop.conv2d_backward_filter(delta, z, 3, reduction="sum")
    np.testing.assert_allclose(mean * 3, total, rtol=1e-15, atol=0)
    np.testing.assert_allclose(cnnprop.conv2d_backward_bias(delta) * 3,
                               cnnprop.conv2d_backward_bias(delta, "sum"), rtol=1e-15)
    za, da = z.reshape(3, -1), delta.reshape(3, -1)[:, :5]
    np.testing.assert_allclose(cnnprop.affine_backward_weight(da, za) * 3,
                               cnnprop.affine_backward_weight(da, za, "sum"), rtol=1e-15)


def test_e10_input_delta_sums_over_the_affine_outputs(rng):
    """Eq (20) sums i up to K*P*Q; it sums over the I outputs, whatever I is."""
    z = random(rng, (2, 3, 4, 4), np.float64)   # K*P*Q of the input would be 48
    w = random(rng, (7, 48), np.float64)         # I = 7
    delta = random(rng, (2, 7), np.float64)
    dz = cnnprop.affine_backward_input(delta, w, z.shape)
    np.testing.assert_allclose(dz.reshape(2, -1), delta @ w, rtol=1e-13)


def test_e11_indices_are_zero_based():
    """The code is 0-based: with p_h = 0 and stride 1, output row 0 starts at input row 0."""
    z = np.arange(25.0).reshape(1, 1, 5, 5)
    f = np.zeros((1, 1, 2, 2))
    f[0, 0, 0, 0] = 1.0                          # picks z[p*u + 0, q*v + 0]
    np.testing.assert_array_equal(cnnprop.conv2d_forward(z, f)[0, 0], z[0, 0, :4, :4])
    assert list(cnnprop.window_range(0, 4, 2, 1, 0)) == [0]
