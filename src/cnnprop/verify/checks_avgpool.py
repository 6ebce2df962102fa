"""Checks of average pooling, eqs (A1) and (A2), with PyTorch's divisor rule."""
import numpy as np

import cnnprop
from cnnprop.pool import pool_geometry

from . import fd, references as ref
from .geometries import AVGPOOL, random_avgpool, select
from .data import uniform
from .registry import Outcome, check, compare

QUICK = select(AVGPOOL, quick=True, count=2)


def _geometry(case):
    return pool_geometry((case.H, case.W), case.window, case.stride, case.padding, 1, case.ceil_mode)


def _pads(g):
    return ((g.pt, g.pb), (g.pl, g.pr))


def _reference(case, g, z):
    return ref.avgpool_forward(z, case.window, case.stride, _pads(g), (g.P, g.Q),
                               case.count_include_pad, case.divisor_override)


def _forward(case, z):
    return cnnprop.avgpool2d_forward(z, **case.avg_args())


def _backward(case, delta, shape):
    return cnnprop.avgpool2d_backward(delta, shape, **case.avg_args())


@check("avgpool_forward", "(A1)",
       "forward pass against scipy.signal.correlate with a box kernel, divided by the divisor map "
       "(a box correlation of the counted region), and against a NumPy sum over the window taps",
       cases=AVGPOOL, quick_cases=QUICK, random_cases=random_avgpool)
def avgpool_forward(case, dtype, rng):
    g = _geometry(case)
    z = uniform(rng, (case.N, case.C, case.H, case.W))
    y = _forward(case, z.astype(dtype))
    R, S = case.window
    truth = _reference(case, g, z)
    outcome = compare(y, truth, _reference(case, g, abs(z)), R * S + 1, dtype, "scipy.signal box correlation")
    # the same in plain NumPy: sum of the taps inside the input over the divisor map
    hh, ww, inside = ref._pool_taps(g.H, g.W, g.P, g.Q, case.window, case.stride, _pads(g), (1, 1))
    taps = np.where(inside, z[:, :, np.clip(hh, 0, g.H - 1), np.clip(ww, 0, g.W - 1)], 0.0)
    divisor = ref.avgpool_divisor(g.H, g.W, g.P, g.Q, case.window, case.stride, _pads(g),
                                  case.count_include_pad, case.divisor_override)
    numpy_truth = taps.sum(axis=-1) / divisor
    other = compare(y, numpy_truth, abs(taps).sum(axis=-1) / divisor, R * S + 1, dtype, "")
    if not other.passed:
        return Outcome(other.error, other.bound, "NumPy tap sum (failed; scipy agreed)")
    return outcome


@check("avgpool_backward", "(A2)",
       "input delta as the exact adjoint of (A1) (<A1 x, d> = <x, A2 d> over unit vectors) "
       "and against finite differences (linear: exact to rounding)",
       cases=AVGPOOL, quick_cases=QUICK, random_cases=random_avgpool)
def avgpool_backward(case, dtype, rng):
    g = _geometry(case)
    shape = (case.N, case.C, case.H, case.W)
    delta = uniform(rng, shape[:2] + (g.P, g.Q))
    dz = _backward(case, delta.astype(dtype), shape)
    # the adjoint of the float64 reference, one input position at a time:
    # dz[n, c, h, w] = <A1(e_hw), delta[n, c]>
    truth = np.empty(shape)
    magnitude = np.empty(shape)
    unit = np.zeros((1, 1, case.H, case.W))
    for h, w in np.ndindex(case.H, case.W):
        unit[0, 0, h, w] = 1.0
        column = _reference(case, g, unit)[0, 0]
        unit[0, 0, h, w] = 0.0
        truth[:, :, h, w] = np.tensordot(delta, column, axes=([2, 3], [0, 1]))
        magnitude[:, :, h, w] = np.tensordot(abs(delta), column, axes=([2, 3], [0, 1]))
    R, S = case.window
    outcome = compare(dz, truth, magnitude, R * S + 1, dtype, "adjoint of the (A1) reference")
    if dtype != "float64" or not outcome.passed:
        return outcome
    # finite differences of the linear loss <A1 x, delta>
    x = uniform(rng, shape)
    error, bound = fd.linear_gradient_error(
        loss=lambda v: float(np.sum(delta * _forward(case, v))), grad=dz, x=x, step=0.5,
        magnitude=lambda ax: float(np.sum(abs(delta) * _forward(case, ax))),
        loss_terms=delta.size * R * S, grad_terms=R * S, rng=rng)
    if error > bound:
        return Outcome(error, bound, fd.method_name(x))
    return outcome
