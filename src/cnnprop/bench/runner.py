"""Time cnnprop and its peers, interleaved, in one process; medians and spreads over repeats."""
import json
import os
import platform
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

import numpy as np

import cnnprop
from cnnprop._blas_threads import controller as blas_threads

from . import peers
from .cases import CONV_LAYERS, POOL_LAYERS

__all__ = ["Record", "Results", "run", "gemm_rate", "spread", "check_gemm", "reference_path", "FAR_BELOW"]

PEERS = {"torch": (peers.torch_conv, peers.torch_pool), "numpy": (peers.numpy_conv, None)}


@dataclass
class Record:
    """One implementation on one layer, direction and dtype."""

    layer: str
    direction: str
    dtype: str
    impl: str
    ms: float                        # median of the repeats
    gflops: float = float("nan")     # convolutions
    gbps: float = float("nan")       # pooling: GB/s of input
    pct_gemm: float = float("nan")   # GFLOP/s as a share of the measured GEMM rate
    peak_mb: float = float("nan")    # cnnprop only: peak NumPy allocation of the call
    ms_min: float = float("nan")     # the spread of the repeats: fastest,
    ms_q1: float = float("nan")      # first quartile,
    ms_q3: float = float("nan")      # third quartile
    ms_max: float = float("nan")     # and slowest


@dataclass
class Results:
    """Everything a benchmark run measured, and what it could not."""

    threads: int
    repeats: int
    gemm: dict                       # {dtype: GFLOP/s} measured before the layers
    records: List[Record] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    gemm_end: dict = field(default_factory=dict)        # ... and after them
    gemm_reference: dict = field(default_factory=dict)  # the best stored for this machine, before the run
    warnings: List[str] = field(default_factory=list)   # a busy machine (see check_gemm)

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
# CNNPROP_BENCH_SETTLE overrides it; read when a run starts (settle_seconds),
# never at import, so a bad value stops `cnnprop bench` with a clear message
# and nothing else. A number here (tests set 0) wins over the variable.
SETTLE_SECONDS = None


def settle_seconds():
    """The pause between timed calls: SETTLE_SECONDS, else $CNNPROP_BENCH_SETTLE, else 0.15 s."""
    if SETTLE_SECONDS is not None:
        return SETTLE_SECONDS
    raw = os.environ.get("CNNPROP_BENCH_SETTLE", "0.15")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 60:
        raise ValueError(f"CNNPROP_BENCH_SETTLE must be a number of seconds in [0, 60), got {raw!r}")
    return seconds


