"""Parameter initialisation with a seed: He (for ReLU-like layers) and Glorot."""
import numpy as np

__all__ = ["initialise", "INITIALISERS"]


def _fans(shape):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel) or (out, in)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def he_normal(rng, shape):
    """Normal with std sqrt(2 / fan_in) (He et al. 2015), for ReLU layers."""
    fan_in, _ = _fans(shape)
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def glorot_uniform(rng, shape):
    """Uniform on +-sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio 2010)."""
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


INITIALISERS = {"he": he_normal, "glorot": glorot_uniform}


def initialise(name, shape, dtype, seed):
    """A weight of ``shape`` drawn by initialiser ``name`` from ``seed`` (int, Generator or None)."""
    if name not in INITIALISERS:
        raise ValueError(f"init must be one of {sorted(INITIALISERS)}, got {name!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return INITIALISERS[name](rng, shape).astype(dtype)
