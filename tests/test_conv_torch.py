"""The general convolution and the transposed convolution against PyTorch float64 autograd.

Random geometries drawing every option (dilation, groups, asymmetric and
'same' padding, padding modes, output_padding), both paths. cnnprop's kernel
gradient carries the 1/N of the mean loss by default; the comparison uses
reduction="sum", PyTorch's.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import cnnprop  # noqa: E402

ALGORITHMS = ["direct", "fast"]
MODES = ["zeros", "reflect", "replicate", "circular"]


def _conv_case(rng):
    while True:
        groups = int(rng.integers(1, 4))
        C, K = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        N, H, W = int(rng.integers(1, 3)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
        R, S = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pads = ((int(rng.integers(0, 3)), int(rng.integers(0, 3))),
                (int(rng.integers(0, 3)), int(rng.integers(0, 3))))
        mode = MODES[int(rng.integers(0, 4))]
        try:
            g = cnnprop.geometry.sliding_window((H, W), (R, S), stride, pads, dilation)
            cnnprop.conv.check_padding_mode(mode, g)
        except ValueError:
            continue
        return (N, C, H, W), (K, R, S), stride, pads, dilation, groups, mode


def _torch_pad(z, pads, mode):
    (pt, pb), (pl, pr) = pads
    return F.pad(z, (pl, pr, pt, pb), mode="constant" if mode == "zeros" else mode)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(12))
def test_conv2d_against_torch(seed, algorithm):
    rng = np.random.default_rng(seed)
    shape, (K, R, S), stride, pads, dilation, groups, mode = _conv_case(rng)
    z = rng.standard_normal(shape)
    f = rng.standard_normal((K, shape[1] // groups, R, S))
    b = rng.standard_normal(K)
    tz = torch.tensor(z, requires_grad=True)
    tf = torch.tensor(f, requires_grad=True)
    ty = F.conv2d(_torch_pad(tz, pads, mode), tf, torch.tensor(b), stride, 0, dilation, groups)
    delta = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(delta))
    kw = dict(padding_mode=mode, algorithm=algorithm)
    y = cnnprop.conv2d_forward(z, f, b, stride, pads, dilation, groups, **kw)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    dz = cnnprop.conv2d_backward_input(delta, f, z.shape, stride, pads, dilation, groups, **kw)
    np.testing.assert_allclose(dz, tz.grad.numpy(), rtol=1e-10, atol=1e-10)
    df = cnnprop.conv2d_backward_filter(delta, z, (R, S), stride, pads, dilation, groups,
                                        reduction="sum", **kw)
    np.testing.assert_allclose(df, tf.grad.numpy(), rtol=1e-10, atol=1e-10)
    df_mean = cnnprop.conv2d_backward_filter(delta, z, (R, S), stride, pads, dilation, groups, **kw)
    np.testing.assert_allclose(df_mean * shape[0], tf.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_same_padding_against_torch(algorithm):
    # PyTorch takes 'same' at stride 1 only; even kernels put the extra row at the bottom
    rng = np.random.default_rng(0)
    z, f = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 4, 2))
    y = cnnprop.conv2d_forward(z, f, None, 1, "same", (2, 1), algorithm=algorithm)
    ty = F.conv2d(torch.tensor(z), torch.tensor(f), None, 1, "same", (2, 1))
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose2d_against_torch(seed, algorithm):
    rng = np.random.default_rng(100 + seed)
    while True:
        groups = int(rng.integers(1, 4))
        C_in, C_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        N, H, W = int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        R, S = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        op = (int(rng.integers(0, max(stride[0], dilation[0]))),
              int(rng.integers(0, max(stride[1], dilation[1]))))
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (R - 1) + 1 + op[0]
        Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (S - 1) + 1 + op[1]
        if min(Ho, Wo) >= 1:
            break
    x = rng.standard_normal((N, C_in, H, W))
    f = rng.standard_normal((C_in, C_out // groups, R, S))
    b = rng.standard_normal(C_out)
    tx, tf = torch.tensor(x, requires_grad=True), torch.tensor(f, requires_grad=True)
    ty = F.conv_transpose2d(tx, tf, torch.tensor(b), stride, padding, op, groups, dilation)
    delta = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(delta))
    y = cnnprop.conv_transpose2d_forward(x, f, b, stride, padding, op, groups, dilation,
                                         algorithm=algorithm)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    dx = cnnprop.conv_transpose2d_backward_input(delta, f, x.shape, stride, padding, op, groups,
                                                 dilation, algorithm=algorithm)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    df = cnnprop.conv_transpose2d_backward_filter(delta, x, (R, S), stride, padding, op, groups,
                                                  dilation, reduction="sum", algorithm=algorithm)
    np.testing.assert_allclose(df, tf.grad.numpy(), rtol=1e-10, atol=1e-10)
