"""Record default-argument convolution results of the build before issue 10.

Run once on the unmodified kernels (commit ba1bf84, as
``PYTHONPATH=src python tests/_conv_defaults.py tests/data/conv_defaults.npz``); tests/test_conv_general.py
recomputes the same calls and asserts bitwise equality, so the general kernels
provably reproduce the old results with every new option at its default.
"""
import sys

import numpy as np

import cnnprop

# (N, C, H, W, K, R, S, stride, padding)
CASES = [
    (2, 3, 8, 8, 4, 3, 3, (2, 2), (1, 1)),
    (1, 2, 9, 10, 3, 3, 2, (1, 3), (2, 1)),
    (2, 3, 5, 6, 2, 1, 1, (2, 2), (0, 0)),
    (2, 40, 6, 5, 3, 3, 3, (1, 2), (1, 1)),
    (3, 4, 12, 11, 5, 5, 3, (1, 1), (2, 1)),
]


def inputs(i, dtype):
    N, C, H, W, K, R, S, stride, padding = CASES[i]
    rng = np.random.default_rng(1000 + i)
    z = rng.standard_normal((N, C, H, W)).astype(dtype)
    f = rng.standard_normal((K, C, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    out = cnnprop.conv2d_forward(z, f, b, stride, padding, algorithm="direct")
    delta = rng.standard_normal(out.shape).astype(dtype)
    return z, f, b, delta, stride, padding


def results(i, dtype, algorithm, new_api):
    z, f, b, delta, stride, padding = inputs(i, dtype)
    R, S = f.shape[2:]
    out = cnnprop.conv2d_forward(z, f, b, stride, padding, algorithm=algorithm)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, stride, padding, algorithm=algorithm)
    if new_api:
        df = cnnprop.conv2d_backward_filter(delta, z, (R, S), stride, padding, algorithm=algorithm)
    else:
        df = cnnprop.conv2d_backward_filter(delta, z, (R, S), stride, padding, "mean",
                                            algorithm=algorithm)
    return out, dz, df


def main(path):
    saved = {}
    for i in range(len(CASES)):
        for dtype in ("float32", "float64"):
            for algorithm in ("direct", "fast"):
                for name, value in zip(("out", "dz", "df"), results(i, dtype, algorithm, False)):
                    saved[f"{i}_{dtype}_{algorithm}_{name}"] = value
    np.savez_compressed(path, **saved)


if __name__ == "__main__":
    main(sys.argv[1])
