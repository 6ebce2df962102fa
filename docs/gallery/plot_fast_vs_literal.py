"""
Fast path and literal kernels: same results, different speed
=============================================================

Every function takes ``algorithm="direct"`` (the literal kernel of the
equation, sums in float64) or ``"fast"`` (im2col + BLAS GEMM for convolution).
This times both on a small layer (a few repetitions, single thread, so the
build stays short; ``python -m cnnprop bench`` is the real benchmark, see
:doc:`/performance`) and checks that they agree.
"""
import time

import matplotlib.pyplot as plt
import numpy as np

import cnnprop

rng = np.random.default_rng(0)
z = rng.standard_normal((8, 16, 24, 24)).astype(np.float32)
f = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
b = np.zeros(32, np.float32)
delta = rng.standard_normal((8, 32, 24, 24)).astype(np.float32)

calls = {
    "forward (4)": lambda alg: cnnprop.conv2d_forward(z, f, b, 1, 1, algorithm=alg, num_threads=1),
    "filter grad (5)": lambda alg: cnnprop.conv2d_backward_filter(delta, z, (3, 3), 1, 1,
                                                                  algorithm=alg, num_threads=1),
    "input delta (7)": lambda alg: cnnprop.conv2d_backward_input(delta, f, z.shape, 1, 1,
                                                                 algorithm=alg, num_threads=1),
}


def best_of(fn, repeat=3):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


results = {}
for name, call in calls.items():
    direct, fast = call("direct"), call("fast")
    scale = np.abs(direct).max()
    print(f"{name}: largest |fast - direct| / max|direct| = {np.abs(fast - direct).max() / scale:.1e}")
    results[name] = (best_of(lambda: call("direct")), best_of(lambda: call("fast")))

fig, ax = plt.subplots(figsize=(6, 3))
names = list(results)
pos = np.arange(len(names))
ax.barh(pos + 0.2, [1e3 * results[n][0] for n in names], height=0.4, label='"direct" (literal)')
ax.barh(pos - 0.2, [1e3 * results[n][1] for n in names], height=0.4, label='"fast" (GEMM)')
ax.set_yticks(pos, names)
ax.set_xlabel("milliseconds, 1 thread, float32, N=8 C=16 K=32 24x24 3x3")
ax.legend(fontsize=8)
fig.tight_layout()
