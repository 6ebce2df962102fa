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
       "input delta against a NumPy scatter of delta / D over the window taps, as the adjoint of "
       "the (A1) reference (<A1 x, d> = <x, A2 d>), and against finite differences (linear: exact "
       "to rounding)",
       cases=AVGPOOL, quick_cases=QUICK, random_cases=random_avgpool)
def avgpool_backward(case, dtype, rng):
    g = _geometry(case)
    shape = (case.N, case.C, case.H, case.W)
    delta = uniform(rng, shape[:2] + (g.P, g.Q))
    dz = _backward(case, delta.astype(dtype), shape)
    divisor = ref.avgpool_divisor(g.H, g.W, g.P, g.Q, case.window, case.stride, _pads(g),
                                  case.count_include_pad, case.divisor_override)
    hh, ww, inside = ref._pool_taps(g.H, g.W, g.P, g.Q, case.window, case.stride, _pads(g), (1, 1))
    truth, magnitude = np.zeros(shape), np.zeros(shape)
    scaled = delta / divisor
    for p, q in np.ndindex(g.P, g.Q):
        for h, w in zip(hh[p, q][inside[p, q]], ww[p, q][inside[p, q]]):
            truth[:, :, h, w] += scaled[:, :, p, q]
            magnitude[:, :, h, w] += abs(scaled[:, :, p, q])
    R, S = case.window
    outcome = compare(dz, truth, magnitude, R * S + 1, dtype, "NumPy scatter; adjoint of (A1)")
    # the scatter is the adjoint of the scipy reference of (A1): <A1 x, d> = <x, truth>
    x = uniform(rng, shape)
    lhs, rhs = float(np.sum(_reference(case, g, x) * delta)), float(np.sum(x * truth))
    scale = float(np.sum(_reference(case, g, abs(x)) * abs(delta)))
    if abs(lhs - rhs) > 4 * (x.size + delta.size) * R * S * 2.0 ** -53 * scale:
        return Outcome(np.inf, 0.0, "the NumPy scatter is not the adjoint of the (A1) reference")
    if dtype != "float64" or not outcome.passed:
        return outcome
    # finite differences of the linear loss <A1 x, delta>
    error, bound = fd.linear_gradient_error(
        loss=lambda v: float(np.sum(delta * _forward(case, v))), grad=dz, x=x, step=0.5,
        magnitude=lambda ax: float(np.sum(abs(delta) * _forward(case, ax))),
        loss_terms=delta.size * R * S, grad_terms=R * S, rng=rng)
    if error > bound:
        return Outcome(error, bound, fd.method_name(x))
    return outcome
