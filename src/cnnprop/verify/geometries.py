"""The geometries the verification checks run over.

The default set covers, between them: stride > 1, asymmetric stride and
padding, 1x1 kernels, stride larger than the kernel, rows and columns the
stride leaves unused, a kernel as large as the padded input, padding larger
than the kernel, batch 1 and odd sizes. ``--quick`` runs the first four
(the first three of the pooling and affine sets).
A full run adds geometries drawn at random from the seed.
"""
from typing import NamedTuple

import numpy as np

__all__ = ["ConvCase", "GeneralConvCase", "PoolCase", "AffineCase", "CONV", "GENERAL_CONV", "POOL",
           "AFFINE", "AVGPOOL", "WINOGRAD", "select", "random_conv", "random_winograd",
           "random_general_conv", "random_pool", "random_avgpool"]


class ConvCase(NamedTuple):
    """A convolution layer: input (N, C, H, W), K kernels of R x S."""

    name: str
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: tuple
    padding: tuple


class GeneralConvCase(NamedTuple):
    """A general convolution layer (docs/spec-beyond.md): dilation, groups,
    ``pads = ((p_t, p_b), (p_l, p_r))`` and a padding mode. ``f`` has shape
    (K, C / groups, R, S). Also read as a transposed convolution from the
    output of the convolution back to its input."""

    name: str
    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: tuple
    pads: tuple
    dilation: tuple = (1, 1)
    groups: int = 1
    padding_mode: str = "zeros"


class PoolCase(NamedTuple):
    """A max- or average-pooling layer on an (N, C, H, W) input.

    ``padding`` is (p_h, p_w) or ((p_t, p_b), (p_l, p_r)); the later fields
    default to the source's geometry (average pooling ignores ``dilation``).
    """

    name: str
    N: int
    C: int
    H: int
    W: int
    window: tuple
    stride: tuple
    padding: tuple
    dilation: tuple = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: object = None

    def pool_args(self):
        """Keyword arguments of ``maxpool2d_forward``."""
        return dict(window=self.window, stride=self.stride, padding=self.padding,
                    dilation=self.dilation, ceil_mode=self.ceil_mode)

    def avg_args(self):
        """Keyword arguments of ``avgpool2d_forward``."""
        return dict(window=self.window, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override)


class AffineCase(NamedTuple):
    """An affine layer from ``input_shape`` to I outputs."""

    name: str
    input_shape: tuple
    I: int


CONV = (
    ConvCase("stride2_pad1", 2, 3, 8, 8, 4, 3, 3, (2, 2), (1, 1)),
    # u != v with paddings where ceil(p/u) != ceil(p/v): a swapped stride shows
    ConvCase("asymmetric", 1, 2, 9, 10, 3, 3, 2, (1, 3), (2, 1)),
    ConvCase("one_by_one_unused", 2, 3, 5, 6, 2, 1, 1, (2, 2), (0, 0)),
    # C*R*S = 360 > 256: the fast path splits eq (7) into channel groups, eq (5) into row groups
    ConvCase("many_channels", 2, 40, 6, 5, 3, 3, 3, (1, 2), (1, 1)),
    ConvCase("plain", 3, 2, 7, 6, 3, 3, 2, (1, 1), (0, 0)),
    ConvCase("stride_gt_kernel", 2, 2, 10, 9, 2, 2, 2, (3, 4), (0, 1)),
    ConvCase("unused_rows", 1, 2, 8, 8, 2, 3, 3, (2, 2), (0, 0)),
    ConvCase("kernel_fills_padded", 2, 2, 3, 4, 3, 5, 4, (1, 1), (1, 0)),
    ConvCase("batch1_odd", 1, 3, 11, 13, 5, 5, 3, (3, 2), (2, 1)),
    ConvCase("pad_gt_kernel", 2, 1, 4, 4, 2, 2, 2, (1, 1), (3, 2)),
    ConvCase("lenet_like", 4, 6, 12, 12, 8, 5, 5, (1, 1), (0, 0)),
    ConvCase("asymmetric_2", 1, 2, 9, 7, 3, 3, 2, (2, 3), (1, 0)),
    # few channels, many small images: the fast path's plane route (issue 13)
    ConvCase("small_image_batch", 16, 3, 6, 6, 4, 3, 3, (1, 1), (1, 1)),
)

