"""Convolution layers nobody tuned the fast path for (issue 13): its plane route
(depthwise, small groups, few channels) and its strided 1x1 route, eqs (4g), (7g), (5g)."""
from .common import ALGORITHMS, DTYPES, THREADS, _Flops, cnnprop, data, kernel_options, skip_slow

# (N, C, H, K, R, stride, padding, groups)
ROUTES = {
    "small": (4, 8, 16, 8, 3, 1, 1, 8),               # depthwise, every direction on the plane route
    "mobilenet_dw": (8, 128, 56, 128, 3, 1, 1, 128),   # depthwise 3x3
    "resnext_g32": (8, 256, 28, 256, 3, 1, 1, 32),     # groups of 8 channels
    "small_c3": (128, 3, 32, 16, 3, 1, 1, 1),          # a large batch of small images, 3 channels
    "stem7s2": (8, 3, 224, 64, 7, 2, 3, 1),            # ResNet's 7x7 stride-2 stem
    "res1x1s2": (8, 256, 56, 512, 1, 2, 0, 1),         # strided 1x1 (subsample, one GEMM)
}


class _Route(_Flops):
    params = [DTYPES, ALGORITHMS, list(ROUTES), THREADS]
    param_names = ["dtype", "algorithm", "geometry", "threads"]

    def setup(self, dtype, algorithm, geometry, threads):
        skip_slow(algorithm, geometry)
        N, C, H, K, R, self.stride, self.padding, self.groups = ROUTES[geometry]
        self.z = data((N, C, H, H), dtype)
        self.f = data((K, C // self.groups, R, R), dtype, seed=1)
        P = cnnprop.output_size(H, R, self.stride, self.padding)
        self.delta = data((N, K, P, P), dtype, seed=2)
        self.kernel_size = (R, R)
        self.flops = 2 * N * K * P * P * (C // self.groups) * R * R
        try:
            self.options = kernel_options(self.call_with, algorithm, threads)
        except TypeError as exc:
            if "groups" not in str(exc):
                raise
            raise NotImplementedError("this commit has no general convolution") from None


class RouteForward(_Route):
    """Eq (4g)."""

    def call_with(self, **options):
        return cnnprop.conv2d_forward(self.z, self.f, None, self.stride, self.padding,
                                      groups=self.groups, **options)


class RouteInputGrad(_Route):
    """Eq (7g)."""

    def call_with(self, **options):
        return cnnprop.conv2d_backward_input(self.delta, self.f, self.z.shape, self.stride,
                                             self.padding, groups=self.groups, **options)


class RouteKernelGrad(_Route):
    """Eq (5g)."""

    def call_with(self, **options):
        return cnnprop.conv2d_backward_filter(self.delta, self.z, self.kernel_size, self.stride,
                                              self.padding, groups=self.groups, **options)
