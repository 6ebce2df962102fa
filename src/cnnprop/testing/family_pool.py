"""Checks of max pooling (eqs (13), (14), erratum E7) and average pooling (A1), (A2) adapters.

Max pooling's forward pass only selects values: it must match cnnprop
exactly. Its input delta is checked on inputs full of ties (three levels),
against cnnprop's kernel with the adapter's tie rule, and by finite
differences on distinct inputs (no ties: the loss is linear along the step).
"""
import numpy as np

import cnnprop
from cnnprop.verify.checks_pool import GAP, STEP
from cnnprop.verify.data import distinct, uniform

from .calls import call, from_user, to_user, user_shape
from .cases import adapter_kwargs, cnnprop_kwargs
from .compare import Finding, agree, fd_linear
from .spec import Spec

__all__ = ["SPECS"]


class _Pool:
    def __init__(self, adapter, case, dtype):
        self.adapter, self.case, self.dtype = adapter, case, dtype
        self.avg = adapter.family == "average_pooling"
        self.kw = cnnprop_kwargs(case, adapter.family)
        self.akw = adapter_kwargs(case, adapter)
        self.shape = (case.N, case.C, case.H, case.W)

    def forward(self, z):
        with cnnprop.use_algorithm("direct"):
            return (cnnprop.avgpool2d_forward if self.avg else cnnprop.maxpool2d_forward)(z, **self.kw)

    def backward(self, delta, z=None, y=None):
        with cnnprop.use_algorithm("direct"):
            if self.avg:
                return cnnprop.avgpool2d_backward(delta, self.shape, **self.kw)
            return cnnprop.maxpool2d_backward(delta, z, y, **self.kw, ties=self.adapter.ties)

    def user_forward(self, z):
        a = self.adapter
        y_shape = self.forward(np.zeros(self.shape)).shape
        (y,) = call(a, "forward", (to_user(z.astype(self.dtype), a),), self.akw, (user_shape(y_shape, a),),
                    self.dtype, ("Y",))
        return from_user(y, a)

    def user_backward(self, delta, z, y):
        a = self.adapter
        if self.avg:
            args = (to_user(delta.astype(self.dtype), a), user_shape(self.shape, a))
        else:
            args = tuple(to_user(t.astype(self.dtype), a) for t in (delta, z, y))
        (dz,) = call(a, "backward_input", args, self.akw, (user_shape(self.shape, a),), self.dtype, ("dZ",))
        return from_user(dz, a)

    @property
    def overlap(self):
        """Windows that hold one input, at most."""
        (u, v), c = self.case.stride, self.case
        dh, dw = c.dilation
        return -(-(dh * (c.R - 1) + 1) // u) * -(-(dw * (c.S - 1) + 1) // v)


def _forward(adapter, case, dtype, rng):
    P = _Pool(adapter, case, dtype)
    if P.avg:
        z = uniform(rng, P.shape)
        return agree(P.user_forward(z), P.forward(z), P.forward(abs(z)), case.R * case.S + 1, dtype,
                     "cnnprop's literal kernel", "Y", "ncpq")
    z = uniform(rng, P.shape, -3.0, -1.0)     # all negative: padding must never win
    y, truth = P.user_forward(z), P.forward(z)
    mismatch = np.flatnonzero(np.asarray(y, np.float64) != truth)
    detail = ""
    if mismatch.size:
        i = np.unravel_index(mismatch[0], truth.shape)
        detail = (f"{mismatch.size} of {truth.size} maxima differ; first Y[n={i[0]}, c={i[1]}, p={i[2]}, "
                  f"q={i[3]}] = {float(np.asarray(y)[i]):.9g}, cnnprop gives {truth[i]:.9g}")
    return Finding(float(mismatch.size), 0.0, "exact (cnnprop's literal kernel)", detail)


def _input(adapter, case, dtype, rng):
    P = _Pool(adapter, case, dtype)
    if P.avg:
        delta = uniform(rng, P.forward(np.zeros(P.shape)).shape)
        return agree(P.user_backward(delta, None, None), P.backward(delta), P.backward(abs(delta)),
                     P.overlap, dtype, "cnnprop's literal kernel", "dZ", "nchw")
    # three levels: nearly every window has a tie, many windows share one
    z = rng.integers(0, 3, size=P.shape).astype(np.float64)
    y = P.forward(z)
    delta = uniform(rng, y.shape)
    return agree(P.user_backward(delta, z, y), P.backward(delta, z, y), P.backward(abs(delta), z, y),
                 P.overlap, dtype, f"cnnprop's literal kernel on constructed ties, ties={adapter.ties!r}",
                 "dZ", "nchw")


def _input_fd(adapter, case, dtype, rng):
    P = _Pool(adapter, case, dtype)
    z = uniform(rng, P.shape) if P.avg else distinct(rng, P.shape, GAP)
    y = P.forward(z)
    g = uniform(rng, y.shape)
    step = 1.0 if P.avg else STEP
    grad = P.user_backward(g, z, y)
    return fd_linear(lambda x: float(np.sum(g * P.user_forward(x))), grad, z, step,
                     lambda ax: float(np.sum(abs(g) * P.forward(ax))) if P.avg else
                     float(np.sum(abs(g) * np.abs(P.forward(ax)))),
                     g.size * (case.R * case.S + 1), P.overlap, rng, "dZ")


def _specs(eq_forward, eq_input, input_summary):
    return (
        Spec("forward", eq_forward, "forward pass against cnnprop (max pooling: exactly)", ("forward",), _forward),
        Spec("input_delta", eq_input, input_summary, ("backward_input",), _input),
        Spec("input_delta_fd", eq_input, "input delta against finite differences of the adapter's forward",
             ("forward", "backward_input"), _input_fd, fd=True),
    )


SPECS = {
    "max_pooling": _specs("(13)", "(14), E7", "input delta against cnnprop on inputs full of ties"),
    "average_pooling": _specs("(A1)", "(A2)", "input delta against cnnprop"),
}