GENERAL_CONV = (
    GeneralConvCase("dilated_deeplab", 2, 3, 9, 8, 4, 3, 3, (1, 1), ((2, 2), (2, 2)), (2, 2)),
    GeneralConvCase("dilation_stride_mix", 1, 2, 11, 10, 3, 3, 2, (2, 3), ((1, 1), (1, 1)), (3, 2)),
    GeneralConvCase("groups_asym_pad", 2, 4, 7, 8, 6, 3, 2, (1, 2), ((0, 2), (3, 1)), (1, 1), 2),
    GeneralConvCase("depthwise_x2", 2, 3, 6, 7, 6, 3, 3, (2, 2), ((1, 1), (1, 1)), (1, 1), 3),
    GeneralConvCase("reflect_max", 1, 2, 5, 6, 3, 3, 3, (1, 1), ((4, 0), (5, 1)), (1, 1), 1, "reflect"),
    GeneralConvCase("replicate", 2, 2, 5, 6, 3, 3, 3, (2, 1), ((2, 2), (1, 2)), (1, 2), 1, "replicate"),
    GeneralConvCase("circular_bound", 1, 4, 5, 6, 2, 3, 3, (1, 1), ((5, 1), (0, 6)), (2, 1), 2, "circular"),
    # the fast path's plane route (issue 13): rows wide enough for every register
    # block of its loops (45 = 32 + 8 + 4 + 1), depthwise in all three equations;
    # small groups with a column stride (the phase layout) and dilation
    GeneralConvCase("depthwise_wide", 2, 4, 9, 45, 4, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 4),
    GeneralConvCase("small_groups_strided", 3, 6, 11, 37, 6, 3, 2, (1, 2), ((1, 0), (2, 1)),
                    (2, 1), 3),
)

POOL = (
    PoolCase("3x3_s2_p1_overlap", 2, 2, 9, 7, (3, 3), (2, 2), (1, 1)),
    PoolCase("2x2_s2", 2, 3, 8, 6, (2, 2), (2, 2), (0, 0)),
    PoolCase("asymmetric", 1, 2, 7, 10, (3, 2), (1, 3), (1, 0)),
    PoolCase("stride_gt_window", 2, 1, 9, 9, (2, 2), (3, 3), (0, 1)),
    PoolCase("window_fills_padded", 1, 2, 3, 4, (5, 4), (1, 1), (1, 0)),
    PoolCase("1x1_unused", 1, 3, 5, 5, (1, 1), (2, 2), (0, 0)),
    # general geometry (docs/pooling.md): dilation with padding, ceil_mode
    # windows that run past the padding, padding on one side only
    PoolCase("dilated_ceil", 2, 2, 9, 8, (3, 2), (2, 3), (1, 1), (2, 2), True),
    PoolCase("one_sided_ceil", 1, 3, 7, 6, (3, 3), (2, 2), ((0, 2), (1, 0)), (1, 1), True),
)

AVGPOOL = (
    PoolCase("3x3_s1_p1", 2, 3, 8, 7, (3, 3), (1, 1), (1, 1)),
    PoolCase("ceil_exclude_pad", 2, 2, 9, 7, (3, 3), (2, 2), (1, 1), ceil_mode=True,
             count_include_pad=False),
    PoolCase("ceil_include_pad", 1, 2, 7, 10, (3, 2), (2, 3), ((1, 0), (0, 1)), ceil_mode=True),
    PoolCase("override", 2, 1, 6, 6, (2, 3), (1, 2), (1, 1), divisor_override=4),
    PoolCase("global", 2, 4, 5, 6, (5, 6), (1, 1), (0, 0)),
)

AFFINE = (
    AffineCase("nchw", (3, 2, 4, 5), 6),
    AffineCase("flat", (5, 7), 3),
    AffineCase("batch1_wide", (1, 1300), 4),
    AffineCase("single_output", (2, 3, 3, 3), 1),
)

def select(cases, quick, count=3):
    """The cases a run uses: all of them, or the first ``count`` with ``quick``."""
    return cases[:count] if quick else cases


def random_conv(seed, count=24):
    """``count`` convolution geometries drawn from ``seed``: kernels 1..5, strides
    1..4 (often larger than the kernel), paddings up to the kernel, inputs from
    exactly the padded kernel size to a few windows more, batches 1..3."""
    rng = np.random.default_rng([int(seed), 0xC0])
    cases = []
    for i in range(count):
        R, S = rng.integers(1, 6, size=2)
        ph, pw = rng.integers(0, R + 1), rng.integers(0, S + 1)
        H = int(rng.integers(max(1, R - 2 * ph), R + 9))
        W = int(rng.integers(max(1, S - 2 * pw), S + 9))
        N, C, K = (int(x) for x in rng.integers(1, [4, 5, 5]))
        u, v = (int(x) for x in rng.integers(1, 5, size=2))
        name = f"random{i}:N{N}C{C}H{H}W{W}K{K}R{R}S{S}u{u}v{v}p{ph},{pw}"
        cases.append(ConvCase(name, N, C, H, W, K, int(R), int(S), (u, v), (int(ph), int(pw))))
    return tuple(cases)


# Winograd's layers (3x3, stride 1): paddings 0..2 and one beyond the kernel
# (its input delta crops), planes smaller than a tile, odd sizes, one channel
# or one kernel, batch 1, and channel counts that reach BLAS's blocking.
WINOGRAD = (
    ConvCase("w_pad1", 2, 3, 9, 8, 4, 3, 3, (1, 1), (1, 1)),
    ConvCase("w_pad0_odd", 1, 2, 7, 11, 3, 3, 3, (1, 1), (0, 0)),
    ConvCase("w_pad2_c1_k1", 3, 1, 5, 6, 1, 3, 3, (1, 1), (2, 2)),
    ConvCase("w_wide_channels", 2, 96, 10, 9, 80, 3, 3, (1, 1), (1, 1)),
    ConvCase("w_smaller_than_a_tile", 2, 4, 1, 2, 3, 3, 3, (1, 1), (1, 1)),
    ConvCase("w_pad3_crop", 1, 3, 6, 5, 2, 3, 3, (1, 1), (3, 3)),
    ConvCase("w_mixed_pads", 2, 5, 13, 4, 6, 3, 3, (1, 1), (2, 0)),
)


