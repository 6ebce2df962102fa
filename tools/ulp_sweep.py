"""Max ulp error of the fast transcendental activations (the FAST_ULPS measurement).

    PYTHONPATH=src python tools/ulp_sweep.py [--samples 10000000]

Per activation, direction, dtype and instruction set ("generic", and "avx2"
where the CPU has it): the largest error in ulp of the data type against
cnnprop.verify.ulp.reference (longdouble), over uniform samples on
[-30, 30], log-uniform magnitudes from 1e-40 to 800 of both signs, and
cnnprop.verify.checks_activation.ULP_EDGES; delta uniform on [-1, 1] for
the backward pass; elu with alpha = 1.
"""
import argparse

import numpy as np

import cnnprop
from cnnprop._kernels import activation_fast
from cnnprop.verify.checks_activation import ULP_EDGES
from cnnprop.verify.ulp import FAST_ULPS, TRANSCENDENTAL, reference, ulp_error


def samples(rng, count, dtype):
    third = count // 3
    magnitude = 10.0 ** rng.uniform(-40, np.log10(800), count - 2 * third)
    sign = rng.choice([-1.0, 1.0], magnitude.size)
    x = np.concatenate([rng.uniform(-30, 30, third), rng.uniform(-3, 3, third), sign * magnitude, ULP_EDGES])
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10**7)
    parser.add_argument("--chunk", type=int, default=10**6)
    args = parser.parse_args()
    isas = ["generic"] + (["avx2"] if activation_fast.avx2_available() else [])
    print(f"{args.samples} samples a case; max error in ulp (argument); stated bound")
    for dtype in ("float32", "float64"):
        for name in TRANSCENDENTAL:
            for direction in ("forward", "backward"):
                row = []
                for isa in isas:
                    activation_fast.select_isa(isa)
                    rng = np.random.default_rng(0)
                    worst, at = 0.0, None
                    for start in range(0, args.samples, args.chunk):
                        z = samples(rng, min(args.chunk, args.samples - start), dtype)
                        d = rng.uniform(-1, 1, z.size).astype(dtype)
                        if direction == "forward":
                            got = cnnprop.activation_forward(z, name, algorithm="fast")
                        else:
                            got = cnnprop.activation_backward(d, z, name, algorithm="fast")
                        err = ulp_error(got, reference(name, direction, z, d), dtype)
                        if np.isnan(err).any():
                            bad = z[np.isnan(err)][:5]
                            raise SystemExit(f"NaN mismatch: {name} {direction} {dtype} {isa} at {bad}")
                        i = int(np.argmax(err))
                        if err[i] > worst:
                            worst, at = float(err[i]), z[i]
                    row.append(f"{isa} {worst:5.2f} ({at!r})")
                activation_fast.select_isa(None)
                print(f"{dtype:8} {name:9} {direction:9} " + "  ".join(row)
                      + f"  bound {FAST_ULPS[name, direction]}")


if __name__ == "__main__":
    main()
