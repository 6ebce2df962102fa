"""Winograd against the fast (im2col + GEMM) path and PyTorch, side by side.

``python -m cnnprop.bench.winograd [--dtype float32] [--repeats 7] [--threads 2]``
times, per layer and direction (forward, input delta), the fast path,
Winograd F(2x2,3x3) and F(4x4,3x3) and PyTorch in one process, interleaved
round by round so that the machine's load hits them alike, and prints
medians, GFLOP/s (the direct convolution's 2 N K C 9 P Q) and the error of
each against the float64 truth (max |y - truth| / max |truth| and the worst
element error relative to the direct magnitude ``sum |z||f|``). The numbers
of docs/winograd.md come from this script.
"""
import argparse
import statistics
import time
from typing import NamedTuple

import numpy as np

import cnnprop
from cnnprop import _winograd

__all__ = ["Layer", "LAYERS", "measure", "error_survey", "main"]


class Layer(NamedTuple):
    """A 3x3 stride-1 layer: input (N, C, H, H), K kernels, padding p."""

    name: str
    N: int
    C: int
    H: int
    K: int
    p: int = 1


LAYERS = (
    Layer("vgg3x3", 8, 64, 56, 64),
    Layer("resnext_nogroups", 8, 256, 28, 256),
    Layer("deeplab_nodil", 4, 256, 33, 256),
    # not tuned for
    Layer("small_c16", 32, 16, 32, 16),
    Layer("n1_c256_14", 1, 256, 14, 256),
    Layer("rgb_224", 4, 3, 224, 64),
)


def _winograd_call(m, direction):
    def call(z, f, delta, threads):
        if direction == "forward":
            U = _winograd.filter_transform(f, m)
            N, K = z.shape[0], f.shape[0]
            return _winograd.correlate(z, U, np.zeros(K, z.dtype), (N, K) + delta.shape[2:],
                                       1, 1, m, threads)
        U = _winograd.filter_transform(f, m, transpose=True)
        return _winograd.correlate(delta, U, np.zeros(z.shape[1], z.dtype), z.shape, 1, 1, m, threads)
    return call


def _calls(direction):
    import torch
    import torch.nn.functional as F

    if direction == "forward":
        fast = lambda z, f, d, t: cnnprop.conv2d_forward(z, f, None, 1, 1, algorithm="fast", num_threads=t)  # noqa: E731
        peer = lambda tz, tf, td, shape: F.conv2d(tz, tf, None, 1, 1)  # noqa: E731
    else:
        fast = lambda z, f, d, t: cnnprop.conv2d_backward_input(d, f, z.shape, 1, 1, algorithm="fast",  # noqa: E731
                                                                num_threads=t)
        peer = lambda tz, tf, td, shape: torch.nn.grad.conv2d_input(shape, tf, td, 1, 1)  # noqa: E731
    return {"fast": fast, "wino2": _winograd_call(2, direction), "wino4": _winograd_call(4, direction),
            "torch": peer}


def _truth(z, f, delta, direction):
    """The float64 truth and the direct magnitude ``sum |z||f|``.

    Computed by the fast path in float64 (float64 GEMMs): its own error,
    at most ``gamma_{9C}(u64) m`` and about ``u64 m`` in practice, is far
    below the float32 errors measured here (for float64 data the columns are
    the difference to that result); scipy's reference (what ``cnnprop
    verify`` uses) takes minutes on the large layers.
    """
    z64, f64, d64 = (np.float64(a) for a in (z, f, delta))
    if direction == "forward":
        run = lambda a, b, c: cnnprop.conv2d_forward(a, b, None, 1, 1, algorithm="fast")  # noqa: E731
        return run(z64, f64, None), run(abs(z64), abs(f64), None)
    run = lambda a, b: cnnprop.conv2d_backward_input(a, b, z.shape, 1, 1, algorithm="fast")  # noqa: E731
    return run(d64, f64), run(abs(d64), abs(f64))


def measure(layers=LAYERS, dtype="float32", repeats=7, threads=2, errors=True):
    """Rows ``(layer, direction, path, median s, GFLOP/s, normwise error, elementwise error)``."""
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    for layer in layers:
        P = layer.H + 2 * layer.p - 2
        z = rng.uniform(-1, 1, (layer.N, layer.C, layer.H, layer.H)).astype(dtype)
        f = rng.uniform(-1, 1, (layer.K, layer.C, 3, 3)).astype(dtype)
        delta = rng.uniform(-1, 1, (layer.N, layer.K, P, P)).astype(dtype)
        tz, tf, td = (torch.from_numpy(a) for a in (z, f, delta))
        flops = 2 * layer.N * layer.K * layer.C * 9 * P * P
        for direction in ("forward", "input"):
            calls = _calls(direction)
            times = {name: [] for name in calls}
            results = {}
            for _ in range(repeats):
                for name, call in calls.items():
                    start = time.perf_counter()
                    if name == "torch":
                        with torch.no_grad():
                            res = call(tz, tf, td, z.shape).numpy()
                    else:
                        res = call(z, f, delta, threads)
                    times[name].append(time.perf_counter() - start)
                    results[name] = res
            truth, magnitude = _truth(z, f, delta, direction) if errors else (None, None)
            for name in calls:
                med = statistics.median(times[name])
                if errors:
                    diff = np.abs(np.float64(results[name]) - truth)
                    normwise = float(diff.max() / np.abs(truth).max())
                    elementwise = float(np.max(diff / np.where(magnitude > 0, magnitude, 1)))
                else:
                    normwise = elementwise = float("nan")
                rows.append((layer.name, direction, name, med, flops / med / 1e9, normwise, elementwise))
    return rows