def random_winograd(seed, count=12):
    """``count`` 3x3 stride-1 geometries drawn from ``seed``: paddings 0..2 per
    axis, planes from the smallest valid to a few tiles, channels 1..40."""
    rng = np.random.default_rng([int(seed), 0x3A3])
    cases = []
    for i in range(count):
        ph, pw = (int(x) for x in rng.integers(0, 3, size=2))
        H = int(rng.integers(max(1, 3 - 2 * ph), 16))
        W = int(rng.integers(max(1, 3 - 2 * pw), 16))
        N = int(rng.integers(1, 4))
        C, K = (int(x) for x in rng.integers(1, 41, size=2))
        name = f"wrandom{i}:N{N}C{C}H{H}W{W}K{K}p{ph},{pw}"
        cases.append(ConvCase(name, N, C, H, W, K, 3, 3, (1, 1), (ph, pw)))
    return tuple(cases)


def random_general_conv(seed, count=5):
    """``count`` general convolution geometries drawn from ``seed``: dilations 1..3,
    groups 1..3, four independent paddings 0..3, every padding mode (drawn
    again until the geometry is valid)."""
    from cnnprop.conv import check_padding_mode
    from cnnprop.geometry import sliding_window

    rng = np.random.default_rng([int(seed), 0x6E4])
    modes = ("zeros", "reflect", "replicate", "circular")
    cases = []
    while len(cases) < count:
        G = int(rng.integers(1, 4))
        N, C, K = int(rng.integers(1, 3)), G * int(rng.integers(1, 3)), G * int(rng.integers(1, 3))
        R, S = (int(x) for x in rng.integers(1, 4, size=2))
        H, W = (int(x) for x in rng.integers(2, 10, size=2))
        u, v = (int(x) for x in rng.integers(1, 4, size=2))
        dh, dw = (int(x) for x in rng.integers(1, 4, size=2))
        pt, pb, pl, pr = (int(x) for x in rng.integers(0, 4, size=4))
        mode = modes[int(rng.integers(0, 4))]
        try:
            check_padding_mode(mode, sliding_window((H, W), (R, S), (u, v), ((pt, pb), (pl, pr)), (dh, dw)))
        except ValueError:
            continue
        name = (f"random{len(cases)}:N{N}C{C}H{H}W{W}K{K}R{R}S{S}u{u}v{v}d{dh},{dw}"
                f"p{pt},{pb},{pl},{pr}G{G}{mode}")
        cases.append(GeneralConvCase(name, N, C, H, W, K, R, S, (u, v), ((pt, pb), (pl, pr)),
                                     (dh, dw), G, mode))
    return tuple(cases)


def random_pool(seed, count=16, average=False):
    """``count`` pooling geometries drawn from ``seed``: windows 1..4, strides
    1..4, dilation 1..3 (max pooling), each side's padding below the extent,
    ceil_mode, and for average pooling count_include_pad and divisor_override.
    Draws the API refuses (a window over padding only) are drawn again."""
    from cnnprop.pool import pool_geometry

    rng = np.random.default_rng([int(seed), 0xA7 if average else 0x9001])
    cases = []
    while len(cases) < count:
        R, S = (int(x) for x in rng.integers(1, 5, size=2))
        dh, dw = (1, 1) if average else (int(x) for x in rng.integers(1, 4, size=2))
        Re, Se = dh * (R - 1) + 1, dw * (S - 1) + 1
        pads = tuple((int(rng.integers(0, e)), int(rng.integers(0, e))) for e in (Re, Se))
        H = int(rng.integers(max(1, Re - pads[0][0] - pads[0][1]), Re + 9))
        W = int(rng.integers(max(1, Se - pads[1][0] - pads[1][1]), Se + 9))
        N, C = (int(x) for x in rng.integers(1, [4, 4]))
        u, v = (int(x) for x in rng.integers(1, 5, size=2))
        ceil = bool(rng.integers(0, 2))
        include = bool(rng.integers(0, 2))
        override = [None, None, None, 1, 5][int(rng.integers(0, 5))] if average else None
        try:
            pool_geometry((H, W), (R, S), (u, v), pads, (dh, dw), ceil)
        except ValueError:
            continue
        name = (f"random{len(cases)}:N{N}C{C}H{H}W{W}R{R}S{S}u{u}v{v}p{pads}d{dh},{dw}"
                + (" ceil" if ceil else "")
                + (f" include_pad={include} override={override}" if average else ""))
        cases.append(PoolCase(name, N, C, H, W, (R, S), (u, v), pads, (dh, dw), ceil,
                              include if average else True, override))
    return tuple(cases)


def random_avgpool(seed, count=16):
    """``count`` average-pooling geometries drawn from ``seed`` (see :func:`random_pool`)."""
    return random_pool(seed, count, average=True)
