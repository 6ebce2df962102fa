"""cnnprop.nn: the general Conv2D options and ConvTranspose2D, gradients and save/load."""
import numpy as np
import pytest

from cnnprop import nn


def general_model(algorithm, seed=0):
    rng = np.random.default_rng(seed)
    kw = dict(seed=rng, dtype=np.float64, algorithm=algorithm)
    return nn.Sequential(
        nn.Conv2D(2, 4, 3, padding="same", dilation=2, padding_mode="reflect", **kw),
        nn.Activation("tanh"),
        nn.Conv2D(4, 4, (3, 2), stride=2, padding=((1, 0), (1, 1)), groups=4, **kw),   # depthwise
        nn.Activation("tanh"),
        nn.ConvTranspose2D(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, **kw),
        nn.Flatten(),
        nn.Affine(2 * 6 * 8, 3, **kw),
    )


def _loss(model, x, y):
    return nn.SoftmaxCrossEntropy()(model.forward(x), y)[0]


@pytest.mark.parametrize("algorithm", ["direct", "fast"])
def test_general_conv_layers_gradients_against_finite_differences(algorithm):
    rng = np.random.default_rng(1)
    model = general_model(algorithm)
    for p in model.parameters():
        p.value += 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((2, 2, 6, 6))
    y = np.array([0, 2])
    loss, delta = nn.SoftmaxCrossEntropy()(model.forward(x), y)
    assert model.forward(x).shape == (2, 3)
    model.backward(delta)
    h = 1e-6
    for name, p in model.named_parameters():
        fd = np.empty_like(p.value)
        for i in np.ndindex(p.shape):
            keep = p.value[i]
            p.value[i] = keep + h
            up = _loss(model, x, y)
            p.value[i] = keep - h
            down = _loss(model, x, y)
            p.value[i] = keep
            fd[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(p.grad, fd, rtol=1e-6, atol=1e-8, err_msg=name)


def test_save_and_load_round_trip_with_the_general_options(tmp_path):
    model = general_model("auto")
    path = tmp_path / "general.npz"
    model.save(path)
    other = general_model("auto", seed=5).load(path)
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(model.forward(x), other.forward(x))
    # another dilation is another architecture
    changed = general_model("auto")
    changed.layers[0] = nn.Conv2D(2, 4, 3, padding="same", dilation=1, padding_mode="reflect",
                                  dtype=np.float64)
    with pytest.raises(ValueError, match="different architecture"):
        changed.load(path)


def test_default_conv_config_is_unchanged():
    # files saved before the general options still load: no new keys at the defaults
    assert nn.Conv2D(2, 3, 3, padding=1).config() == {
        "in_channels": 2, "out_channels": 3, "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1]}
    assert nn.Conv2D(4, 4, 3, groups=2, dilation=2, padding_mode="circular").config()["groups"] == 2


def test_layer_errors():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2D(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2D(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2D(2, 2, 3, padding="full")
    with pytest.raises(ValueError, match="padding"):
        nn.ConvTranspose2D(2, 2, 3, padding="same")
    assert nn.ConvTranspose2D(4, 6, 3, groups=2).params["weight"].shape == (4, 3, 3, 3)
