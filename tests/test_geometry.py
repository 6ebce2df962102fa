"""Table 1 and eqs (8), (9), (12): output sizes and window ranges, against brute force."""
import itertools
import math

import numpy as np
import pytest

import cnnprop
from cnnprop._kernels import _support
from cnnprop.geometry import as_pair, sliding_window

# every geometry up to these bounds
SIZES = range(1, 10)
KERNELS = range(1, 6)
STRIDES = range(1, 5)
PADS = range(0, 5)


def _valid_geometries():
    for size, kernel, stride, pad in itertools.product(SIZES, KERNELS, STRIDES, PADS):
        if size + 2 * pad >= kernel:
            yield size, kernel, stride, pad


def _brute_out_size(size, kernel, stride, pad):
    """Count the window starts p*stride - pad whose window fits in the padded input."""
    count = 0
    while count * stride + kernel <= size + 2 * pad:
        count += 1
    return count


def test_output_size_against_brute_force_and_both_forms_of_table_1():
    for size, kernel, stride, pad in _valid_geometries():
        P = cnnprop.output_size(size, kernel, stride, pad)
        assert P == _brute_out_size(size, kernel, stride, pad)
        # the source's form, with the height stride (erratum E1)
        assert P == math.ceil((size - kernel + 1 + 2 * pad) / stride)


def test_window_range_equals_brute_force_set_for_every_small_geometry():
    checked = 0
    for size, kernel, stride, pad in _valid_geometries():
        P = cnnprop.output_size(size, kernel, stride, pad)
        for i in range(size):
            covering = [p for p in range(P) if p * stride - pad <= i <= p * stride - pad + kernel - 1]
            got = cnnprop.window_range(i, P, kernel, stride, pad)
            assert list(got) == covering, (size, kernel, stride, pad, i)
            # the exact C code of the kernels: (Pmin, Pmax), empty when Pmin > Pmax
            first, last = _support.c_window_range(i, P, kernel, stride, pad)
            assert list(range(first, last + 1)) == covering, (size, kernel, stride, pad, i)
            checked += 1
    assert checked == 4404  # the loop really ran over every geometry


def test_tap_range_equals_brute_force_for_every_small_geometry():
    """The per-tap output ranges used by eqs (4), (5): outputs whose tap r lands in the input."""
    for size, kernel, stride, pad in _valid_geometries():
        P = cnnprop.output_size(size, kernel, stride, pad)
        for r in range(kernel):
            inside = [p for p in range(P) if 0 <= p * stride + r - pad < size]
            first, stop = _support.c_tap_range(r, size, P, stride, pad)
            assert list(range(first, stop)) == inside, (size, kernel, stride, pad, r)


def test_window_range_examples():
    # stride 2, kernel 1: odd rows are covered by no window
    assert list(cnnprop.window_range(1, 3, 1, 2, 0)) == []
    assert list(cnnprop.window_range(2, 3, 1, 2, 0)) == [1]
    # the first and last rows with padding
    assert list(cnnprop.window_range(0, 4, 3, 1, 1)) == [0, 1]
    assert list(cnnprop.window_range(3, 4, 3, 1, 1)) == [2, 3]


@pytest.mark.parametrize("args, error", [
    ((0, 3, 1, 0), "size must be >= 1"),
    ((5, 0, 1, 0), "kernel must be >= 1"),
    ((5, 3, 0, 0), "stride must be >= 1"),
    ((5, 3, -1, 0), "stride must be >= 1"),
    ((5, 3, 1, -1), "padding must be >= 0"),
    ((2, 5, 1, 1), "does not fit"),
])
def test_output_size_rejects_bad_geometry(args, error):
    with pytest.raises(ValueError, match=error):
        cnnprop.output_size(*args)


@pytest.mark.parametrize("bad", [2.0, "3", None, True, np.float64(2)])
def test_output_size_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="must be an int"):
        cnnprop.output_size(bad, 1, 1, 0)


def test_integer_likes_are_accepted():
    assert cnnprop.output_size(np.int64(7), np.int32(3), 2, np.uint8(0)) == 3


@pytest.mark.parametrize("bad, error", [
    ((-1, 3, 1, 1, 0), ValueError),
    ((0, 3, 1, 0, 0), ValueError),
    ((0, 3, 1, 1, -2), ValueError),
    ((0.5, 3, 1, 1, 0), TypeError),
])
def test_window_range_rejects_bad_arguments(bad, error):
    with pytest.raises(error):
        cnnprop.window_range(*bad)


def test_as_pair():
    assert as_pair(3, "stride") == (3, 3)
    assert as_pair((2, 1), "stride") == (2, 1)
    assert as_pair([np.int64(2), 5], "stride") == (2, 5)
    assert as_pair(np.array([1, 2]), "stride") == (1, 2)
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        as_pair((1, 2, 3), "stride")
    with pytest.raises(TypeError, match="stride"):
        as_pair((1.5, 2), "stride")
    with pytest.raises(TypeError, match="stride"):
        as_pair("22", "stride")


def test_sliding_window_names_the_axis_that_does_not_fit():
    with pytest.raises(ValueError, match="kernel width 5 does not fit"):
        sliding_window((8, 3), (3, 5), 1, 0)
    g = sliding_window((7, 9), (3, 3), (2, 1), (0, 1))
    assert (g.P, g.Q) == (3, 9)