def _long_truth(z, f, pt, pl, P, Q):
    # sum in long double (64-bit mantissa on x86) of exact float64 products of
    # float32-exact data: the truth to well below float64's own rounding
    N, C, H, W = z.shape
    zp = np.zeros((N, C, P + 2, Q + 2), dtype=np.longdouble)
    h0, w0 = max(0, pt), max(0, pl)
    h1, w1 = min(P + 2, H + pt), min(Q + 2, W + pl)
    if h1 > h0 and w1 > w0:
        zp[:, :, h0:h1, w0:w1] = z[:, :, h0 - pt:h1 - pt, w0 - pl:w1 - pl]
    out = np.zeros((N, f.shape[0], P, Q), dtype=np.longdouble)
    fl = f.astype(np.longdouble)
    for r in range(3):
        for s in range(3):
            out += np.einsum("nchw,kc->nkhw", zp[:, :, r:r + P, s:s + Q], fl[:, :, r, s])
    return out


def error_survey(count=40, seed=0):
    """Worst errors over ``count`` random 3x3 stride-1 layers, per dtype and path.

    Returns ``{(dtype, path): (worst element error / m, worst normwise error,
    worst per-layer ratio of the element error to the fast path's, the same
    for the normwise error)}`` with paths ``"fast"``, ``"F2"``, ``"F4"``; the
    truth is summed in long double.
    """
    rng = np.random.default_rng(seed)
    worst = {}
    for _ in range(count):
        N, C, K = int(rng.integers(1, 4)), int(rng.integers(1, 65)), int(rng.integers(1, 65))
        H, W = (int(x) for x in rng.integers(1, 31, size=2))
        pt, pl = (int(x) for x in rng.integers(0, 3, size=2))
        if H + 2 * pt < 3 or W + 2 * pl < 3:
            continue
        P, Q = H + 2 * pt - 2, W + 2 * pl - 2
        z = rng.uniform(-1, 1, (N, C, H, W)).astype(np.float32)
        f = rng.uniform(-1, 1, (K, C, 3, 3)).astype(np.float32)
        truth = _long_truth(z, f, pt, pl, P, Q)
        mag = _long_truth(np.abs(z), np.abs(f), pt, pl, P, Q)
        for dtype in ("float32", "float64"):
            zz, ff = z.astype(dtype), f.astype(dtype)
            zero = np.zeros(K, dtype)
            results = {"fast": cnnprop.conv2d_forward(zz, ff, None, 1, (pt, pl), algorithm="fast")}
            for m in _winograd.TILES:
                results[f"F{m}"] = _winograd.correlate(zz, _winograd.filter_transform(ff, m), zero,
                                                       (N, K, P, Q), pt, pl, m, None)
            errors = {}
            for name, res in results.items():
                diff = np.abs(res.astype(np.longdouble) - truth)
                errors[name] = (float(np.max(diff / np.where(mag > 0, mag, 1))),
                                float(np.max(diff) / max(np.max(np.abs(truth)), 1e-300)))
            for name, (elem, norm) in errors.items():
                fe, fn = errors["fast"]
                ratios = (elem / fe if fe > 0 else 1.0, norm / fn if fn > 0 else 1.0)
                old = worst.get((dtype, name), (0.0,) * 4)
                worst[(dtype, name)] = tuple(max(a, b) for a, b in zip(old, (elem, norm) + ratios))
    return worst


def main(argv=None):
    """Print the comparison table."""
    parser = argparse.ArgumentParser(prog="python -m cnnprop.bench.winograd", description=__doc__)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layer", action="append", help="only these layers (names of LAYERS)")
    parser.add_argument("--no-errors", action="store_true", help="skip the float64 truth")
    parser.add_argument("--survey", type=int, metavar="COUNT",
                        help="instead: the worst errors over COUNT random layers (both dtypes)")
    args = parser.parse_args(argv)
    if args.survey:
        for (dtype, name), (elem, norm, er, nr) in sorted(error_survey(args.survey).items()):
            print(f"{dtype:8} {name:5} element/m {elem:9.2e}  normwise {norm:9.2e}  "
                  f"per-layer x fast: element {er:7.2f}, normwise {nr:7.2f}")
        return
    layers = [layer for layer in LAYERS if not args.layer or layer.name in args.layer]
    print(f"{'layer':18} {'dir':8} {'path':6} {'ms':>9} {'GFLOP/s':>8} {'x torch':>8} "
          f"{'x fast':>7} {'normwise':>9} {'elemwise':>9}")
    for one in layers:
        rows = measure([one], args.dtype, args.repeats, args.threads, not args.no_errors)
        by_key = {(r[0], r[1], r[2]): r for r in rows}
        for layer, direction, name, med, gflops, normwise, elementwise in rows:
            peer = by_key[(layer, direction, "torch")][3]
            fast = by_key[(layer, direction, "fast")][3]
            print(f"{layer:18} {direction:8} {name:6} {med * 1e3:9.2f} {gflops:8.1f} {peer / med:8.2f} "
                  f"{fast / med:7.2f} {normwise:9.2e} {elementwise:9.2e}", flush=True)


if __name__ == "__main__":
    main()
