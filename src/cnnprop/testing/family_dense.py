"""Checks of activation (eqs (15), (16)) and affine (eqs (17)-(20)) adapters."""
import numpy as np

import cnnprop
from cnnprop.verify.bounds import U64, unit_roundoff
from cnnprop.verify.checks_activation import CASES as ACTIVATION_CASES, EDGES, KINK_MARGIN, LIBM_ULPS
from cnnprop.verify.data import uniform

from .calls import call, kernel_from_user, kernel_to_user
from .compare import Finding, agree, fd_linear, worse
from .spec import Spec

__all__ = ["SPECS"]


# ----------------------------------------------------------------------------- activations

def _inputs(case, rng):
    z = uniform(rng, (case.N, case.C, case.H, case.W), -8.0, 8.0)
    # keep a margin from the kinks at 0 (relu, leaky_relu, elu), as cnnprop verify does
    return np.where(np.abs(z) < KINK_MARGIN, 0.5, z)


def _relative(dtype):
    """libm within LIBM_ULPS ulp in the adapter's precision, and in cnnprop's float64 truth."""
    return LIBM_ULPS * (unit_roundoff(dtype) + U64)


def _act(adapter, dtype, direction, *arrays):
    (out,) = call(adapter, direction, tuple(a.astype(dtype) for a in arrays), {}, (arrays[0].shape,), dtype,
                  ("Y" if direction == "forward" else "dZ",))
    return out


def _activation_forward(adapter, case, dtype, rng):
    # one row with the edge values, where an inaccurate formula shows
    z = np.concatenate([_inputs(case, rng).ravel(), EDGES]).reshape(1, 1, 1, -1)
    truth = cnnprop.activation_forward(z, adapter.activation, **adapter.params, algorithm="direct")
    return agree(_act(adapter, dtype, "forward", z), truth, np.abs(truth), 0, dtype,
                 "cnnprop's literal kernel, relative to |phi|", "Y", "nchw", relative=_relative(dtype), at=z)


def _activation_backward(adapter, case, dtype, rng):
    z = _inputs(case, rng)
    delta = uniform(rng, z.shape)
    truth = cnnprop.activation_backward(delta, z, adapter.activation, **adapter.params, algorithm="direct")
    phi = cnnprop.activation_forward(z, adapter.activation, **adapter.params, algorithm="direct")
    # phi' is formed from phi (1 - t^2, s (1 - s), phi + alpha): its rounding is relative to those terms
    slope = cnnprop.activation_backward(np.ones_like(z), z, adapter.activation, **adapter.params, algorithm="direct")
    magnitude = np.abs(delta) * (np.abs(slope) + np.abs(phi) * (1 + np.abs(phi)))
    return agree(_act(adapter, dtype, "backward_input", delta, z), truth, magnitude, 0, dtype,
                 "cnnprop's literal kernel", "dZ", "nchw", relative=2 * _relative(dtype), at=z)


def _activation_fd(adapter, case, dtype, rng):
    known = {c.name: c for c in ACTIVATION_CASES}[adapter.activation]
    z = _inputs(case, rng)
    delta = uniform(rng, z.shape)
    h = 1.0 / 128 if known.third_derivative == 0 else float((3 * LIBM_ULPS * U64 / known.third_derivative) ** (1 / 3))
    up, down = _act(adapter, dtype, "forward", z + h), _act(adapter, dtype, "forward", z - h)
    fd = (np.asarray(up, np.float64) - down) / (2 * h)
    dz = _act(adapter, dtype, "backward_input", delta, z)
    slope = np.maximum(np.abs(fd), 1.0)
    scale = np.maximum(np.abs(up), np.abs(down))
    bound = (h * h * known.third_derivative / 6 + (LIBM_ULPS * U64 * scale + U64 * (np.abs(z) + h) * slope) / h
             + 4 * U64 * np.abs(fd))
    error = np.abs(dz - delta * fd) / np.abs(delta)
    worst = int(np.argmax(error / bound))
    idx = np.unravel_index(worst, z.shape)
    return Finding(float(error.flat[worst]), float(bound.flat[worst]), f"element-wise central differences, h = {h:.2g}",
                   f"worst element dZ{list(map(int, idx))} at z = {z[idx]:.17g}: {dz[idx]:.17g}, "
                   f"differences give {delta[idx] * fd[idx]:.17g}")


# ----------------------------------------------------------------------------- affine

class _Affine:
    def __init__(self, adapter, case, dtype, rng):
        self.adapter, self.dtype = adapter, dtype
        self.shape = case.input_shape
        J = int(np.prod(self.shape[1:]))
        self.z, self.w = uniform(rng, self.shape), uniform(rng, (case.K, J))
        self.b, self.delta = uniform(rng, (case.K,)), uniform(rng, (self.shape[0], case.K))
        self.n = self.shape[0] if adapter.reduction == "mean" else 1

    def user_forward(self, z, w, b):
        a = self.adapter
        args = (z.astype(self.dtype), kernel_to_user(w.astype(self.dtype), a), b.astype(self.dtype))
        return call(a, "forward", args, {}, (self.delta.shape,), self.dtype, ("Y",))[0]

    def user_backward_input(self, delta):
        a = self.adapter
        args = (delta.astype(self.dtype), kernel_to_user(self.w.astype(self.dtype), a), tuple(self.shape))
        return call(a, "backward_input", args, {}, (self.shape,), self.dtype, ("dZ",))[0]

    def user_backward_params(self, delta):
        a = self.adapter
        wshape = kernel_to_user(self.w, a).shape
        dw, db = call(a, "backward_params", (delta.astype(self.dtype), self.z.astype(self.dtype)), {},
                      (wshape, self.b.shape), self.dtype, ("dW", "db"))
        return kernel_from_user(dw, a), db


