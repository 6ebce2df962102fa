"""The benchmark layers of the fast-path issue: typical convolution and pooling shapes."""
from typing import NamedTuple

__all__ = ["ConvLayer", "PoolLayer", "CONV_LAYERS", "POOL_LAYERS"]


class ConvLayer(NamedTuple):
    """A convolution: N x C x H x H input, K kernels of R x R, stride, padding."""

    name: str
    N: int
    C: int
    H: int
    K: int
    R: int
    stride: int
    padding: int

    @property
    def out(self):
        return (self.H + 2 * self.padding - self.R) // self.stride + 1

    @property
    def flops(self):
        """Multiply-adds counted twice, as GEMM rates are: 2 N K P Q C R S."""
        return 2 * self.N * self.K * self.out ** 2 * self.C * self.R ** 2


class PoolLayer(NamedTuple):
    """A max pooling: N x C x H x H input, window, stride, padding."""

    name: str
    N: int
    C: int
    H: int
    window: int
    stride: int
    padding: int


CONV_LAYERS = (
    ConvLayer("lenet2", 64, 20, 12, 50, 5, 1, 0),
    ConvLayer("vgg3x3", 8, 64, 56, 64, 3, 1, 1),
    ConvLayer("res_s2", 8, 128, 28, 256, 3, 2, 1),
    ConvLayer("res1x1", 8, 256, 14, 1024, 1, 1, 0),
    ConvLayer("alex11", 8, 3, 227, 96, 11, 4, 0),
)

POOL_LAYERS = (
    PoolLayer("pool2s2", 32, 64, 56, 2, 2, 0),
    PoolLayer("pool3s2p1", 32, 64, 56, 3, 2, 1),
)
