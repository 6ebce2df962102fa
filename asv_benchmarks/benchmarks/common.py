"""Seeded data, the geometries, and the helpers every benchmark class shares.

Parameters of the classes: dtype, algorithm (the literal kernels and the
fast path), geometry ("small" and a realistic layer from the fast-path
issue's benchmark set), threads (1 and 2). With CNNPROP_ASV_SKIP_SLOW=1 the
literal kernels on the realistic geometries are skipped (they take seconds);
with CNNPROP_ASV_PARAMS=ci, only float32 on 2 threads (for the CI test that
runs every benchmark once, and run_history.py --quick).
"""
import functools
import os
import statistics
import time

import numpy as np

import cnnprop

DTYPES = ["float32", "float64"]
ALGORITHMS = ["direct", "fast"]
THREADS = [1, 2]
if os.environ.get("CNNPROP_ASV_PARAMS") == "ci":
    # CI runs every benchmark once to prove it works, not to measure: one
    # dtype and one thread count keep every code path at a quarter of the cost
    DTYPES, THREADS = ["float32"], [2]

# (N, C, H, K, R, stride, padding)
CONV = {"small": (4, 3, 16, 8, 3, 1, 1), "vgg3x3": (8, 64, 56, 64, 3, 1, 1)}
# (N, C, H, window, stride, padding)
POOL = {"small": (4, 8, 16, 2, 2, 0), "pool3s2p1": (32, 64, 56, 3, 2, 1)}
# (N, J, I): input features J, outputs I
AFFINE = {"small": (8, 64, 10), "lenet_fc": (64, 800, 500)}
# element count of an activation input
ACTIVATION = {"small": (4, 8, 16, 16), "vgg3x3": (8, 64, 56, 56)}


def skip_slow(algorithm, geometry):
    """asv skips a case whose setup raises NotImplementedError."""
    if os.environ.get("CNNPROP_ASV_SKIP_SLOW") == "1" and algorithm == "direct" and geometry != "small":
        raise NotImplementedError("slow case skipped (CNNPROP_ASV_SKIP_SLOW=1)")


@functools.lru_cache(maxsize=16)
def _data(shape, dtype, seed):
    # shared by every sample; cnnprop never writes to its inputs (not marked
    # read-only: kernels of old commits may refuse read-only buffers)
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def data(shape, dtype, seed=0):
    """Seeded standard normal data, made once per process.

    asv runs ``setup`` before every sample; drawing the realistic inputs
    anew each time cost more than the call measured.
    """
    return _data(tuple(shape), np.dtype(dtype).name, seed)


_OPTIONS = {}


def kernel_options(function, algorithm, threads, *args, **kwargs):
    """Keyword options that select ``algorithm`` on this commit's cnnprop.

    Commits from before the fast path have only the literal kernels and no
    ``algorithm`` argument: "direct" runs there, "fast" is skipped. The
    probe call runs once per benchmark, algorithm and thread count in a
    process (it is also the first warm-up call), not before every sample.
    """
    key = (getattr(function, "__qualname__", repr(function)), algorithm, threads)
    if key not in _OPTIONS:
        options = {"algorithm": algorithm, "num_threads": threads}
        try:
            function(*args, **kwargs, **options)
        except TypeError as exc:
            if "algorithm" not in str(exc):
                raise
            if algorithm != "direct":
                raise NotImplementedError("this commit has no fast path") from None
            options = {"num_threads": threads}
        _OPTIONS[key] = options
    return dict(_OPTIONS[key])


def median_seconds(fn, repeats=7):
    """Median of ``repeats`` timed calls after one untimed call (for the track_ rates)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class _Kernel:
    """A benchmark of one kernel call: setup sets ``self.options`` (see
    :func:`kernel_options`) and the class defines ``call_with(**options)``.

    (asv skips names that start with an underscore, so these bases are not
    benchmarks themselves.)

    Sampling (asv's attributes; ``--quick`` overrides them all with one call):
    two rounds, each in its own process, so that a result is not one
    process's luck; in each round a warm-up of 0.2 s (thread pools and
    caches), then at least 5 samples and up to 15 within about 1 s. asv
    reports the median of the 10 to 30 samples. The regression thresholds
    in asv.conf.json were set from the spread of these settings (see
    docs/benchmarks.md, "Noise").
    """

    rounds = 2
    repeat = (5, 15, 1.0)
    min_run_count = 5
    warmup_time = 0.2

    def call(self):
        return self.call_with(**self.options)

    def time_call(self, *params):
        self.call()

    def peakmem_call(self, *params):
        self.call()


class _Flops(_Kernel):
    """Adds the throughput in GFLOP/s of ``self.flops`` operations a call."""

    def track_gflops(self, *params):
        return self.flops / median_seconds(self.call) / 1e9

    track_gflops.unit = "GFLOP/s"


class _Bandwidth(_Kernel):
    """Adds the throughput in GB/s of ``self.nbytes`` input bytes a call (kernels that move data)."""

    def track_gbytes_per_second(self, *params):
        return self.nbytes / median_seconds(self.call) / 1e9

    track_gbytes_per_second.unit = "GB/s"


def verify_available():
    try:
        import cnnprop.verify  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["cnnprop", "DTYPES", "ALGORITHMS", "THREADS", "CONV", "POOL", "AFFINE", "ACTIVATION",
           "skip_slow", "data", "kernel_options", "median_seconds", "verify_available"]
