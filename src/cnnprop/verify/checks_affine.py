"""Checks of the affine layer, eqs (17)-(20)."""
import numpy as np

import cnnprop

from . import fd, references as ref
from .geometries import AFFINE, select
from .data import affine_data
from .registry import Outcome, check, compare

QUICK = select(AFFINE, quick=True)


def _flat(z):
    return z.reshape(z.shape[0], -1)


# Each backward map with the float64 NumPy product it must equal, the same
# product on absolute values (the magnitude of the sum), and the sum's length.
BACKWARD = {
    "input": (lambda d, z, w: cnnprop.affine_backward_input(d, w, z.shape),
              lambda d, z, w: (d @ w).reshape(z.shape),
              lambda d, z, w: w.shape[0]),
    "weight": (lambda d, z, w: cnnprop.affine_backward_weight(d, z),
               lambda d, z, w: d.T @ _flat(z) / len(d),
               lambda d, z, w: len(d)),
    "bias": (lambda d, z, w: cnnprop.affine_backward_bias(d),
             lambda d, z, w: d.sum(axis=0) / len(d),
             lambda d, z, w: len(d)),
}


def _matmul_check(which, case, dtype, rng):
    z, w, _, delta = affine_data(case, rng)
    kernel, product, length = BACKWARD[which]
    got = kernel(*(a.astype(dtype) for a in (delta, z, w)))
    return compare(got, product(delta, z, w), product(abs(delta), abs(z), abs(w)),
                   length(delta, z, w) + 1, dtype, "NumPy matmul")


def _fd_check(which, case, dtype, rng):
    z, w, b, g = affine_data(case, rng)
    kernel, product, length = BACKWARD[which]
    if dtype == "float32":
        got = kernel(*(a.astype(np.float32) for a in (g, z, w)))
        return compare(got, kernel(g, z, w), product(abs(g), abs(z), abs(w)),
                       length(g, z, w) + 1, dtype, "float32 vs float64 result")
    N = len(g)
    point = {"input": z, "weight": w, "bias": b}

    def loss(x):
        p = dict(point, **{which: x})
        return float(np.sum(g * cnnprop.affine_forward(p["input"], p["weight"], p["bias"]))) / N

    def magnitude(ax):
        p = dict({k: abs(v) for k, v in point.items()}, **{which: ax})
        return float(np.sum(abs(g) * ref.affine_forward(p["input"], p["weight"], p["bias"]))) / N

    # Delta is the per-sample dE_n/dZ; parameter gradients are of the mean E.
    grad = kernel(g, z, w) / (N if which == "input" else 1)
    error, bound = fd.linear_gradient_error(
        loss, grad, point[which], 1.0, magnitude,
        loss_terms=w.shape[1] + 1 + g.size, grad_terms=length(g, z, w) + 1, rng=rng)
    return Outcome(error, bound, fd.method_name(point[which]))


@check("affine_forward", "(17)", "forward pass against a NumPy matmul", cases=AFFINE, quick_cases=QUICK)
def affine_forward(case, dtype, rng):
    z, w, b, _ = affine_data(case, rng)
    out = cnnprop.affine_forward(z.astype(dtype), w.astype(dtype), b.astype(dtype))
    return compare(out, ref.affine_forward(z, w, b), ref.affine_forward(abs(z), abs(w), abs(b)),
                   w.shape[1] + 1, dtype, "NumPy matmul")


@check("affine_weight_grad_matmul", "(18)", "weight gradient against a NumPy matmul",
       cases=AFFINE, quick_cases=QUICK)
def affine_weight_grad_matmul(case, dtype, rng):
    return _matmul_check("weight", case, dtype, rng)


@check("affine_weight_grad_fd", "(18)", "weight gradient (with 1/N) against finite differences",
       cases=AFFINE, quick_cases=QUICK)
def affine_weight_grad_fd(case, dtype, rng):
    return _fd_check("weight", case, dtype, rng)


@check("affine_bias_grad_fd", "(19)", "bias gradient (with 1/N) against finite differences",
       cases=AFFINE, quick_cases=QUICK)
def affine_bias_grad_fd(case, dtype, rng):
    return _fd_check("bias", case, dtype, rng)


@check("affine_input_grad_matmul", "(20)", "input delta against a NumPy matmul",
       cases=AFFINE, quick_cases=QUICK)
def affine_input_grad_matmul(case, dtype, rng):
    return _matmul_check("input", case, dtype, rng)


@check("affine_input_grad_fd", "(20)", "input delta against finite differences",
       cases=AFFINE, quick_cases=QUICK)
def affine_input_grad_fd(case, dtype, rng):
    return _fd_check("input", case, dtype, rng)


@check("affine_fast_vs_direct", "(17), (18), (20)",
       "the fast path against the literal kernels, on the same data",
       cases=AFFINE, quick_cases=QUICK, paths=("-",))
def affine_fast_vs_direct(case, dtype, rng):
    z, w, b, delta = (a.astype(dtype) for a in affine_data(case, rng))
    runs = {path: (cnnprop.affine_forward(z, w, b, algorithm=path),
                   cnnprop.affine_backward_input(delta, w, z.shape, algorithm=path),
                   cnnprop.affine_backward_weight(delta, z, algorithm=path))
            for path in ("direct", "fast")}
    az, aw, ab, ad = (abs(np.float64(a)) for a in (z, w, b, delta))
    magnitudes = (ref.affine_forward(az, aw, ab), (ad @ aw).reshape(z.shape), ad.T @ _flat(az) / len(ad))
    lengths = (w.shape[1] + 1, w.shape[0], len(delta) + 1)
    outcomes = [compare(fast, direct, m, length, dtype, "fast vs direct, eqs 17, 20, 18", accumulate=dtype)
                for fast, direct, m, length in zip(runs["fast"], runs["direct"], magnitudes, lengths)]
    return max(outcomes, key=lambda o: o.error / o.bound if o.bound else np.inf)
