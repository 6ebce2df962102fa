"""cnnprop.bench: cnnprop against its peers, timed side by side in one process.

``python -m cnnprop bench`` (or ``cnnprop bench``) times cnnprop, PyTorch on
the CPU and a NumPy im2col implementation on the benchmark layers of the
project, interleaved, and reports medians, GFLOP/s, the share of the
machine's measured GEMM rate and the ratios to each peer. Peers that are not
installed are skipped with a note. See docs/performance.md.
"""
from .cases import CONV_LAYERS, POOL_LAYERS
from .runner import run

__all__ = ["run", "CONV_LAYERS", "POOL_LAYERS"]
