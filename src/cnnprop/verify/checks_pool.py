"""Checks of max pooling, eqs (13g) and (14), its tie rules (erratum E7), the
indices and the backward pass from indices, and the ceil_mode output sizes."""
import functools

import numpy as np

import cnnprop
from cnnprop.geometry import output_size
from cnnprop.pool import pool_geometry

from . import fd, references as ref
from .geometries import POOL, random_pool, select
from .data import distinct, uniform
from .registry import Outcome, check, compare

QUICK = select(POOL, quick=True)
GAP = 1.0 / 64          # spacing of the distinct test values
STEP = GAP / 4          # < GAP / 2: no window changes its maximum within the step


def _geometry(case):
    return pool_geometry((case.H, case.W), case.window, case.stride, case.padding, case.dilation,
                         case.ceil_mode)


def _pool(case, z, dtype=None, indices=False):
    z = z if dtype is None else z.astype(dtype)
    return cnnprop.maxpool2d_forward(z, **case.pool_args(), return_indices=indices)


def _unpool(case, delta, z, y, ties="all"):
    return cnnprop.maxpool2d_backward(delta, z, y, **case.pool_args(), ties=ties)


def _taps(case, g):
    """(P, Q, T) rows, columns and inside-mask of every window's taps, row-major."""
    return ref._pool_taps(g.H, g.W, g.P, g.Q, case.window, case.stride,
                          ((g.pt, g.pb), (g.pl, g.pr)), case.dilation)


def scatter_backward(case, delta, z, y, ties):
    """Eq (14) as a scatter, in NumPy: each window hands its delta to its maxima
    ("all") or to the first of them in row-major order ("first")."""
    g = _geometry(case)
    hh, ww, inside = _taps(case, g)
    dz = np.zeros(z.shape)
    for n, c, p, q in np.ndindex(*delta.shape):
        taps = [(h, w) for h, w in zip(hh[p, q][inside[p, q]], ww[p, q][inside[p, q]])
                if z[n, c, h, w] == y[n, c, p, q]]
        if ties == "first":
            taps = taps[:1]
        for h, w in taps:
            dz[n, c, h, w] += delta[n, c, p, q]
    return dz


