"""GB/s of the element-wise activations against PyTorch, in one process, interleaved.

    python -m cnnprop.bench.activations [--repeats 21] [--threads 2] [--quick]

Forward (eq 15) and backward (eq 16) of relu, sigmoid, tanh, elu and
softplus, float32 and float64, on 8x64x56x56 arrays (``--quick``: 2x8x16x16):
cnnprop's fast path on each instruction set of its polynomial loops
("generic", and "avx2" where the CPU has AVX2 and FMA) and PyTorch's CPU
kernels, each call in turn (:func:`cnnprop.bench.runner.interleaved_times`),
medians over the rounds. Bytes moved: 2 arrays forward (z in, out), 3
backward (delta and z in, out); the allocation of the result is included
on both sides. The ratio is cnnprop with the loops this CPU runs by default
over PyTorch (above 1: cnnprop faster).

PyTorch's peers: ``torch.relu``, ``torch.sigmoid``, ``torch.tanh``,
``F.elu``, ``F.softplus``; backward ``aten::threshold_backward``,
``sigmoid_backward`` and ``tanh_backward`` (which take the saved output
``y``: a multiply, no exponential), ``elu_backward`` (from the input) and
``softplus_backward`` (from the input).
"""
import argparse
import statistics

import numpy as np

import cnnprop
from cnnprop._kernels import activation_fast

from .runner import interleaved_times

SHAPE = (8, 64, 56, 56)
QUICK_SHAPE = (2, 8, 16, 16)
NAMES = ("relu", "sigmoid", "tanh", "elu", "softplus")
DIRECTIONS = ("forward", "backward")


def torch_peers(torch, name):
    """(forward(z), backward(delta, z, y)) of PyTorch for an activation (elu alpha 1, softplus beta 1)."""
    functional = torch.nn.functional
    aten = torch.ops.aten
    forward = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
               "elu": functional.elu, "softplus": functional.softplus}[name]
    backward = {"relu": lambda d, z, y: aten.threshold_backward(d, z, 0.0),
                "sigmoid": lambda d, z, y: aten.sigmoid_backward(d, y),
                "tanh": lambda d, z, y: aten.tanh_backward(d, y),
                "elu": lambda d, z, y: aten.elu_backward(d, 1.0, 1, 1.0, False, z),
                "softplus": lambda d, z, y: aten.softplus_backward(d, z, 1.0, 20.0)}[name]
    return forward, backward


def isas():
    """The instruction sets of the polynomial loops this CPU can run."""
    return ["generic"] + (["avx2"] if activation_fast.avx2_available() else [])


def _ours(isa, fn):
    def call():
        activation_fast.select_isa(isa)
        return fn()
    return call


def measure(shape=SHAPE, names=NAMES, dtypes=("float32", "float64"), threads=2, repeats=21, settle=None):
    """One row a (dtype, activation, direction): GB/s of each cnnprop ISA and of torch.

    Returns
    -------
    list of dict
        ``{"dtype", "name", "direction", "gbs": {isa or "torch": GB/s}, "ratio"}``.
    """
    import torch

    torch.set_num_threads(threads)
    default = activation_fast.isa()
    rng = np.random.default_rng(0)
    rows = []
    try:
        for dtype in dtypes:
            z = rng.standard_normal(shape).astype(dtype) * 3
            delta = rng.standard_normal(shape).astype(dtype)
            tz, td = torch.from_numpy(z), torch.from_numpy(delta)
            for name in names:
                forward, backward = torch_peers(torch, name)
                ty = forward(tz)
                for direction in DIRECTIONS:
                    if direction == "forward":
                        ours = lambda: cnnprop.activation_forward(  # noqa: E731
                            z, name, algorithm="fast", num_threads=threads)
                        peer = lambda: forward(tz)  # noqa: E731
                        arrays = 2
                    else:
                        ours = lambda: cnnprop.activation_backward(  # noqa: E731
                            delta, z, name, algorithm="fast", num_threads=threads)
                        peer = lambda: backward(td, tz, ty)  # noqa: E731
                        arrays = 3
                    candidates = {isa: _ours(isa, ours) for isa in isas()}
                    candidates["torch"] = peer
                    times = interleaved_times(candidates, repeats, settle)
                    gbs = {k: arrays * z.nbytes / statistics.median(v) / 1e9 for k, v in times.items()}
                    rows.append({"dtype": dtype, "name": name, "direction": direction, "gbs": gbs,
                                 "ratio": gbs[default] / gbs["torch"]})
    finally:
        activation_fast.select_isa(None)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cnnprop.bench.activations",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small arrays, 3 rounds: a smoke test")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed: nothing to compare with")
        return 1
    shape, repeats = (QUICK_SHAPE, 3) if args.quick else (SHAPE, args.repeats)
    names = isas()
    print(f"shape {shape}, {args.threads} threads, {repeats} interleaved rounds; GB/s (medians); "
          f"ratio: {activation_fast.isa()} / torch")
    print(f"{'dtype':8} {'name':9} {'dir':9} " + " ".join(f"{i:>8}" for i in names) + f" {'torch':>8} {'ratio':>6}")
    for row in measure(shape, threads=args.threads, repeats=repeats):
        gbs = row["gbs"]
        print(f"{row['dtype']:8} {row['name']:9} {row['direction']:9} "
              + " ".join(f"{gbs[i]:8.2f}" for i in names) + f" {gbs['torch']:8.2f} {row['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
