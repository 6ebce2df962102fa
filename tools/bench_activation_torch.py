"""GB/s of cnnprop's fast activations against PyTorch, same process, interleaved.

    PYTHONPATH=src python tools/bench_activation_torch.py [--repeats 15] [--threads 2]

Bytes moved: forward reads z and writes out (2 arrays), backward reads delta
and z and writes out (3 arrays). Each round times cnnprop with the AVX2+FMA
loops, cnnprop with the generic loops, and torch, one call each, in turn;
the table gives medians over the rounds and the ratio cnnprop/torch of the
medians (above 1: cnnprop faster).
"""
import argparse
import statistics
import time

import numpy as np
import torch

import cnnprop
from cnnprop._kernels import activation_fast

SHAPE = (8, 64, 56, 56)
NAMES = ("relu", "sigmoid", "tanh", "elu", "softplus")
TORCH_FORWARD = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                 "elu": torch.nn.functional.elu, "softplus": torch.nn.functional.softplus}


def torch_backward(name):
    ops = torch.ops.aten
    return {"relu": lambda d, z, y: ops.threshold_backward(d, z, 0.0),
            "sigmoid": lambda d, z, y: ops.sigmoid_backward(d, y),
            "tanh": lambda d, z, y: ops.tanh_backward(d, y),
            "elu": lambda d, z, y: ops.elu_backward(d, 1.0, 1, 1.0, False, z),
            "softplus": lambda d, z, y: ops.softplus_backward(d, z, 1.0, 20.0)}[name]


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    isas = ["generic"] + (["avx2"] if activation_fast.avx2_available() else [])
    print(f"shape {SHAPE}, {args.threads} threads, {args.repeats} interleaved rounds; GB/s (medians)")
    print(f"{'dtype':8} {'name':9} {'dir':4} " + " ".join(f"{i:>8}" for i in isas) + f" {'torch':>8} {'ratio':>6}")
    for dtype in ("float32", "float64"):
        z = rng.standard_normal(SHAPE).astype(dtype) * 3
        delta = rng.standard_normal(SHAPE).astype(dtype)
        tz, td = torch.from_numpy(z), torch.from_numpy(delta)
        for name in NAMES:
            ty = TORCH_FORWARD[name](tz)
            tb = torch_backward(name)
            for direction, arrays in (("fwd", 2), ("bwd", 3)):
                if direction == "fwd":
                    ours = lambda: cnnprop.activation_forward(z, name, num_threads=args.threads)  # noqa: E731
                    peer = lambda: TORCH_FORWARD[name](tz)  # noqa: E731
                else:
                    ours = lambda: cnnprop.activation_backward(delta, z, name, num_threads=args.threads)  # noqa: E731
                    peer = lambda: tb(td, tz, ty)  # noqa: E731
                times = {i: [] for i in isas + ["torch"]}
                for _ in range(args.repeats + 1):
                    for i in isas:
                        activation_fast.select_isa(i)
                        times[i].append(timed(ours))
                    times["torch"].append(timed(peer))
                activation_fast.select_isa(None)
                gbs = {k: arrays * z.nbytes / statistics.median(v[1:]) / 1e9 for k, v in times.items()}
                best = max(gbs[i] for i in isas)
                print(f"{dtype:8} {name:9} {direction:4} " + " ".join(f"{gbs[i]:8.2f}" for i in isas)
                      + f" {gbs['torch']:8.2f} {best / gbs['torch']:6.2f}")


if __name__ == "__main__":
    main()