def _windows_per_input(case):
    (R, S), (u, v) = case.window, case.stride
    return min(R, -(-R * case.dilation[0] // u)) * min(S, -(-S * case.dilation[1] // v))


@check("maxpool_forward", "(13), (13g)",
       "forward pass and indices against a NumPy brute force over the window taps "
       "(padding at -inf, erratum E8; the first maximum)",
       cases=POOL, quick_cases=QUICK, random_cases=random_pool)
def maxpool_forward(case, dtype, rng):
    # all negative (padding must not win), on few levels (ties: the first maximum must win)
    shape = (case.N, case.C, case.H, case.W)
    z = rng.integers(-4, -1, size=shape) + 0.25 * rng.integers(0, 3, size=shape)
    g = _geometry(case)
    y, i = _pool(case, z, dtype, indices=True)
    truth, index = ref.maxpool_general(z, case.window, case.stride, ((g.pt, g.pb), (g.pl, g.pr)),
                                       case.dilation, (g.P, g.Q))
    values = _pool(case, z, dtype)
    wrong = (np.count_nonzero(y != truth.astype(dtype)) + np.count_nonzero(i != index)
             + np.count_nonzero(values != y))
    return Outcome(float(wrong), 0.0, "exact (NumPy brute force, values and indices)")


@check("maxpool_backward_indices", "(14)",
       "backward from indices equals ties=\"first\" and a NumPy scatter of the deltas",
       cases=POOL, quick_cases=QUICK, random_cases=random_pool)
def maxpool_backward_indices(case, dtype, rng):
    z = rng.integers(0, 3, size=(case.N, case.C, case.H, case.W)).astype(dtype)
    y, i = _pool(case, z, indices=True)
    delta = uniform(rng, y.shape).astype(dtype)
    dz = cnnprop.maxpool2d_backward_indices(delta, i, z.shape)
    if np.count_nonzero(dz != _unpool(case, delta, z, y, "first")):
        return Outcome(np.inf, 0.0, "differs from ties='first'")
    truth = scatter_backward(case, np.float64(delta), np.float64(z), np.float64(y), "first")
    magnitude = scatter_backward(case, abs(np.float64(delta)), np.float64(z), np.float64(y), "first")
    return compare(dz, truth, magnitude, _windows_per_input(case), dtype, "NumPy scatter")


@check("maxpool_backward_fd", "(14)",
       "input delta against finite differences on distinct inputs",
       cases=POOL, quick_cases=QUICK, random_cases=random_pool)
def maxpool_backward_fd(case, dtype, rng):
    z = distinct(rng, (case.N, case.C, case.H, case.W), GAP)
    y = _pool(case, z)
    g = uniform(rng, y.shape)
    overlap = _windows_per_input(case)
    if dtype == "float32":
        z32, g32 = z.astype(np.float32), g.astype(np.float32)
        dz32 = _unpool(case, g32, z32, _pool(case, z32))
        return compare(dz32, _unpool(case, g, z, y), _unpool(case, abs(g), z, y), overlap, dtype,
                       "float32 vs float64 result")
    grad = _unpool(case, g, z, y)
    # without ties both rules are the same function
    mismatch = np.count_nonzero(grad != _unpool(case, g, z, y, "first"))
    error, bound = fd.linear_gradient_error(
        loss=lambda x: float(np.sum(g * _pool(case, x))), grad=grad, x=z, step=STEP,
        magnitude=lambda ax: float(np.sum(abs(g) * _pool(case, ax))),
        loss_terms=g.size, grad_terms=overlap, rng=rng)
    return Outcome(np.inf if mismatch else error, bound, fd.method_name(z))


def _tie_check(case, dtype, rng, ties):
    # three levels: nearly every window has a tie, many windows share one
    z = rng.integers(0, 3, size=(case.N, case.C, case.H, case.W)).astype(dtype)
    y = _pool(case, z)
    delta = uniform(rng, y.shape).astype(dtype)
    dz = _unpool(case, delta, z, y, ties)
    truth = scatter_backward(case, np.float64(delta), np.float64(z), np.float64(y), ties)
    magnitude = scatter_backward(case, abs(np.float64(delta)), np.float64(z), np.float64(y), ties)
    R, S = case.window
    return compare(dz, truth, magnitude, R * S, dtype, f"constructed ties, ties={ties!r}")


def _hand_built(ties):
    """A 4 x 4 input with ties inside windows, and the exact expected deltas."""
    z = np.array([[[[7, 1, 2, 2], [7, 7, 2, 0], [0, 3, 4, 4], [3, 0, 4, 4]]]], dtype=float)
    expected = {
        "all": [[10, 0, 20, 20], [10, 10, 20, 0], [0, 30, 40, 40], [30, 0, 40, 40]],
        "first": [[10, 0, 20, 0], [0, 0, 0, 0], [0, 30, 40, 0], [0, 0, 0, 0]],
    }[ties]
    return z, np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), np.array([[expected]], dtype=float)


def _hand_built_errors(dtype, ties):
    z, delta, expected = _hand_built(ties)
    z, delta = z.astype(dtype), delta.astype(dtype)
    y = cnnprop.maxpool2d_forward(z, 2)
    return np.count_nonzero(cnnprop.maxpool2d_backward(delta, z, y, 2, ties=ties) != expected)


def _ties_check(case, dtype, rng, ties):
    outcome = _tie_check(case, dtype, rng, ties)
    if _hand_built_errors(dtype, ties):
        return Outcome(np.inf, 0.0, outcome.method + " (hand-built 4x4 case failed)")
    return outcome


for _ties, _summary in (
        ("all", "source's rule: every tied maximum receives the full delta (constructed ties)"),
        ("first", "framework rule: the first maximum in row-major order receives the delta")):
    check(f"maxpool_ties_{_ties}", "(14), E7", _summary, cases=POOL, quick_cases=QUICK, random_cases=random_pool)(
        functools.partial(_ties_check, ties=_ties))


def output_size_mismatches():
    """Geometries of one axis (sizes 1..7, windows 1..4, strides 1..4,
    dilation 1..2, every padding pair below the extent, both modes) whose
    output size differs from counting the windows one by one."""
    bad = 0
    for size in range(1, 8):
        for R in range(1, 5):
            for u in range(1, 5):
                for d in (1, 2):
                    extent = d * (R - 1) + 1
                    for before in range(extent):
                        for after in range(extent):
                            for ceil in (False, True):
                                count = ref.pool_output_size(size, extent, u, before, after, ceil)
                                try:
                                    got = output_size(size, R, u, (before, after), d, ceil)
                                except ValueError:
                                    got = 0
                                bad += got != count
    return bad


@check("pool_output_sizes", "(13g), ceil_mode",
       "output sizes (floor and ceil_mode) equal a count of the windows over every small geometry",
       dtypes=("-",), paths=("-",))
def pool_output_sizes(case, dtype, rng):
    return Outcome(float(output_size_mismatches()), 0.0, "exhaustive count")