def _flat(z):
    return z.reshape(z.shape[0], -1)


def _affine_forward(adapter, case, dtype, rng):
    A = _Affine(adapter, case, dtype, rng)
    truth = cnnprop.affine_forward(A.z, A.w, A.b, algorithm="direct")
    m = cnnprop.affine_forward(abs(A.z), abs(A.w), abs(A.b), algorithm="direct")
    return agree(A.user_forward(A.z, A.w, A.b), truth, m, A.w.shape[1] + 1, dtype, "cnnprop's literal kernel",
                 "Y", "ni")


def _affine_input(adapter, case, dtype, rng):
    A = _Affine(adapter, case, dtype, rng)
    truth = cnnprop.affine_backward_input(A.delta, A.w, A.shape, algorithm="direct")
    m = cnnprop.affine_backward_input(abs(A.delta), abs(A.w), A.shape, algorithm="direct")
    return agree(A.user_backward_input(A.delta), truth, m, A.w.shape[0], dtype, "cnnprop's literal kernel", "dZ")


def _affine_weight(adapter, case, dtype, rng):
    A = _Affine(adapter, case, dtype, rng)
    dw, _ = A.user_backward_params(A.delta)
    r = adapter.reduction
    truth = cnnprop.affine_backward_weight(A.delta, A.z, r, algorithm="direct")
    m = cnnprop.affine_backward_weight(abs(A.delta), abs(A.z), r, algorithm="direct")
    return agree(dw, truth, m, len(A.delta) + 1, dtype, f"cnnprop's literal kernel, reduction={r!r}", "dW", "ij")


def _affine_bias(adapter, case, dtype, rng):
    A = _Affine(adapter, case, dtype, rng)
    _, db = A.user_backward_params(A.delta)
    r = adapter.reduction
    if db is None:
        return agree(np.zeros(0), np.zeros(0), 0, 1, dtype, "no bias gradient returned", "db", "i")
    return agree(db, cnnprop.affine_backward_bias(A.delta, r), cnnprop.affine_backward_bias(abs(A.delta), r),
                 len(A.delta) + 1, dtype, f"cnnprop, reduction={r!r}", "db", "i")


def _affine_input_fd(adapter, case, dtype, rng):
    A = _Affine(adapter, case, dtype, rng)
    g = A.delta
    return fd_linear(lambda x: float(np.sum(g * A.user_forward(x, A.w, A.b))), A.user_backward_input(g), A.z, 1.0,
                     lambda ax: float(np.sum(abs(g) * (_flat(ax) @ abs(A.w).T + abs(A.b)))),
                     A.w.shape[1] + 1 + g.size, A.w.shape[0], rng, "dZ")


def _affine_params_fd(adapter, case, dtype, rng):
    A = _Affine(adapter, case, dtype, rng)
    g, n = A.delta, A.n
    dw, db = A.user_backward_params(g)
    terms = A.w.shape[1] + 1 + g.size
    out = [fd_linear(lambda x: float(np.sum(g * A.user_forward(A.z, x, A.b))) / n, dw, A.w, 1.0,
                     lambda ax: float(np.sum(abs(g) * (_flat(abs(A.z)) @ ax.T + abs(A.b)))) / n,
                     terms, len(g) + 1, rng, f"dW (reduction={adapter.reduction!r})")]
    if db is not None:
        out.append(fd_linear(lambda x: float(np.sum(g * A.user_forward(A.z, A.w, x))) / n, db, A.b, 1.0,
                             lambda ax: float(np.sum(abs(g) * (_flat(abs(A.z)) @ abs(A.w).T + ax))) / n,
                             terms, len(g) + 1, rng, f"db (reduction={adapter.reduction!r})"))
    return worse(*out)


SPECS = {
    "activation": (
        Spec("forward", "(15)", "phi against cnnprop, relative to |phi|, near 0 and in the tails",
             ("forward",), _activation_forward),
        Spec("input_delta", "(16)", "delta * phi'(z) against cnnprop", ("backward_input",), _activation_backward),
        Spec("input_delta_fd", "(16)", "delta * phi'(z) against central differences of the adapter's phi",
             ("forward", "backward_input"), _activation_fd, fd=True),
    ),
    "affine": (
        Spec("forward", "(17)", "forward pass against cnnprop", ("forward",), _affine_forward),
        Spec("weight_grad", "(18)", "weight gradient against cnnprop", ("backward_params",), _affine_weight),
        Spec("bias_grad", "(19)", "bias gradient against cnnprop", ("backward_params",), _affine_bias),
        Spec("input_delta", "(20)", "input delta against cnnprop", ("backward_input",), _affine_input),
        Spec("input_delta_fd", "(20)", "input delta against finite differences of the adapter's forward",
             ("forward", "backward_input"), _affine_input_fd, fd=True),
        Spec("params_fd", "(18),(19)", "weight and bias gradients against finite differences of the "
             "adapter's forward", ("forward", "backward_params"), _affine_params_fd, fd=True),
    ),
}
