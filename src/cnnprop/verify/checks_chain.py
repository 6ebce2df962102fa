"""The network view, eqs (1)-(3): a chain of layers, backward composed layer by layer.

conv -> activation -> max pooling -> affine -> E = (1/N) sum_n sum_i G[n,i] out[n,i].
The composed backward (each layer's g and h of eqs (2)-(3), applied from the
top) is checked against finite differences of the whole chain, along random
directions that move the input and every parameter at once.
"""
from typing import NamedTuple

import numpy as np

import cnnprop

from . import fd
from .data import uniform
from .registry import Outcome, check


class ChainCase(NamedTuple):
    """Input shape, conv (K, R, stride, padding), activation, pool window/stride, I outputs."""

    name: str
    input_shape: tuple
    K: int
    R: int
    stride: int
    padding: int
    activation: str
    window: int
    pool_stride: int
    I: int


CASES = (
    ChainCase("conv3s1p1_tanh_pool2_fc5", (2, 3, 8, 8), 4, 3, 1, 1, "tanh", 2, 2, 5),
    ChainCase("conv5s2p2_softplus_pool3s2_fc3", (3, 2, 11, 9), 3, 5, 2, 2, "softplus", 3, 2, 3),
)
MAX_TRIES = 20
STEP = 2.0 ** -10


def _forward(case, z, f, b, w, c):
    a = cnnprop.conv2d_forward(z, f, b, case.stride, case.padding)
    s = cnnprop.activation_forward(a, case.activation)
    y = cnnprop.maxpool2d_forward(s, case.window, case.pool_stride)
    return a, s, y, cnnprop.affine_forward(y, w, c)


def chain_loss(case, g, params):
    """E = (1/N) sum(G * out) of the whole chain at ``params = (z, f, b, w, c)``."""
    return float(np.sum(g * _forward(case, *params)[3])) / len(g)


def chain_gradient(case, g, params):
    """dE/d(z, f, b, w, c) by eqs (2)-(3), composed from the top of the chain."""
    z, f, b, w, c = params
    a, s, y, _ = _forward(case, z, f, b, w, c)
    N = len(g)
    d_y = cnnprop.affine_backward_input(g, w, y.shape)
    d_s = cnnprop.maxpool2d_backward(d_y, s, y, case.window, case.pool_stride)
    d_a = cnnprop.activation_backward(d_s, a, case.activation)
    d_z = cnnprop.conv2d_backward_input(d_a, f, z.shape, case.stride, case.padding)
    return (d_z / N,                                  # Delta is per sample: dE/dz = Delta / N
            cnnprop.conv2d_backward_filter(d_a, z, f.shape[2:], case.stride, case.padding),
            cnnprop.conv2d_backward_bias(d_a),
            cnnprop.affine_backward_weight(g, y),
            cnnprop.affine_backward_bias(g))


def _argmax_pattern(case, params):
    """Which inputs win their pooling windows: the chain is smooth while this is fixed."""
    _, s, y, _ = _forward(case, *params)
    return cnnprop.maxpool2d_backward(np.ones_like(y), s, y, case.window, case.pool_stride) > 0


def _draw(case, rng):
    """Random input, parameters and upstream delta G for a chain case."""
    N, C = case.input_shape[:2]
    z = uniform(rng, case.input_shape)
    f = uniform(rng, (case.K, C, case.R, case.R)) / case.R
    b = uniform(rng, (case.K,))
    a_shape = cnnprop.conv2d_forward(z, f, b, case.stride, case.padding).shape
    y_shape = cnnprop.maxpool2d_forward(np.zeros(a_shape), case.window, case.pool_stride).shape
    w = uniform(rng, (case.I, int(np.prod(y_shape[1:]))))
    c = uniform(rng, (case.I,))
    return [z, f, b, w, c], uniform(rng, (N, case.I))


@check("chain_fd", "(1)-(3)",
       "conv -> activation -> pool -> affine: composed backward against finite differences",
       cases=CASES, quick_cases=CASES[:1], dtypes=("float64",))
def chain_fd(case, dtype, rng):
    for _ in range(MAX_TRIES):
        params, g = _draw(case, rng)
        flat = np.concatenate([p.ravel() for p in params])
        d = rng.uniform(-1.0, 1.0, size=flat.shape)

        def unflatten(x, params=params):
            parts = np.split(x, np.cumsum([p.size for p in params])[:-1])
            return [part.reshape(p.shape) for part, p in zip(parts, params)]

        # E is smooth along the segment only if no pooling window changes its
        # maximum there; at a near-tie, draw new data
        pattern = _argmax_pattern(case, params)
        if all(np.array_equal(_argmax_pattern(case, unflatten(flat + t * STEP * d)), pattern)
               for t in (-1.0, 1.0)):
            break
    else:
        return Outcome(np.inf, 0.0, f"no tie-free draw in {MAX_TRIES} tries")
    N = len(g)
    grad = np.concatenate([x.ravel() for x in chain_gradient(case, g, params)])
    _, _, y, _ = _forward(case, *params)
    # magnitude of E: the affine layer's terms, |G| (|y| |w|^T + |c|) / N
    w, c = params[3], params[4]
    scale = float(np.sum(np.abs(g) * (np.abs(y.reshape(N, -1)) @ np.abs(w).T + np.abs(c)))) / N
    error, bound = fd.smooth_gradient_error(
        lambda x: chain_loss(case, g, unflatten(x)), grad, flat, STEP, scale,
        loss_terms=flat.size, direction=d)
    return Outcome(error, bound, "random direction over input and all parameters, Richardson")
