"""The benchmark layers of the fast-path issue: typical convolution and pooling shapes."""
from typing import NamedTuple

__all__ = ["ConvLayer", "PoolLayer", "CONV_LAYERS", "POOL_LAYERS"]


class ConvLayer(NamedTuple):
    """A convolution: N x C x H x H input, K kernels of R x R, stride, padding.

    ``dilation`` and ``groups`` as in ``conv2d_forward``; ``transposed`` makes it a
    ``conv_transpose2d`` from C to K channels (kernel C x K/groups x R x R).
    """

    name: str
    N: int
    C: int
    H: int
    K: int
    R: int
    stride: int
    padding: int
    dilation: int = 1
    groups: int = 1
    transposed: bool = False

    @property
    def out(self):
        span = self.dilation * (self.R - 1) + 1
        if self.transposed:
            return (self.H - 1) * self.stride - 2 * self.padding + span
        return (self.H + 2 * self.padding - span) // self.stride + 1

    @property
    def flops(self):
        """Multiply-adds counted twice, as GEMM rates are: 2 N K P Q (C/groups) R S.

        A transposed layer does the work of the convolution it transposes: 2 N C H W (K/groups) R S.
        """
        spatial = self.H ** 2 if self.transposed else self.out ** 2
        return 2 * self.N * self.K * spatial * self.C // self.groups * self.R ** 2

    @property
    def kernel_shape(self):
        if self.transposed:
            return (self.C, self.K // self.groups, self.R, self.R)
        return (self.K, self.C // self.groups, self.R, self.R)


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
    # the general convolution (issue 10): depthwise, dilated, grouped, transposed
    ConvLayer("mobilenet_dw", 8, 128, 56, 128, 3, 1, 1, groups=128),
    ConvLayer("deeplab_d2", 4, 256, 33, 256, 3, 1, 2, dilation=2),
    ConvLayer("resnext_g32", 8, 256, 28, 256, 3, 1, 1, groups=32),
    ConvLayer("unet_up", 8, 128, 28, 64, 2, 2, 0, transposed=True),
    # layers the fast path was not tuned for (issue 13): few channels and a large
    # batch of small images, ResNet's 7x7 stride-2 stem, a strided 1x1
    ConvLayer("small_c3", 128, 3, 32, 16, 3, 1, 1),
    ConvLayer("stem7s2", 8, 3, 224, 64, 7, 2, 3),
    ConvLayer("res1x1s2", 8, 256, 56, 512, 1, 2, 0),
)

POOL_LAYERS = (
    PoolLayer("pool2s2", 32, 64, 56, 2, 2, 0),
    PoolLayer("pool3s2p1", 32, 64, 56, 3, 2, 1),
)
