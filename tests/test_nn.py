"""cnnprop.nn: layers, Sequential, losses, optimisers, save/load, and the digits example."""
import subprocess
import sys

import numpy as np
import pytest

from cnnprop import nn


def tiny_model(seed=0, dtype=np.float64, activation="tanh", **kw):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2D(2, 3, 3, padding=1, seed=rng, dtype=dtype, **kw), nn.Activation(activation),
        nn.MaxPool2D(2), nn.Flatten(),
        nn.Affine(3 * 3 * 3, 5, seed=rng, dtype=dtype, **kw), nn.Activation("softplus"),
        nn.Affine(5, 4, init="glorot", seed=rng, dtype=dtype, **kw),
    )


def _loss(model, x, y):
    return nn.SoftmaxCrossEntropy()(model.forward(x), y)[0]


@pytest.mark.parametrize("algorithm", ["direct", "fast"])
def test_every_parameter_gradient_against_finite_differences(algorithm):
    """The whole model's parameter gradients: eqs (1)-(3) composed, float64, central differences."""
    rng = np.random.default_rng(1)
    model = tiny_model(algorithm=algorithm)
    for p in model.parameters():       # non-zero biases, so that every term matters
        p.value += 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((3, 2, 6, 6))
    y = np.array([0, 3, 1])
    loss, delta = nn.SoftmaxCrossEntropy()(model.forward(x), y)
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
        # truncation h^2 |E'''| / 6 and rounding 1e-16 |E| / h: both below 1e-9 here
        np.testing.assert_allclose(p.grad, fd, rtol=1e-6, atol=1e-8, err_msg=name)


def test_one_sgd_step_equals_a_hand_computation():
    """A softmax regression: the gradient and the update written out with NumPy."""
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Flatten(), nn.Affine(4, 3, seed=rng, dtype=np.float64))
    w0, b0 = (p.value.copy() for p in model.parameters())
    x = rng.standard_normal((5, 1, 2, 2))
    y = np.array([0, 2, 1, 2, 0])
    loss, delta = nn.SoftmaxCrossEntropy()(model.forward(x), y)
    model.backward(delta)
    opt = nn.SGD(model.parameters(), lr=0.5, momentum=0.9)
    opt.step()

    flat = x.reshape(5, -1)
    logits = flat @ w0.T + b0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(3)[y]
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-14)
    grad_w, grad_b = (p - onehot).T @ flat / 5, (p - onehot).mean(0)
    w, b = model.parameters()
    np.testing.assert_allclose(w.grad, grad_w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b.grad, grad_b, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(w.value, w0 - 0.5 * grad_w, rtol=1e-13, atol=1e-15)
    # second step: the momentum buffer remembers the first gradient
    w1 = w.value.copy()
    loss, delta = nn.SoftmaxCrossEntropy()(model.forward(x), y)
    model.backward(delta)
    g2 = w.grad.copy()
    opt.step()
    np.testing.assert_allclose(w.value, w1 - 0.5 * (0.9 * grad_w + g2), rtol=1e-13, atol=1e-15)


def test_one_adam_step_equals_a_hand_computation():
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Affine(3, 2, seed=rng, dtype=np.float64))
    x, targets = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    w0 = model.parameters()[0].value.copy()
    _, delta = nn.MeanSquaredError()(model.forward(x), targets)
    model.backward(delta)
    g = model.parameters()[0].grad.copy()
    nn.Adam(model.parameters(), lr=0.01, weight_decay=0.1).step()
    g = g + 0.1 * w0
    m, v = 0.1 * g, 0.001 * g * g
    expected = w0 - (0.01 / 0.1) * m / (np.sqrt(v) / np.sqrt(0.001) + 1e-8)
    np.testing.assert_allclose(model.parameters()[0].value, expected, rtol=1e-13)


