"""Agreement with PyTorch (float64) for max pooling (values, indices, backward)
and average pooling (forward, backward) over random geometries; skipped without torch."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import cnnprop

torch = pytest.importorskip("torch")
F = torch.nn.functional


@st.composite
def max_geometries(draw):
    """Geometries PyTorch accepts: padding at most half the extent, symmetric."""
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    u, v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph = draw(st.integers(0, (dh * (R - 1) + 1) // 2))
    pw = draw(st.integers(0, (dw * (S - 1) + 1) // 2))
    H, W = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    ceil = draw(st.booleans())
    kw = dict(kernel_size=(R, S), stride=(u, v), padding=(ph, pw), dilation=(dh, dw), ceil_mode=ceil)
    try:
        cnnprop.pool.pool_geometry((H, W), (R, S), (u, v), (ph, pw), (dh, dw), ceil)
    except ValueError:
        assume(False)
    return (2, 3, H, W), kw


@given(case=max_geometries(), seed=st.integers(0, 2 ** 32 - 1))
def test_maxpool_matches_torch(case, seed):
    shape, kw = case
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape)
    zt = torch.from_numpy(z).requires_grad_()
    try:
        yt, it = F.max_pool2d(zt, **kw, return_indices=True)
    except RuntimeError:
        assume(False)     # a window that PyTorch cannot pool either
    args = (kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"], kw["ceil_mode"])
    for algorithm in ("direct", "fast"):
        y, i = cnnprop.maxpool2d_forward(z, *args, return_indices=True, algorithm=algorithm)
        np.testing.assert_array_equal(y, yt.detach().numpy())
        np.testing.assert_array_equal(i, it.numpy())
    delta = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(delta))
    expected = zt.grad.numpy()
    for algorithm in ("direct", "fast"):
        dz = cnnprop.maxpool2d_backward_indices(delta, i, shape, algorithm=algorithm)
        np.testing.assert_allclose(dz, expected, rtol=1e-14, atol=1e-14)
        dz = cnnprop.maxpool2d_backward(delta, z, y, *args, ties="first", algorithm=algorithm)
        np.testing.assert_allclose(dz, expected, rtol=1e-14, atol=1e-14)
    # our indices drive PyTorch's backward, which gives the same result
    back = torch.ops.aten.max_pool2d_with_indices_backward(
        torch.from_numpy(delta), torch.from_numpy(z), list(kw["kernel_size"]), list(kw["stride"]),
        list(kw["padding"]), list(kw["dilation"]), kw["ceil_mode"], torch.from_numpy(i))
    np.testing.assert_allclose(back.numpy(), expected, rtol=1e-14, atol=1e-14)


@st.composite
def avg_geometries(draw):
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    u, v = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, R // 2)), draw(st.integers(0, S // 2))
    H, W = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    kw = dict(kernel_size=(R, S), stride=(u, v), padding=(ph, pw), ceil_mode=draw(st.booleans()),
              count_include_pad=draw(st.booleans()),
              divisor_override=draw(st.sampled_from([None, None, 1, 2, 5])))
    try:
        cnnprop.pool.pool_geometry((H, W), (R, S), (u, v), (ph, pw), 1, kw["ceil_mode"])
    except ValueError:
        assume(False)
    return (2, 3, H, W), kw


@given(case=avg_geometries(), seed=st.integers(0, 2 ** 32 - 1))
def test_avgpool_matches_torch(case, seed):
    shape, kw = case
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape)
    zt = torch.from_numpy(z).requires_grad_()
    try:
        yt = F.avg_pool2d(zt, **kw)
    except RuntimeError:
        assume(False)
    args = dict(window=kw["kernel_size"], stride=kw["stride"], padding=kw["padding"],
                ceil_mode=kw["ceil_mode"], count_include_pad=kw["count_include_pad"],
                divisor_override=kw["divisor_override"])
    delta = rng.standard_normal(yt.shape)
    yt.backward(torch.from_numpy(delta))
    for algorithm in ("direct", "fast"):
        y = cnnprop.avgpool2d_forward(z, **args, algorithm=algorithm)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13, atol=1e-14)
        dz = cnnprop.avgpool2d_backward(delta, shape, **args, algorithm=algorithm)
        np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("H, R, u", [(1, 3, 3), (2, 5, 4), (2, 3, 2), (1, 5, 3), (3, 7, 2)])
def test_ceil_mode_sizes_of_windows_longer_than_the_input_match_torch(H, R, u):
    """Both accept a window longer than the padded input when one window starts in it, and both refuse otherwise."""
    z = np.arange(float(H * H)).reshape(1, 1, H, H)
    try:
        expected = tuple(F.max_pool2d(torch.from_numpy(z), R, u, ceil_mode=True).shape)
    except RuntimeError:
        with pytest.raises(ValueError, match="no output"):
            cnnprop.maxpool2d_forward(z, R, u, ceil_mode=True)
        return
    assert cnnprop.maxpool2d_forward(z, R, u, ceil_mode=True).shape == expected
