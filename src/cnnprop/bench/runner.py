"""Time cnnprop and its peers, interleaved, in one process; medians over repeats."""
import os
import platform
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import List

import numpy as np

import cnnprop
from cnnprop._blas_threads import controller as blas_threads

from . import peers
from .cases import CONV_LAYERS, POOL_LAYERS

__all__ = ["Record", "Results", "run", "gemm_rate"]

PEERS = {"torch": (peers.torch_conv, peers.torch_pool), "numpy": (peers.numpy_conv, None)}


@dataclass
class Record:
    """One implementation on one layer, direction and dtype."""

    layer: str
    direction: str
    dtype: str
    impl: str
    ms: float
    gflops: float = float("nan")     # convolutions
    gbps: float = float("nan")       # pooling: GB/s of input
    pct_gemm: float = float("nan")   # GFLOP/s as a share of the measured GEMM rate
    peak_mb: float = float("nan")    # cnnprop only: peak NumPy allocation of the call


@dataclass
class Results:
    """Everything a benchmark run measured, and what it could not."""

    threads: int
    repeats: int
    gemm: dict
    records: List[Record] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    machine: dict = field(default_factory=dict)

    def get(self, layer, direction, dtype, impl):
        for r in self.records:
            if (r.layer, r.direction, r.dtype, r.impl) == (layer, direction, dtype, impl):
                return r
        return None


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# Pause between two timed calls. Each library keeps its worker threads
# spinning for a while after a parallel region (libgomp for a few ms,
# OpenBLAS's servers for about 0.1 s, Intel's OpenMP up to 0.2 s); without a
# pause the next library's threads would share the cores with them, and every
# figure would depend on the order. The pause is a busy wait, not a sleep:
# an idle virtual CPU comes back slowly (seen here as 2x slower calls).
SETTLE_SECONDS = float(os.environ.get("CNNPROP_BENCH_SETTLE", "0.15"))


