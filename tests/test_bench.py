"""cnnprop.bench: the peer comparison runs, reports and skips missing peers honestly.

(Speed is measured by the command itself and by asv, never asserted here.)
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnprop import bench
from cnnprop.bench import peers, report
from cnnprop.bench.cases import CONV_LAYERS, ConvLayer

ENV = dict(os.environ, CNNPROP_BENCH_SETTLE="0")


SMALL_LAYERS = {
    "plain": ConvLayer("small", 2, 3, 9, 4, 3, 2, 1),
    # miniatures of the issue-10 layers: depthwise x2 multiplier, dilated, grouped, transposed
    "depthwise": ConvLayer("small_dw", 2, 4, 9, 8, 3, 2, 1, groups=4),
    "dilated": ConvLayer("small_d2", 2, 3, 9, 4, 3, 1, 2, dilation=2),
    "grouped": ConvLayer("small_g2", 2, 4, 8, 6, 3, 1, 1, groups=2),
    "transposed": ConvLayer("small_up", 2, 4, 5, 6, 2, 2, 0, groups=2, transposed=True),
}


@pytest.mark.parametrize("geometry", sorted(SMALL_LAYERS))
@pytest.mark.parametrize("peer", ["numpy", "torch"])
def test_each_peer_computes_the_same_convolution(peer, geometry):
    """A peer that computed something else would make every ratio meaningless."""
    if peer == "torch":
        pytest.importorskip("torch")
    layer = SMALL_LAYERS[geometry]
    rng = np.random.default_rng(0)
    z = rng.standard_normal((layer.N, layer.C, layer.H, layer.H))
    f = rng.standard_normal(layer.kernel_shape)
    delta = rng.standard_normal((layer.N, layer.K, layer.out, layer.out))
    ours = peers.cnnprop_conv(layer, z, f, delta, 1, algorithm="direct")
    theirs = getattr(peers, f"{peer}_conv")(layer, z, f, delta, 1)
    if peer == "numpy" and geometry != "plain":
        assert theirs == {}      # the NumPy peer times plain convolutions only
    assert ours["forward"]().shape == (layer.N, layer.K, layer.out, layer.out)
    for direction in theirs:
        np.testing.assert_allclose(np.asarray(theirs[direction]()), ours[direction](), rtol=1e-12, atol=1e-12)


def test_run_measures_every_direction_and_the_gemm_rate(monkeypatch):
    monkeypatch.setattr("cnnprop.bench.runner.SETTLE_SECONDS", 0.0)
    results = bench.run(dtypes=("float32",), threads=1, repeats=1, layers=["pool2s2"], peers=())
    assert results.gemm["float32"] > 0
    assert {(r.layer, r.direction, r.impl) for r in results.records} == {
        ("pool2s2", "forward", "cnnprop"), ("pool2s2", "backward", "cnnprop")}
    assert all(r.ms > 0 and r.gbps > 0 and r.peak_mb > 0 for r in results.records)


def test_unknown_layers_are_refused():
    with pytest.raises(ValueError, match="unknown layers"):
        bench.run(layers=["vgg16"], repeats=1, peers=())


def test_the_command_prints_the_table_and_writes_json(tmp_path):
    out_json, out_png = tmp_path / "b.json", tmp_path / "b.png"
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "bench", "--layer", "pool3s2p1", "--dtype",
                           "float64", "--repeats", "1", "--peer", "torch", "--json", str(out_json),
                           "--plot", str(out_png)], capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pool3s2p1" in proc.stdout and "GEMM rate" in proc.stdout
    data = json.loads(out_json.read_text())
    assert {r["direction"] for r in data["records"]} == {"forward", "backward"}
    if importlib.util.find_spec("torch") is None:
        assert "torch is not installed: skipped" in proc.stdout
        assert "no peer was timed: no plot" in proc.stdout and not out_png.exists()
    elif importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed: no plot" in proc.stdout
    else:
        assert out_png.exists() and out_png.stat().st_size > 0


def test_speedups_are_peer_time_over_ours():
    results = bench.runner.Results(threads=1, repeats=1, gemm={"float32": 100.0})
    R = bench.runner.Record
    results.records = [R("a", "forward", "float32", "cnnprop", 2.0), R("a", "forward", "float32", "torch", 6.0)]
    assert report.speedups(results) == {("float32", "a", "forward"): {"torch": 3.0}}


def test_the_layers_are_the_ones_of_the_issue():
    assert [(layer.name, layer.flops) for layer in CONV_LAYERS][:2] == [
        ("lenet2", 2 * 64 * 50 * 8 * 8 * 20 * 25), ("vgg3x3", 2 * 8 * 64 * 56 * 56 * 64 * 9)]
    general = {layer.name: layer for layer in CONV_LAYERS}
    assert (general["mobilenet_dw"].out, general["mobilenet_dw"].flops) == (56, 2 * 8 * 128 * 56 * 56 * 9)
    assert general["deeplab_d2"].out == 33 and general["resnext_g32"].kernel_shape == (256, 8, 3, 3)
    assert (general["unet_up"].out, general["unet_up"].kernel_shape) == (56, (128, 64, 2, 2))
