"""Affine layer: forward (eq 17), weight gradient (eq 18), input delta (eq 20)."""
from .common import (AFFINE, ALGORITHMS, DTYPES, THREADS, cnnprop, data, kernel_options, median_seconds,
                     skip_slow)


class _Affine:
    params = [DTYPES, ALGORITHMS, list(AFFINE), THREADS]
    param_names = ["dtype", "algorithm", "geometry", "threads"]

    def setup(self, dtype, algorithm, geometry, threads):
        skip_slow(algorithm, geometry)
        N, J, I = AFFINE[geometry]
        self.z = data((N, J), dtype)
        self.w = data((I, J), dtype, seed=1)
        self.b = data((I,), dtype, seed=2)
        self.delta = data((N, I), dtype, seed=3)
        self.flops = 2 * N * I * J
        self.options = kernel_options(self.call_with, algorithm, threads)

    def call(self):
        return self.call_with(**self.options)

    def time_call(self, *params):
        self.call()

    def peakmem_call(self, *params):
        self.call()

    def track_gflops(self, *params):
        return self.flops / median_seconds(self.call) / 1e9

    track_gflops.unit = "GFLOP/s"


class AffineForward(_Affine):
    """Eq (17)."""

    def call_with(self, **options):
        return cnnprop.affine_forward(self.z, self.w, self.b, **options)


class AffineWeightGrad(_Affine):
    """Eq (18)."""

    def call_with(self, **options):
        return cnnprop.affine_backward_weight(self.delta, self.z, **options)


class AffineInputGrad(_Affine):
    """Eq (20)."""

    def call_with(self, **options):
        return cnnprop.affine_backward_input(self.delta, self.w, self.z.shape, **options)
