"""Convolution: forward (eq 4), input delta (eqs 7-9), kernel gradient (eq 5), bias gradient (eq 6)."""
from .common import ALGORITHMS, CONV, DTYPES, THREADS, _Flops, cnnprop, data, kernel_options, skip_slow


class _Conv(_Flops):
    params = [DTYPES, ALGORITHMS, list(CONV), THREADS]
    param_names = ["dtype", "algorithm", "geometry", "threads"]

    def setup(self, dtype, algorithm, geometry, threads):
        skip_slow(algorithm, geometry)
        N, C, H, K, R, self.stride, self.padding = CONV[geometry]
        self.z = data((N, C, H, H), dtype)
        self.f = data((K, C, R, R), dtype, seed=1)
        P = cnnprop.output_size(H, R, self.stride, self.padding)
        self.delta = data((N, K, P, P), dtype, seed=2)
        self.kernel_size = (R, R)
        self.flops = 2 * N * K * P * P * C * R * R
        self.options = kernel_options(self.call_with, algorithm, threads)


class ConvForward(_Conv):
    """Eq (4)."""

    def call_with(self, **options):
        return cnnprop.conv2d_forward(self.z, self.f, None, self.stride, self.padding, **options)


class ConvInputGrad(_Conv):
    """Eqs (7)-(9)."""

    def call_with(self, **options):
        return cnnprop.conv2d_backward_input(self.delta, self.f, self.z.shape, self.stride, self.padding,
                                             **options)


class ConvKernelGrad(_Conv):
    """Eq (5)."""

    def call_with(self, **options):
        return cnnprop.conv2d_backward_filter(self.delta, self.z, self.kernel_size, self.stride,
                                              self.padding, **options)


class ConvBiasGrad(_Flops):
    """Eq (6): one kernel, no fast path."""

    params = [DTYPES, list(CONV), THREADS]
    param_names = ["dtype", "geometry", "threads"]

    def setup(self, dtype, geometry, threads):
        N, C, H, K, R, stride, padding = CONV[geometry]
        P = cnnprop.output_size(H, R, stride, padding)
        self.delta = data((N, K, P, P), dtype)
        self.flops = self.delta.size
        self.options = {"num_threads": threads}

    def call_with(self, **options):
        return cnnprop.conv2d_backward_bias(self.delta, **options)


class ConvWinograd(_Flops):
    """Eqs (4) and (7)-(9) by Winograd minimal filtering ((W1), (W2) of docs/winograd.md),
    on the 3x3 stride-1 layers; skipped on commits without ``algorithm="winograd"``."""

    params = [DTYPES, ["forward", "input"], [name for name, g in CONV.items() if g[4:6] == (3, 1)],
              THREADS]
    param_names = ["dtype", "direction", "geometry", "threads"]

    def setup(self, dtype, direction, geometry, threads):
        N, C, H, K, R, stride, self.padding = CONV[geometry]
        self.z = data((N, C, H, H), dtype)
        self.f = data((K, C, R, R), dtype, seed=1)
        P = cnnprop.output_size(H, R, stride, self.padding)
        self.delta = data((N, K, P, P), dtype, seed=2)
        self.direction = direction
        self.flops = 2 * N * K * P * P * C * R * R
        self.options = {"algorithm": "winograd", "num_threads": threads}
        try:
            self.call()
        except ValueError as exc:          # an older commit: no such algorithm
            raise NotImplementedError(str(exc)) from None

    def call_with(self, **options):
        if self.direction == "forward":
            return cnnprop.conv2d_forward(self.z, self.f, None, 1, self.padding, **options)
        return cnnprop.conv2d_backward_input(self.delta, self.f, self.z.shape, 1, self.padding,
                                             **options)
