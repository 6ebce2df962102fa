"""Random data for the checks: float32-exact values, distinct values, layer inputs."""
import math

import numpy as np

import cnnprop

__all__ = ["uniform", "distinct", "conv_data", "general_conv_data", "affine_data"]


def uniform(rng, shape, low=-1.0, high=1.0):
    """Uniform float64 data whose values are exactly representable in float32."""
    return rng.uniform(low, high, size=shape).astype(np.float32).astype(np.float64)


def distinct(rng, shape, gap=1.0 / 64):
    """Distinct values at least ``gap`` apart, in random order (float32-exact)."""
    size = int(np.prod(shape))
    grid = (np.arange(size) - size // 2) * gap
    return rng.permutation(grid).reshape(shape)


def conv_data(case, rng):
    """Random z, f, b and an upstream delta for a convolution case (float64, float32-exact)."""
    P = cnnprop.output_size(case.H, case.R, case.stride[0], case.padding[0])
    Q = cnnprop.output_size(case.W, case.S, case.stride[1], case.padding[1])
    z = uniform(rng, (case.N, case.C, case.H, case.W))
    f = uniform(rng, (case.K, case.C, case.R, case.S))
    b = uniform(rng, (case.K,))
    delta = uniform(rng, (case.N, case.K, P, Q))
    return z, f, b, delta


def general_conv_data(case, rng):
    """Random z, f (K, C/groups, R, S), b and delta for a :class:`GeneralConvCase`."""
    from cnnprop.geometry import sliding_window

    g = sliding_window((case.H, case.W), (case.R, case.S), case.stride, case.pads, case.dilation)
    z = uniform(rng, (case.N, case.C, case.H, case.W))
    f = uniform(rng, (case.K, case.C // case.groups, case.R, case.S))
    b = uniform(rng, (case.K,))
    delta = uniform(rng, (case.N, case.K, g.P, g.Q))
    return z, f, b, delta


def affine_data(case, rng):
    """Random z, w, b and upstream delta for an affine case (float64, float32-exact)."""
    N, J = case.input_shape[0], math.prod(case.input_shape[1:])
    return (uniform(rng, case.input_shape), uniform(rng, (case.I, J)), uniform(rng, (case.I,)),
            uniform(rng, (N, case.I)))
