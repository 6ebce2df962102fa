"""Checks of convolution (eqs (4)-(9)) and transposed convolution adapters.

The truth is cnnprop's literal kernel in float64 (verified by ``cnnprop
verify`` against scipy.signal and finite differences); the magnitude of each
sum is the same kernel on absolute values. Finite differences run on the
adapter's own forward pass, so a forward and a backward that agree with each
other but not with cnnprop show which one is wrong.
"""
import numpy as np

import cnnprop
from cnnprop.verify.data import uniform

from .calls import call, from_user, kernel_from_user, kernel_to_user, to_user, user_shape
from .cases import adapter_kwargs, cnnprop_kwargs
from .compare import agree, fd_linear, worse
from .spec import Spec

__all__ = ["SPECS"]


class _Layer:
    """cnnprop's kernels for a case, and the adapter's, on the same canonical data."""

    def __init__(self, adapter, case, dtype, rng):
        self.adapter, self.case, self.dtype = adapter, case, dtype
        self.transposed = adapter.family == "transposed_convolution"
        self.kw = cnnprop_kwargs(case, adapter.family)
        self.akw = adapter_kwargs(case, adapter)
        g = case.groups
        fshape = (case.C, case.K // g, case.R, case.S) if self.transposed else (case.K, case.C // g, case.R, case.S)
        self.z = uniform(rng, (case.N, case.C, case.H, case.W))
        self.f = uniform(rng, fshape)
        self.b = uniform(rng, (case.K,))
        self.y_shape = self.forward(self.z, self.f, self.b).shape
        self.delta = uniform(rng, self.y_shape)

    # cnnprop, float64, literal kernels
    def forward(self, z, f, b):
        with cnnprop.use_algorithm("direct"):
            fn = cnnprop.conv_transpose2d_forward if self.transposed else cnnprop.conv2d_forward
            return fn(z, f, b, **self.kw)

    def backward_input(self, delta, f):
        with cnnprop.use_algorithm("direct"):
            fn = cnnprop.conv_transpose2d_backward_input if self.transposed else cnnprop.conv2d_backward_input
            return fn(delta, f, self.z.shape, **self.kw)

    def backward_filter(self, delta, z):
        with cnnprop.use_algorithm("direct"):
            fn = cnnprop.conv_transpose2d_backward_filter if self.transposed else cnnprop.conv2d_backward_filter
            return fn(delta, z, (self.case.R, self.case.S), **self.kw, reduction=self.adapter.reduction)

    def backward_bias(self, delta):
        return cnnprop.conv2d_backward_bias(delta, self.adapter.reduction)

    @property
    def divisor(self):
        return self.case.N if self.adapter.reduction == "mean" else 1

    # lengths of the sums, for the bounds
    @property
    def lengths(self):
        c = self.case
        per_group_in = (c.C if not self.transposed else c.K) // c.groups
        per_group_out = (c.K if not self.transposed else c.C) // c.groups
        taps = c.R * c.S
        span = int(np.prod(self.y_shape)) // max(self.y_shape[1], 1) + 1
        if self.transposed:
            return {"forward": per_group_in * taps + 1, "input": per_group_out * taps, "filter": c.N * c.H * c.W + 1}
        return {"forward": per_group_in * taps + 1, "input": per_group_out * taps, "filter": span}

    # the adapter, called in its conventions, results back in cnnprop's
    def user_forward(self, z, f, b, dtype=None):
        dtype = dtype or self.dtype
        a = self.adapter
        args = (to_user(z.astype(dtype), a), kernel_to_user(f.astype(dtype), a), b.astype(dtype))
        (y,) = call(a, "forward", args, self.akw, (user_shape(self.y_shape, a),), dtype, ("Y",))
        return from_user(y, a)

    def user_backward_input(self, delta, f):
        a = self.adapter
        args = (to_user(delta.astype(self.dtype), a), kernel_to_user(f.astype(self.dtype), a),
                user_shape(self.z.shape, a))
        (dz,) = call(a, "backward_input", args, self.akw, (user_shape(self.z.shape, a),), self.dtype, ("dZ",))
        return from_user(dz, a)

    def user_backward_params(self, delta, z):
        a = self.adapter
        args = (to_user(delta.astype(self.dtype), a), to_user(z.astype(self.dtype), a), (self.case.R, self.case.S))
        fshape = kernel_to_user(self.f, a).shape
        df, db = call(a, "backward_params", args, self.akw, (fshape, (self.case.K,)), self.dtype, ("dF", "db"))
        return kernel_from_user(df, a), db


def _forward(adapter, case, dtype, rng):
    L = _Layer(adapter, case, dtype, rng)
    y = L.user_forward(L.z, L.f, L.b)
    return agree(y, L.forward(L.z, L.f, L.b), L.forward(abs(L.z), abs(L.f), abs(L.b)), L.lengths["forward"],
                 dtype, "cnnprop's literal kernel", "Y", "nkpq")


def _input(adapter, case, dtype, rng):
    L = _Layer(adapter, case, dtype, rng)
    dz = L.user_backward_input(L.delta, L.f)
    return agree(dz, L.backward_input(L.delta, L.f), L.backward_input(abs(L.delta), abs(L.f)),
                 L.lengths["input"], dtype, "cnnprop's literal kernel", "dZ", "nchw")


def _filter(adapter, case, dtype, rng):
    L = _Layer(adapter, case, dtype, rng)
    df, _ = L.user_backward_params(L.delta, L.z)
    return agree(df, L.backward_filter(L.delta, L.z), L.backward_filter(abs(L.delta), abs(L.z)),
                 L.lengths["filter"], dtype, f"cnnprop's literal kernel, reduction={adapter.reduction!r}",
                 "dF", "kcrs")


def _bias(adapter, case, dtype, rng):
    L = _Layer(adapter, case, dtype, rng)
    _, db = L.user_backward_params(L.delta, L.z)
    if db is None:
        return agree(np.zeros(0), np.zeros(0), 0, 1, dtype, "no bias gradient returned", "db", "k")
    return agree(db, L.backward_bias(L.delta), L.backward_bias(abs(L.delta)), L.lengths["filter"], dtype,
                 f"cnnprop, reduction={adapter.reduction!r}", "db", "k")


def _input_fd(adapter, case, dtype, rng):
    L = _Layer(adapter, case, dtype, rng)
    g = L.delta
    grad = L.user_backward_input(g, L.f)
    return fd_linear(lambda x: float(np.sum(g * L.user_forward(x, L.f, L.b))), grad, L.z, 1.0,
                     lambda ax: float(np.sum(abs(g) * L.forward(ax, abs(L.f), abs(L.b)))),
                     L.lengths["forward"] + g.size, L.lengths["input"], rng, "dZ")


def _params_fd(adapter, case, dtype, rng):
    L = _Layer(adapter, case, dtype, rng)
    g, n = L.delta, L.divisor
    df, db = L.user_backward_params(g, L.z)
    terms = L.lengths["forward"] + g.size
    out = [fd_linear(lambda x: float(np.sum(g * L.user_forward(L.z, x, L.b))) / n, df, L.f, 1.0,
                     lambda ax: float(np.sum(abs(g) * L.forward(abs(L.z), ax, abs(L.b)))) / n,
                     terms, L.lengths["filter"], rng, f"dF (reduction={adapter.reduction!r})")]
    if db is not None:
        out.append(fd_linear(lambda x: float(np.sum(g * L.user_forward(L.z, L.f, x))) / n, db, L.b, 1.0,
                             lambda ax: float(np.sum(abs(g) * L.forward(abs(L.z), abs(L.f), ax))) / n,
                             terms, L.lengths["filter"], rng, f"db (reduction={adapter.reduction!r})"))
    return worse(*out)


def _specs(eq):
    return (
        Spec("forward", eq["forward"], "forward pass against cnnprop", ("forward",), _forward),
        Spec("input_delta", eq["input"], "input delta against cnnprop", ("backward_input",), _input),
        Spec("input_delta_fd", eq["input"], "input delta against finite differences of the adapter's forward",
             ("forward", "backward_input"), _input_fd, fd=True),
        Spec("kernel_grad", eq["filter"], "kernel gradient against cnnprop", ("backward_params",), _filter),
        Spec("bias_grad", eq["bias"], "bias gradient against cnnprop", ("backward_params",), _bias),
        Spec("params_fd", eq["filter"] + "," + eq["bias"],
             "kernel and bias gradients against finite differences of the adapter's forward",
             ("forward", "backward_params"), _params_fd, fd=True),
    )


SPECS = {
    "convolution": _specs({"forward": "(4)", "input": "(7)-(9)", "filter": "(5)", "bias": "(6)"}),
    # the transposed layer's forward pass is the input delta of eq (4), its input delta is eq (4)
    "transposed_convolution": _specs({"forward": "(7g) transposed", "input": "(4g) transposed",
                                      "filter": "(5g) transposed", "bias": "(6)"}),
}
