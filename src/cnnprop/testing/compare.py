"""One comparison of a user's result with cnnprop's, reported at its worst element.

The bounds are those of :mod:`cnnprop.verify.bounds`: bound (1) with the
adapter's sums assumed to run in its data type (the worst a correct
implementation may do), bound (2) for finite differences of a linear loss.
"""
from typing import NamedTuple

import numpy as np

from cnnprop.verify import fd
from cnnprop.verify.bounds import sum_bound, unit_roundoff, worst_index

__all__ = ["Finding", "agree", "fd_linear", "worse"]


class Finding(NamedTuple):
    """What one check found on one case: the error at the worst element and its bound."""

    error: float
    bound: float
    method: str
    detail: str = ""

    @property
    def passed(self):
        return bool(np.isfinite(self.error) and self.error <= self.bound)

    @property
    def ratio(self):
        if not np.isfinite(self.error):
            return np.inf
        return self.error / self.bound if self.bound > 0 else (0.0 if self.error == 0 else np.inf)


def _element(name, letters, shape, flat):
    index = np.unravel_index(flat, shape)
    if len(letters) == len(index):
        return f"{name}[" + ", ".join(f"{k}={int(i)}" for k, i in zip(letters, index)) + "]"
    return f"{name}[{', '.join(str(int(i)) for i in index)}]"


def agree(result, truth, magnitude, length, dtype, method, name, letters="nchw", relative=None, at=None):
    """Finding of ``result`` against cnnprop's float64 ``truth`` (bound (1), sums in ``dtype``);
    ``at``: the input of an element-wise map, shown at the worst element."""
    relative = sum_bound(length, np.dtype(dtype).type) if relative is None else relative
    truth = np.asarray(truth, dtype=np.float64)
    i, error, bound = worst_index(result, truth, magnitude, relative, unit_roundoff(dtype))
    if i < 0:
        return Finding(error, bound, method, "empty result")
    got = np.asarray(result, dtype=np.float64).ravel()[i]
    detail = (f"worst element {_element(name, letters, truth.shape, i)} = {got:.17g}, "
              f"cnnprop gives {truth.ravel()[i]:.17g}")
    if at is not None:
        detail += f" (at z = {np.asarray(at).ravel()[i]:.17g})"
    return Finding(error, bound, method, detail)


def fd_linear(loss, grad, x, step, magnitude, loss_terms, grad_terms, rng, name):
    """Finding of ``grad`` against central differences of a loss linear in ``x`` (bound (2))."""
    error, bound = fd.linear_gradient_error(loss, grad, x, step, magnitude, loss_terms, grad_terms, rng)
    detail = f"{name} against central differences of the adapter's own forward pass"
    return Finding(error, bound, fd.method_name(x), detail)


def worse(*findings):
    """The finding with the largest error/bound ratio."""
    return max(findings, key=lambda f: f.ratio)
