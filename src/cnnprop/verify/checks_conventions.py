"""Checks of the index formulas (Table 1, eqs (8), (9), (12)) and of the 1/N convention."""
import itertools
from typing import NamedTuple

import numpy as np

import cnnprop
from cnnprop._kernels import _support

from .bounds import unit_roundoff
from .data import affine_data, conv_data
from .geometries import AFFINE, CONV, random_conv
from .registry import Outcome, check


class Bound(NamedTuple):
    """Exhaustive search up to these sizes."""

    name: str
    size: int
    kernel: int
    stride: int
    pad: int


FULL_BOUND = (Bound("size<=12,kernel<=6,stride<=5,pad<=5", 12, 6, 5, 5),)
QUICK_BOUND = (Bound("size<=8,kernel<=4,stride<=3,pad<=3", 8, 4, 3, 3),)


def window_range_mismatches(limit, window_range=None, c_window_range=None):
    """Count geometries where the window-range formulas differ from brute force.

    Every (size, kernel, stride, pad) up to ``limit`` with an output, every
    input index: the covering set ``{p : p*u - pad <= i <= p*u - pad + R - 1}``
    against the Python helper and the C helper the kernels run. Also checks
    the output size (Table 1) against counting window positions.
    """
    window_range = window_range or cnnprop.window_range
    c_window_range = c_window_range or _support.c_window_range
    bad = 0
    for size, kernel, stride, pad in itertools.product(
            range(1, limit.size + 1), range(1, limit.kernel + 1),
            range(1, limit.stride + 1), range(0, limit.pad + 1)):
        if size + 2 * pad < kernel:
            continue
        positions = sum(1 for p in range(size + 2 * pad) if p * stride + kernel <= size + 2 * pad)
        P = cnnprop.output_size(size, kernel, stride, pad)
        bad += P != positions
        for i in range(size):
            covering = [p for p in range(P) if p * stride - pad <= i <= p * stride - pad + kernel - 1]
            bad += list(window_range(i, P, kernel, stride, pad)) != covering
            first, last = c_window_range(i, P, kernel, stride, pad)
            bad += list(range(first, last + 1)) != covering
    return bad


@check("window_ranges", "(8), (9), (12)",
       "Pmin..Pmax (Python and C) equal the brute-force covering set; Table 1 sizes",
       cases=FULL_BOUND, quick_cases=QUICK_BOUND, dtypes=("-",), paths=("-",))
def window_ranges(case, dtype, rng):
    return Outcome(float(window_range_mismatches(case)), 0.0, "exhaustive brute force")


def _ratio_error(mean, total, n):
    """``max |mean - total/n| / |total/n|``; both round one float64 value."""
    expected = np.asarray(total, dtype=np.float64) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(np.asarray(mean, np.float64) - expected) / np.abs(expected)
    return float(np.nanmax(np.where(expected == 0, np.abs(mean) != 0, ratio)))


@check("mean_is_sum_over_n", "(5),(6),(18),(19),E9",
       'reduction="mean" equals reduction="sum" divided by N',
       cases=CONV, quick_cases=CONV[:2], random_cases=random_conv)
def mean_is_sum_over_n(case, dtype, rng):
    z, _, _, delta = conv_data(case, rng)
    z, delta = z.astype(dtype), delta.astype(dtype)
    N, ks, s, p = case.N, (case.R, case.S), case.stride, case.padding
    az, aw, _, ad = affine_data(AFFINE[0], rng)
    az, ad = az.astype(dtype), ad.astype(dtype)
    pairs = [
        (cnnprop.conv2d_backward_filter(delta, z, ks, s, p, reduction="mean"),
         cnnprop.conv2d_backward_filter(delta, z, ks, s, p, reduction="sum"), N),
        (cnnprop.conv2d_backward_bias(delta, "mean"), cnnprop.conv2d_backward_bias(delta, "sum"), N),
        (cnnprop.affine_backward_weight(ad, az, "mean"), cnnprop.affine_backward_weight(ad, az, "sum"),
         len(ad)),
        (cnnprop.affine_backward_bias(ad, "mean"), cnnprop.affine_backward_bias(ad, "sum"), len(ad)),
    ]
    error = max(_ratio_error(mean, total, n) for mean, total, n in pairs)
    # literal kernels: mean = round(acc / N), total = round(acc); the fast
    # path's affine weights scale by alpha = fl(1/N) inside BLAS: one more
    # rounding in the data type. Then total / N in float64.
    bound = 3 * unit_roundoff(dtype) + 2 * unit_roundoff(np.float64)
    return Outcome(error, bound, "conv and affine parameter gradients")
