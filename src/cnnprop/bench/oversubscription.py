"""What limiting BLAS to one thread inside cnnprop's OpenMP tasks is worth.

    python -m cnnprop.bench.oversubscription

Times the fast convolution forward pass of three benchmark layers (float32,
cnnprop's default threads) as shipped, with the BLAS behind scipy held at one
thread during the call, and again with that limit disabled, so that every
OpenMP task's BLAS call spreads over BLAS's own thread pool as well.
"""
import contextlib

import numpy as np

import cnnprop
from cnnprop._blas_threads import controller

from .cases import CONV_LAYERS
from .runner import interleaved_medians


def measure(layers=("vgg3x3", "res_s2", "res1x1"), repeats=9):
    """{layer: (ms with BLAS limited to 1 thread, ms without the limit, BLAS threads)}."""
    blas = controller()
    results = {}
    for layer in (layer for layer in CONV_LAYERS if layer.name in layers):
        rng = np.random.default_rng(0)
        z = rng.standard_normal((layer.N, layer.C, layer.H, layer.H)).astype(np.float32)
        f = rng.standard_normal((layer.K, layer.C, layer.R, layer.R)).astype(np.float32)

        def call():
            cnnprop.conv2d_forward(z, f, None, layer.stride, layer.padding, algorithm="fast")

        limited = interleaved_medians({"call": call}, repeats)["call"]
        original = blas.limit
        blas.limit = lambda count=1: contextlib.nullcontext()
        try:
            unlimited = interleaved_medians({"call": call}, repeats)["call"]
        finally:
            blas.limit = original
        results[layer.name] = (limited * 1e3, unlimited * 1e3, blas.get())
    return results


def main():
    if not controller().available:
        print("the BLAS behind scipy is not OpenBLAS: its thread count cannot be controlled here")
        return 1
    for name, (limited, unlimited, threads) in measure().items():
        print(f"{name}: BLAS held at 1 thread inside the tasks {limited:.2f} ms; "
              f"left at {threads} threads {unlimited:.2f} ms ({unlimited / limited:.1f}x slower)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
