"""Max pooling: forward (eq 13) and backward (eq 14) with both tie rules."""
from .common import ALGORITHMS, DTYPES, POOL, THREADS, _Bandwidth, cnnprop, data, kernel_options, skip_slow


class _Pool(_Bandwidth):
    params = [DTYPES, ALGORITHMS, list(POOL), THREADS]
    param_names = ["dtype", "algorithm", "geometry", "threads"]

    def setup(self, dtype, algorithm, geometry, threads, *rest):
        skip_slow(algorithm, geometry)
        N, C, H, self.window, self.stride, self.padding = POOL[geometry]
        self.z = data((N, C, H, H), dtype)
        self.y = cnnprop.maxpool2d_forward(self.z, self.window, self.stride, self.padding)
        self.delta = data(self.y.shape, dtype, seed=1)
        self.ties = rest[0] if rest else "all"
        self.nbytes = self.z.nbytes          # pooling moves data, it does not multiply
        self.options = kernel_options(self.call_with, algorithm, threads)


class MaxPoolForward(_Pool):
    """Eq (13)."""

    def call_with(self, **options):
        return cnnprop.maxpool2d_forward(self.z, self.window, self.stride, self.padding, **options)


class MaxPoolBackward(_Pool):
    """Eq (14), ties="all" (the source's rule) and "first" (the frameworks')."""

    params = _Pool.params + [["all", "first"]]
    param_names = _Pool.param_names + ["ties"]

    def call_with(self, **options):
        return cnnprop.maxpool2d_backward(self.delta, self.z, self.y, self.window, self.stride,
                                          self.padding, ties=self.ties, **options)