def _settle(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def interleaved_medians(candidates, repeats, settle=None):
    """Median seconds of each callable, run in rotating order, once a round.

    Interleaving spreads the machine's noise (other processes, frequency
    changes) over all candidates instead of over whichever ran last; the
    busy pause of ``settle`` seconds before each call lets the previous
    call's spinning threads go to sleep.
    """
    settle = SETTLE_SECONDS if settle is None else settle
    names = list(candidates)
    for name in names:              # warm-up: caches, thread pools, page faults
        candidates[name]()
    times = {name: [] for name in names}
    for round_ in range(repeats):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            _settle(settle)
            times[name].append(_seconds(candidates[name]))
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_megabytes(fn):
    """Peak NumPy/Python allocation during one call of ``fn``, in MB (tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def gemm_rate(dtype, threads, size=2048, repeats=5):
    """GFLOP/s of the BLAS behind scipy (the one cnnprop's fast path calls) on
    a square product, with ``threads`` threads: the machine's GEMM rate."""
    from scipy.linalg import blas

    gemm = blas.sgemm if np.dtype(dtype) == np.float32 else blas.dgemm
    rng = np.random.default_rng(0)
    a = np.asfortranarray(rng.standard_normal((size, size)).astype(dtype))
    b = np.asfortranarray(rng.standard_normal((size, size)).astype(dtype))
    with blas_threads().limit(threads):
        seconds = interleaved_medians({"gemm": lambda: gemm(1.0, a, b)}, repeats)["gemm"]
    return 2 * size ** 3 / seconds / 1e9


def _conv_inputs(layer, dtype, rng):
    z = rng.standard_normal((layer.N, layer.C, layer.H, layer.H)).astype(dtype)
    f = rng.standard_normal(layer.kernel_shape).astype(dtype)
    delta = rng.standard_normal((layer.N, layer.K, layer.out, layer.out)).astype(dtype)
    return z, f, delta


def _available_peers(names, which, results):
    found = {}
    for name in names:
        build = PEERS[name][which]
        if build is None:
            continue
        try:
            __import__(name)
        except ImportError:
            note = f"{name} is not installed: skipped"
            if note not in results.notes:
                results.notes.append(note)
            continue
        found[name] = build
    return found


def _bench_conv(layer, dtype, results, peer_names, with_direct, progress):
    z, f, delta = _conv_inputs(layer, dtype, np.random.default_rng(0))
    impls = {"cnnprop": peers.cnnprop_conv(layer, z, f, delta, results.threads)}
    if with_direct:
        impls["cnnprop direct"] = peers.cnnprop_conv(layer, z, f, delta, results.threads, "direct")
    for name, build in _available_peers(peer_names, 0, results).items():
        impls[name] = build(layer, z, f, delta, results.threads)
    for direction in ("forward", "input grad", "kernel grad"):
        candidates = {name: calls[direction] for name, calls in impls.items() if direction in calls}
        medians = interleaved_medians(candidates, results.repeats)
        for name, seconds in medians.items():
            gflops = layer.flops / seconds / 1e9
            record = Record(layer.name, direction, np.dtype(dtype).name, name, seconds * 1e3, gflops=gflops,
                            pct_gemm=100 * gflops / results.gemm[np.dtype(dtype).name])
            if name.startswith("cnnprop"):
                record.peak_mb = peak_megabytes(candidates[name])
            results.records.append(record)
            if progress:
                progress(record)


def _bench_pool(layer, dtype, results, peer_names, with_direct, progress):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((layer.N, layer.C, layer.H, layer.H)).astype(dtype)
    y = cnnprop.maxpool2d_forward(z, layer.window, layer.stride, layer.padding)
    delta = rng.standard_normal(y.shape).astype(dtype)
    impls = {"cnnprop": peers.cnnprop_pool(layer, z, y, delta, results.threads)}
    if with_direct:
        impls["cnnprop direct"] = peers.cnnprop_pool(layer, z, y, delta, results.threads, "direct")
    for name, build in _available_peers(peer_names, 1, results).items():
        impls[name] = build(layer, z, y, delta, results.threads)
    for direction in ("forward", "backward"):
        candidates = {name: calls[direction] for name, calls in impls.items()}
        for name, seconds in interleaved_medians(candidates, results.repeats).items():
            record = Record(layer.name, direction, np.dtype(dtype).name, name, seconds * 1e3,
                            gbps=z.nbytes / seconds / 1e9)
            if name.startswith("cnnprop"):
                record.peak_mb = peak_megabytes(candidates[name])
            results.records.append(record)
            if progress:
                progress(record)


def run(dtypes=("float32", "float64"), threads=None, repeats=7, layers=None,
        peers=("torch", "numpy"), with_direct=False, progress=None):
    """Benchmark cnnprop against its peers.

    Parameters
    ----------
    dtypes : sequence of str
        ``"float32"`` and/or ``"float64"``.
    threads : int, optional
        Threads for every implementation (cnnprop's ``num_threads``,
        ``torch.set_num_threads``, the BLAS of the GEMM-rate measurement);
        None: what cnnprop would use.
    repeats : int
        Timed rounds; each candidate runs once a round, in rotating order.
    layers : sequence of str, optional
        Names from :data:`CONV_LAYERS` and :data:`POOL_LAYERS`; None: all.
    peers : sequence of {"torch", "numpy"}
        Peers to time; missing ones are skipped with a note.
    with_direct : bool
        Also time cnnprop's literal kernels (slow).
    progress : callable, optional
        Called with each :class:`Record` as it is measured.

    Returns
    -------
    Results
    """
    from cnnprop._threads import resolve_num_threads

    threads = resolve_num_threads(threads)
    known = {layer.name for layer in CONV_LAYERS + POOL_LAYERS}
    unknown = set(layers or ()) - known
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; known: {sorted(known)}")
    chosen = [layer for layer in CONV_LAYERS + POOL_LAYERS if layers is None or layer.name in layers]
    results = Results(threads=threads, repeats=repeats,
                      gemm={np.dtype(d).name: gemm_rate(d, threads) for d in dtypes})
    results.machine = {"python": platform.python_version(), "machine": platform.machine(),
                       "processor": platform.processor(), "numpy": np.__version__,
                       "cnnprop": cnnprop.build_info()}
    try:
        import torch

        results.machine["torch"] = torch.__version__
    except ImportError:
        pass
    for dtype in dtypes:
        for layer in chosen:
            bench = _bench_conv if layer in CONV_LAYERS else _bench_pool
            bench(layer, dtype, results, peers, with_direct, progress)
    return results