def test_losses():
    ce = nn.SoftmaxCrossEntropy()
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
    loss, delta = ce(logits, np.array([0, 2]))
    assert np.isfinite(loss) and loss == pytest.approx(np.log(3) / 2)
    np.testing.assert_allclose(delta.sum(axis=1), 0, atol=1e-15)     # softmax - onehot
    np.testing.assert_allclose(delta[1], [1 / 3, 1 / 3, -2 / 3])
    mse = nn.MeanSquaredError()
    loss, delta = mse(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    assert loss == 2.5 and np.array_equal(delta, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="labels must lie in"):
        ce(logits, np.array([0, 3]))
    with pytest.raises(ValueError, match="labels must be integers"):
        ce(logits, np.array([0.0, 1.0]))


def test_save_and_load_round_trip(tmp_path):
    model, other = tiny_model(seed=0), tiny_model(seed=5)
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    path = tmp_path / "model.npz"
    model.save(path)
    assert not np.array_equal(other.forward(x), model.forward(x))
    other.load(path)
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    for (_, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.value, b.value)


def test_tuple_and_numpy_integer_arguments_round_trip(tmp_path):
    """stride=(1, 1) and stride=1 are one architecture; numpy ints save as JSON ints."""
    def build(stride, window):
        return nn.Sequential(nn.Conv2D(1, 2, 3, stride=stride, padding=(1, 1), seed=0, dtype=np.float64),
                             nn.MaxPool2D(window), nn.Flatten(), nn.Affine(8, 2, seed=1, dtype=np.float64))
    path = tmp_path / "m.npz"
    build((1, 1), (2, 2)).save(path)
    build(1, 2).load(path)
    build(np.int64(1), np.int64(2)).save(path)
    build((1, 1), [2, 2]).load(path)


def test_a_failed_load_leaves_the_model_unchanged(tmp_path):
    model = tiny_model()
    before = [p.value.copy() for p in model.parameters()]
    arrays = {name: p.value for name, p in model.named_parameters()}
    arrays["__architecture__"] = np.array(__import__("json").dumps(model.architecture()))
    bad = dict(arrays)
    bad["0.weight"] = arrays["0.weight"] + 1          # would be assigned first...
    bad["6.bias"] = arrays["6.bias"].astype(np.float32)   # ...but this one is wrong
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="6.bias: saved float32"):
        model.load(tmp_path / "bad.npz")
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, old)
    extra = dict(arrays, **{"9.weight": np.zeros(3)})
    np.savez(tmp_path / "extra.npz", **extra)
    with pytest.raises(ValueError, match=r"unexpected \['9.weight'\]"):
        model.load(tmp_path / "extra.npz")


def test_load_refuses_another_architecture(tmp_path):
    path = tmp_path / "model.npz"
    tiny_model().save(path)
    wider = nn.Sequential(nn.Conv2D(2, 4, 3, padding=1, dtype=np.float64), nn.Activation("tanh"))
    with pytest.raises(ValueError, match="different architecture"):
        wider.load(path)
    relu = tiny_model(activation="relu")
    with pytest.raises(ValueError, match="different architecture"):
        relu.load(path)