def _settle(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def interleaved_times(candidates, repeats, settle=None):
    """Seconds of every call of each callable, run in rotating order, once a round.

    Interleaving spreads the machine's noise (other processes, frequency
    changes) over all candidates instead of over whichever ran last; the
    busy pause of ``settle`` seconds before each call lets the previous
    call's spinning threads go to sleep.
    """
    settle = settle_seconds() if settle is None else settle
    names = list(candidates)
    for name in names:              # warm-up: caches, thread pools, page faults
        candidates[name]()
    times = {name: [] for name in names}
    for round_ in range(repeats):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            _settle(settle)
            times[name].append(_seconds(candidates[name]))
    return times


def interleaved_medians(candidates, repeats, settle=None):
    """Median seconds of each callable (see :func:`interleaved_times`)."""
    return {name: statistics.median(ts) for name, ts in interleaved_times(candidates, repeats, settle).items()}


def spread(times):
    """(min, first quartile, median, third quartile, max) of ``times``.

    Quartiles by linear interpolation between the sorted times (NumPy's
    default, ``statistics.quantiles(method="inclusive")``); one time gives
    five equal values.
    """
    ordered = sorted(times)
    if len(ordered) == 1:
        return (ordered[0],) * 5
    q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return ordered[0], q1, median, q3, ordered[-1]


def _record(layer, direction, dtype, impl, times):
    """A Record of the median time of ``times`` (seconds) and their spread, in ms."""
    low, q1, median, q3, high = (t * 1e3 for t in spread(times))
    return Record(layer, direction, np.dtype(dtype).name, impl, median, ms_min=low, ms_q1=q1, ms_q3=q3,
                  ms_max=high)


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


# A run's GEMM rate below this share of the machine's is "far below": the
# machine is busy. On a 2-core machine one other busy process halves a
# 2-thread rate (0.5); run-to-run differences of an idle machine stay within
# a few per cent. 0.75 sits between the two.
FAR_BELOW = 0.75


def reference_path():
    """Where the best GEMM rate measured on this machine is kept:
    ``$XDG_CACHE_HOME/cnnprop/bench-gemm.json`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnprop" / "bench-gemm.json"


def _reference_key(dtype, threads):
    return (f"{platform.node()} {platform.machine()} {platform.processor() or '-'} "
            f"cpus={os.cpu_count()} {np.dtype(dtype).name} threads={threads}")


def check_gemm(results, path=None):
    """Warnings when the run's GEMM rate is far below the machine's; updates the stored best.

    The machine's rate is the best rate ever recorded in ``path`` (see
    :func:`reference_path`) for this host, CPU, dtype and thread count; the
    run's rate is the lower of the rates measured before and after the
    layers. A warning is due when that is below :data:`FAR_BELOW` of the
    stored best (the machine was busy for the whole run), or below
    :data:`FAR_BELOW` of the other of the run's two rates (the load changed
    during the run). The best of the two is then stored.

    Returns
    -------
    list of str
        Also appended to ``results.warnings``.
    """
    path = Path(path) if path is not None else reference_path()
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    found = []
    for dtype, start in results.gemm.items():
        end = results.gemm_end.get(dtype, start)
        low, high = min(start, end), max(start, end)
        key = _reference_key(dtype, results.threads)
        best = stored.get(key)
        best = float(best) if isinstance(best, (int, float)) and best > 0 else None
        if best is not None:
            results.gemm_reference[dtype] = best
        if low < FAR_BELOW * high:
            found.append(f"{dtype} GEMM rate changed during the run ({start:.0f} GFLOP/s before the layers, "
                         f"{end:.0f} after): the machine's load changed; the figures are not comparable")
        if best is not None and low < FAR_BELOW * best:
            found.append(f"{dtype} GEMM rate of this run ({low:.0f} GFLOP/s) is {100 * low / best:.0f}% of the "
                         f"best measured on this machine ({best:.0f}, {path}): the machine is busy; "
                         f"the figures are low")
        stored[key] = max(best or 0.0, high)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        results.notes.append(f"the machine's GEMM rate could not be stored ({exc})")
    results.warnings.extend(found)
    return found


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
        for name, times in interleaved_times(candidates, results.repeats).items():
            record = _record(layer.name, direction, dtype, name, times)
            record.gflops = layer.flops / record.ms / 1e6
            record.pct_gemm = 100 * record.gflops / results.gemm[np.dtype(dtype).name]
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
        for name, times in interleaved_times(candidates, results.repeats).items():
            record = _record(layer.name, direction, dtype, name, times)
            record.gbps = z.nbytes / record.ms / 1e6
            if name.startswith("cnnprop"):
                record.peak_mb = peak_megabytes(candidates[name])
            results.records.append(record)
            if progress:
                progress(record)


def run(dtypes=("float32", "float64"), threads=None, repeats=7, layers=None,
        peers=("torch", "numpy"), with_direct=False, progress=None, reference=None):
    """Benchmark cnnprop against its peers.

    Each time is the median of ``repeats`` interleaved rounds; each record
    also keeps the spread of the rounds (min, quartiles, max). The GEMM rate
    is measured before and after the layers and compared with the best
    stored for this machine (:func:`check_gemm`): a run on a busy machine
    says so in ``Results.warnings``.

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
    reference : str or path, optional
        The file of the machine's best GEMM rates (default
        :func:`reference_path`).

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
    results.gemm_end = {np.dtype(d).name: gemm_rate(d, threads) for d in dtypes}
    check_gemm(results, reference)
    return results
