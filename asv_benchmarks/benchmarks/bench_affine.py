"""Affine layer: forward (eq 17), weight gradient (eq 18), input delta (eq 20)."""
from .common import AFFINE, ALGORITHMS, DTYPES, THREADS, _Flops, cnnprop, data, kernel_options, skip_slow


class _Affine(_Flops):
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