def _npy_member(shape, dtype, data=b""):
    """The bytes of a ``.npy`` file whose header claims ``shape`` and ``dtype``, followed by ``data``."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                              "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + data


def _saved_members(model):
    import io
    import zipfile

    buf = io.BytesIO()
    model.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def _write_zip(path, members):
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


@pytest.mark.parametrize("member, shape, dtype", [
    ("0.weight.npy", (2 ** 28,), np.float64),          # 2 GiB of float64
    ("0.weight.npy", (3, 2, 3, 3 * 2 ** 24), np.float64),
    ("__architecture__.npy", (), "<U268435456"),        # a 1 GiB "string"
])
def test_load_checks_the_headers_before_reading_any_data(tmp_path, member, shape, dtype):
    """Issue 9.6: a small file claiming a 2 GiB parameter made load allocate 2 GiB before the shape check."""
    import tracemalloc

    model = tiny_model()
    members = _saved_members(model)
    members[member] = _npy_member(shape, dtype, b"\0" * 4096)
    path = tmp_path / "hostile.npz"
    _write_zip(path, members)
    assert path.stat().st_size < 100_000
    before = [p.value.copy() for p in model.parameters()]
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="0.weight: saved|not a JSON string"):
            model.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2 ** 20, f"load allocated {peak / 2 ** 20:.0f} MiB for a hostile file"
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, old)


def _corrupt(kind, good):
    rng = np.random.default_rng(0)
    if kind == "empty":
        return b""
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "garbled":
        return rng.integers(0, 256, len(good), dtype=np.uint8).tobytes()
    if kind == "garbled data":           # a zip whose stored bytes were damaged: CRC error
        data = bytearray(good)
        start = good.index(b"0.weight.npy") + 200
        data[start:start + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        return bytes(data)
    if kind == "npy not npz":
        import io

        buf = io.BytesIO()
        np.save(buf, np.zeros(3))
        return buf.getvalue()
    if kind == "pickle":
        import pickle

        return pickle.dumps({"0.weight": np.zeros(3)})
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbled", "garbled data", "npy not npz", "pickle"])
def test_load_of_a_damaged_file_raises_the_documented_value_error(tmp_path, kind):
    """Issue 9.6: BadZipFile, EOFError or TypeError escaped instead of the documented ValueError."""
    model = tiny_model()
    model.save(tmp_path / "good.npz")
    path = tmp_path / "bad.npz"
    path.write_bytes(_corrupt(kind, (tmp_path / "good.npz").read_bytes()))
    before = [p.value.copy() for p in model.parameters()]
    with pytest.raises(ValueError):
        model.load(path)
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, old)


def test_load_refuses_pickled_parameters_and_foreign_members(tmp_path):
    model = tiny_model()
    members = _saved_members(model)
    import io
    import zipfile

    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)
    _write_zip(tmp_path / "obj.npz", dict(members, **{"0.weight.npy": buf.getvalue()}))
    with pytest.raises(ValueError, match="pickles are refused"):
        model.load(tmp_path / "obj.npz")
    _write_zip(tmp_path / "extra.npz", dict(members, **{"notes.txt": b"hi"}))
    with pytest.raises(ValueError, match="unexpected member 'notes.txt'"):
        model.load(tmp_path / "extra.npz")
    with pytest.raises(FileNotFoundError):
        model.load(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(tmp_path / "obj.npz")


def test_layer_misuse_gets_clear_errors():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.Conv2D(1, 1, 3).backward(np.zeros((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="name must be one of"):
        nn.Activation("gelu")
    with pytest.raises(TypeError, match="Sequential takes Layer objects"):
        nn.Sequential(nn.Flatten(), "relu")
    with pytest.raises(ValueError, match="init must be one of"):
        nn.Affine(2, 2, init="orthogonal")
    with pytest.raises(ValueError, match="lr must be > 0"):
        nn.SGD(tiny_model().parameters(), lr=0)
    with pytest.raises(RuntimeError, match="call backward before step"):
        nn.Adam(tiny_model().parameters()).step()


def test_a_step_with_a_missing_gradient_changes_nothing():
    model = tiny_model()
    x, y = np.ones((2, 2, 6, 6)), np.array([0, 1])
    model.backward(nn.SoftmaxCrossEntropy()(model.forward(x), y)[1])
    model.parameters()[-1].grad = None
    before = [p.value.copy() for p in model.parameters()]
    opt = nn.Adam(model.parameters())
    with pytest.raises(RuntimeError, match="1 of 6 parameters have no gradient"):
        opt.step()
    assert opt._t == 0
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.value, old)


def test_initialisation_is_seeded_and_scaled():
    a, b = nn.Conv2D(8, 16, 3, seed=7), nn.Conv2D(8, 16, 3, seed=7)
    np.testing.assert_array_equal(a.params["weight"].value, b.params["weight"].value)
    w = nn.Conv2D(64, 64, 3, seed=0, dtype=np.float64).params["weight"].value
    assert w.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.05)      # He: sqrt(2 / fan_in)
    g = nn.Affine(300, 100, init="glorot", seed=0, dtype=np.float64).params["weight"].value
    assert np.abs(g).max() <= np.sqrt(6 / 400) and g.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)


def test_training_on_a_small_subset_reduces_the_loss():
    pytest.importorskip("sklearn")
    from cnnprop.nn.train import fit, lenet, load_digits_split

    x_train, x_test, y_train, y_test = load_digits_split(seed=0)
    model = lenet(seed=0)
    loss_fn = nn.SoftmaxCrossEntropy()
    before = loss_fn(model.forward(x_train[:100]), y_train[:100])[0]
    history = fit(model, (x_train[:100], x_test[:50], y_train[:100], y_test[:50]), epochs=8, batch_size=20)
    after = loss_fn(model.forward(x_train[:100]), y_train[:100])[0]
    assert after < 0.5 * before
    assert history.train_loss[-1] < history.train_loss[0]


def test_the_train_command(tmp_path):
    pytest.importorskip("sklearn")
    saved = tmp_path / "lenet.npz"
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "train", "--epochs", "3", "--save", str(saved)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   3/3" in proc.stdout and "test accuracy:" in proc.stdout
    accuracy = float(proc.stdout.split("test accuracy:")[1].split("%")[0])
    assert accuracy > 80        # 3 epochs; the full run reaches 97% or more (docs/training.md)
    from cnnprop.nn.train import lenet

    lenet(seed=1).load(saved)


def test_adam_over_several_steps_as_pytorch():
    """Adam's moments decay over steps: five steps on the same model in both libraries."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    model = nn.Sequential(nn.Affine(4, 3, seed=rng, dtype=np.float64))
    tlin = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(model.parameters()[0].value))
        tlin.bias.copy_(torch.from_numpy(model.parameters()[1].value))
    opt = nn.Adam(model.parameters(), lr=0.05, betas=(0.8, 0.9), weight_decay=0.01)
    topt = torch.optim.Adam(tlin.parameters(), lr=0.05, betas=(0.8, 0.9), weight_decay=0.01)
    for step in range(5):
        x, t = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
        _, delta = nn.MeanSquaredError()(model.forward(x), t)
        model.backward(delta)
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tlin(torch.from_numpy(x)), torch.from_numpy(t)).backward()
        topt.step()
        for p, tp in zip(model.parameters(), tlin.parameters()):
            np.testing.assert_allclose(p.value, tp.detach().numpy(), rtol=1e-13, atol=1e-15,
                                       err_msg=f"step {step}")


def test_same_loss_gradients_and_step_as_pytorch():
    """The same architecture with the same initial weights, float64: PyTorch agrees."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    model = tiny_model(seed=4)
    x = rng.standard_normal((6, 2, 6, 6))
    y = np.array([0, 1, 2, 3, 1, 0])
    conv1, _, _, _, fc1, _, fc2 = model.layers

    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(27, 5), torch.nn.Softplus(), torch.nn.Linear(5, 4)).double()
    with torch.no_grad():
        for tlayer, layer in zip([tmodel[0], tmodel[4], tmodel[6]], [conv1, fc1, fc2]):
            tlayer.weight.copy_(torch.from_numpy(layer.params["weight"].value))
            tlayer.bias.copy_(torch.from_numpy(layer.params["bias"].value))
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(2):
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        loss, delta = nn.SoftmaxCrossEntropy()(model.forward(x), y)
        model.backward(delta)
        assert loss == pytest.approx(tloss.item(), rel=1e-13)
        for tp, p in zip(tmodel.parameters(), model.parameters()):
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-13)
        topt.step()
        opt.step()
        for tp, p in zip(tmodel.parameters(), model.parameters()):
            np.testing.assert_allclose(p.value, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
