"""python -m cnnprop.bench.activations: runs, and times the right PyTorch peers."""
import numpy as np
import pytest

import cnnprop
from cnnprop._kernels import activation_fast
from cnnprop.bench import activations

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", activations.NAMES)
def test_the_torch_peers_compute_the_same_functions(name):
    """A peer that computed something else would make the ratio meaningless."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 5, 7)) * 3
    delta = rng.standard_normal(z.shape)
    forward, backward = activations.torch_peers(torch, name)
    tz, td = torch.from_numpy(z), torch.from_numpy(delta)
    ty = forward(tz)
    np.testing.assert_allclose(ty.numpy(), cnnprop.activation_forward(z, name), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(backward(td, tz, ty).numpy(), cnnprop.activation_backward(delta, z, name),
                               rtol=1e-12, atol=1e-14)


def test_measure_gives_a_row_per_case_and_restores_the_instruction_set():
    before = activation_fast.isa()
    rows = activations.measure(shape=(2, 3, 4), names=("relu", "tanh"), dtypes=("float32",), threads=1,
                               repeats=1, settle=0)
    assert [(r["name"], r["direction"]) for r in rows] == [
        ("relu", "forward"), ("relu", "backward"), ("tanh", "forward"), ("tanh", "backward")]
    for row in rows:
        assert set(row["gbs"]) == set(activations.isas()) | {"torch"}
        assert all(v > 0 for v in row["gbs"].values()) and row["ratio"] > 0
    assert activation_fast.isa() == before


def test_main_quick(capsys):
    assert activations.main(["--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 2 + 2 * 2 * len(activations.NAMES)
