"""Checks of max pooling, eqs (13) and (14), and its tie rules (erratum E7)."""
import functools

import numpy as np

import cnnprop

from . import fd, references as ref
from .geometries import POOL, random_pool, select
from .data import distinct, uniform
from .registry import Outcome, check, compare

QUICK = select(POOL, quick=True)
GAP = 1.0 / 64          # spacing of the distinct test values
STEP = GAP / 4          # < GAP / 2: no window changes its maximum within the step


def _pool(case, z, dtype=None):
    z = z if dtype is None else z.astype(dtype)
    return cnnprop.maxpool2d_forward(z, case.window, case.stride, case.padding)


def _unpool(case, delta, z, y, ties="all"):
    return cnnprop.maxpool2d_backward(delta, z, y, case.window, case.stride, case.padding, ties)


def scatter_backward(case, delta, z, y, ties):
    """Eq (14) as a scatter, in NumPy: each window hands its delta to its maxima
    ("all") or to the first of them in row-major order ("first")."""
    (R, S), (u, v), (ph, pw) = case.window, case.stride, case.padding
    N, C, H, W = z.shape
    dz = np.zeros(z.shape)
    for n, c, p, q in np.ndindex(*delta.shape):
        h0, w0 = p * u - ph, q * v - pw
        rows, cols = slice(max(h0, 0), min(h0 + R, H)), slice(max(w0, 0), min(w0 + S, W))
        hits = np.argwhere(z[n, c, rows, cols] == y[n, c, p, q])
        if ties == "first":
            hits = hits[:1]
        for h, w in hits:
            dz[n, c, rows.start + h, cols.start + w] += delta[n, c, p, q]
    return dz


@check("maxpool_forward", "(13)",
       "forward pass against a NumPy running maximum (padding at -inf, erratum E8)",
       cases=POOL, quick_cases=QUICK, random_cases=random_pool)
def maxpool_forward(case, dtype, rng):
    z = uniform(rng, (case.N, case.C, case.H, case.W), -3.0, -1.0)   # all negative: padding must not win
    y = _pool(case, z, dtype)
    truth = ref.maxpool_forward(z, case.window, case.stride, case.padding)
    return Outcome(float(np.count_nonzero(y != truth)), 0.0, "exact (NumPy)")


@check("maxpool_backward_fd", "(14)",
       "input delta against finite differences on distinct inputs",
       cases=POOL, quick_cases=QUICK, random_cases=random_pool)
def maxpool_backward_fd(case, dtype, rng):
    z = distinct(rng, (case.N, case.C, case.H, case.W), GAP)
    y = _pool(case, z)
    g = uniform(rng, y.shape)
    R, S = case.window
    overlap = -(-R // case.stride[0]) * -(-S // case.stride[1])   # windows per input, at most
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
