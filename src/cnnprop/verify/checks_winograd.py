"""Checks of Winograd minimal filtering (``algorithm="winograd"``): eqs (4) and (7)-(9)
by (W1) and (W2) of docs/winograd.md, against scipy.signal, with bound (W3)."""
import numpy as np

import cnnprop
from cnnprop import _winograd

from . import references as ref
from .data import conv_data
from .geometries import WINOGRAD, random_winograd
from .bounds import sum_bound, unit_roundoff, worst_element
from .registry import Outcome, check, compare

QUICK = (WINOGRAD[0], WINOGRAD[3], WINOGRAD[4])


def _as(dtype, *arrays):
    return [a.astype(dtype) for a in arrays]


@check("conv_winograd_forward", "(4)",
       "Winograd F(m x m, 3x3) forward (W1) against scipy.signal.correlate, bound (W3) on the "
       "Winograd magnitude", cases=WINOGRAD, quick_cases=QUICK, random_cases=random_winograd,
       paths=("winograd",))
def conv_winograd_forward(case, dtype, rng):
    z, f, b, _ = conv_data(case, rng)
    out = cnnprop.conv2d_forward(*_as(dtype, z, f, b), 1, case.padding, algorithm="winograd")
    truth = ref.conv_forward(z, f, b, (1, 1), case.padding)
    m = _winograd.tile_size(dtype)
    magnitude = ref.winograd_magnitude(z, f, b, out.shape, *case.padding, m)
    return compare(out, truth, magnitude, _winograd.rounding_length(m, case.C), dtype,
                   f"scipy.signal.correlate, F({m}x{m},3x3)", accumulate=dtype)


@check("conv_winograd_input_grad", "(7)-(9)",
       "Winograd input delta (W2) against scipy.signal.convolve of the delta, bound (W3)",
       cases=WINOGRAD, quick_cases=QUICK, random_cases=random_winograd, paths=("winograd",))
def conv_winograd_input_grad(case, dtype, rng):
    z, f, _, delta = conv_data(case, rng)
    dz = cnnprop.conv2d_backward_input(*_as(dtype, delta, f), z.shape, 1, case.padding,
                                       algorithm="winograd")
    truth = ref.conv_backward_input(delta, f, z.shape, (1, 1), case.padding)
    m = _winograd.tile_size(dtype)
    f_rot = f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    magnitude = ref.winograd_magnitude(delta, f_rot, None, z.shape,
                                       2 - case.padding[0], 2 - case.padding[1], m)
    return compare(dz, truth, magnitude, _winograd.rounding_length(m, case.K), dtype,
                   f"scipy.signal.convolve, F({m}x{m},3x3)", accumulate=dtype)


@check("conv_winograd_vs_fast", "(4)",
       "Winograd within (W3) of the fast path's result, on the same data, both tile sizes",
       cases=WINOGRAD, quick_cases=QUICK, random_cases=random_winograd, paths=("winograd",))
def conv_winograd_vs_fast(case, dtype, rng):
    # both results err: Winograd by (W3) on its magnitude, the fast path by bound (1)
    # on the direct magnitude; the check allows the sum, reported per direct magnitude
    z, f, b, _ = _as(dtype, *conv_data(case, rng))
    fast = cnnprop.conv2d_forward(z, f, b, 1, case.padding, algorithm="fast")
    direct_m = ref.conv_forward(abs(np.float64(z)), abs(np.float64(f)), abs(np.float64(b)),
                                (1, 1), case.padding)
    u = unit_roundoff(dtype)
    outcomes = []
    for m in _winograd.TILES:
        out = _winograd.correlate(z, _winograd.filter_transform(f, m), b, fast.shape,
                                  *case.padding, m, None)
        magnitude = ref.winograd_magnitude(z, f, b, fast.shape, *case.padding, m)
        allowed = (sum_bound(_winograd.rounding_length(m, case.C), dtype) * magnitude
                   + sum_bound(case.C * 9 + 1, dtype) * direct_m + 2 * u * np.abs(np.float64(fast)))
        error, bound = worst_element(out, fast, direct_m, (allowed / direct_m).ravel(), 0.0)
        outcomes.append(Outcome(error, bound, f"F({m}x{m},3x3) vs fast, eq 4"))
    return max(outcomes, key=lambda o: o.error / o.bound if o.bound else np.inf)
