"""cnnprop.nn pooling layers: MaxPool2D's new options and indices, AvgPool2D, GlobalAvgPool2D."""
import numpy as np
import pytest

import cnnprop
from cnnprop import nn


def _model(pool, channels_out, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2D(2, 3, 3, padding=1, seed=rng, dtype=np.float64), nn.Activation("tanh"),
        pool, nn.Flatten(), nn.Affine(channels_out, 4, seed=rng, dtype=np.float64))


POOLS = {
    # input 7x7 after the convolution
    "max_first_ceil_dilated": (lambda: nn.MaxPool2D(3, 2, 1, dilation=2, ceil_mode=True, ties="first"), 3 * 3 * 3),
    "max_all_ceil": (lambda: nn.MaxPool2D(2, ceil_mode=True), 3 * 4 * 4),
    "avg_ceil_exclude": (lambda: nn.AvgPool2D(3, 2, 1, ceil_mode=True, count_include_pad=False), 3 * 4 * 4),
    "avg_override": (lambda: nn.AvgPool2D((2, 3), 1, ((1, 0), (0, 1)), divisor_override=4), 3 * 7 * 6),
    "global_avg": (lambda: nn.GlobalAvgPool2D(), 3),
}


@pytest.mark.parametrize("algorithm", ["direct", "fast"])
@pytest.mark.parametrize("name", list(POOLS))
def test_input_and_parameter_gradients_against_finite_differences(name, algorithm):
    make, flat = POOLS[name]
    with cnnprop.use_algorithm(algorithm):
        model = _model(make(), flat)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((2, 2, 7, 7))
        y = np.array([0, 3])

        def loss(v):
            return nn.SoftmaxCrossEntropy()(model.forward(v), y)[0]

        _, delta = nn.SoftmaxCrossEntropy()(model.forward(x), y)
        model.backward(delta)
        h = 1e-6
        for pname, p in model.named_parameters():
            fd = np.empty_like(p.value)
            for i in np.ndindex(p.shape):
                keep = p.value[i]
                p.value[i] = keep + h
                up = loss(x)
                p.value[i] = keep - h
                down = loss(x)
                p.value[i] = keep
                fd[i] = (up - down) / (2 * h)
            np.testing.assert_allclose(p.grad, fd, rtol=1e-6, atol=1e-8, err_msg=pname)


def test_maxpool_first_keeps_indices_and_matches_the_functional_backward(rng):
    layer = nn.MaxPool2D(3, 2, 1, ceil_mode=True, ties="first")
    z = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(np.float32)
    y = layer.forward(z)
    delta = rng.standard_normal(y.shape).astype(np.float32)
    expected = cnnprop.maxpool2d_backward(delta, z, y, 3, 2, 1, ceil_mode=True, ties="first")
    np.testing.assert_array_equal(layer.backward(delta), expected)
    # the layer keeps the indices, not the input
    assert layer._cache[1].dtype == np.int64


def test_global_average_pool_is_the_mean(rng):
    z = rng.standard_normal((3, 4, 5, 6))
    layer = nn.GlobalAvgPool2D()
    np.testing.assert_allclose(layer.forward(z)[:, :, 0, 0], z.mean(axis=(2, 3)), rtol=1e-14)
    np.testing.assert_allclose(layer.backward(np.ones((3, 4, 1, 1))), np.full(z.shape, 1 / 30), rtol=1e-15)


def test_configs_round_trip(tmp_path):
    for name, (make, flat) in POOLS.items():
        model = _model(make(), flat)
        path = tmp_path / f"{name}.npz"
        model.save(path)
        other = _model(make(), flat, seed=3)
        other.load(path)
        x = np.random.default_rng(0).standard_normal((2, 2, 7, 7))
        np.testing.assert_array_equal(other.forward(x), model.forward(x))
    # another pooling option is another architecture
    _model(nn.AvgPool2D(3, 2, 1, ceil_mode=True), 3 * 4 * 4).save(tmp_path / "a.npz")
    with pytest.raises(ValueError):
        _model(nn.AvgPool2D(3, 2, 1, ceil_mode=True, count_include_pad=False), 3 * 4 * 4).load(tmp_path / "a.npz")


def test_default_maxpool_config_is_unchanged():
    assert nn.MaxPool2D(2).config() == {"window": [2, 2], "stride": None, "padding": [0, 0], "ties": "all"}
    assert nn.MaxPool2D(3, 2, ((1, 0), (1, 1)), dilation=2, ceil_mode=True).config() == {
        "window": [3, 3], "stride": [2, 2], "padding": [[1, 0], [1, 1]], "ties": "all",
        "dilation": [2, 2], "ceil_mode": True}
