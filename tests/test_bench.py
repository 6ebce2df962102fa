"""cnnprop.bench: the peer comparison runs, reports and skips missing peers honestly.

(Speed is measured by the command itself and by asv, never asserted here.)
"""
import importlib.util
import json
import os
import re
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


def test_run_measures_every_direction_and_the_gemm_rate(monkeypatch, tmp_path):
    monkeypatch.setattr("cnnprop.bench.runner.SETTLE_SECONDS", 0.0)
    results = bench.run(dtypes=("float32",), threads=1, repeats=3, layers=["pool2s2"], peers=(),
                        reference=tmp_path / "gemm.json")
    assert results.gemm["float32"] > 0 and results.gemm_end["float32"] > 0
    assert {(r.layer, r.direction, r.impl) for r in results.records} == {
        ("pool2s2", "forward", "cnnprop"), ("pool2s2", "backward", "cnnprop")}
    assert all(r.ms > 0 and r.gbps > 0 and r.peak_mb > 0 for r in results.records)
    # the spread of the 3 repeats brackets their median
    assert all(0 < r.ms_min <= r.ms_q1 <= r.ms <= r.ms_q3 <= r.ms_max for r in results.records)
    # the machine's GEMM rate is stored for the next run
    assert list(json.loads((tmp_path / "gemm.json").read_text()).values()) == [
        max(results.gemm["float32"], results.gemm_end["float32"])]


def test_spread_is_min_quartiles_median_max():
    assert bench.runner.spread([5.0, 1.0, 3.0, 2.0, 4.0]) == (1.0, 2.0, 3.0, 4.0, 5.0)
    # NumPy's default (linear) quartiles
    times = [0.3, 0.1, 0.7, 0.2]
    assert bench.runner.spread(times) == pytest.approx(
        (0.1, *np.percentile(times, [25, 50, 75]), 0.7))
    assert bench.runner.spread([2.0]) == (2.0,) * 5


def _results(start, end, threads=2):
    return bench.runner.Results(threads=threads, repeats=1, gemm={"float32": start}, gemm_end={"float32": end})


def test_a_busy_machine_is_reported_against_its_stored_gemm_rate(tmp_path):
    store = tmp_path / "cache" / "gemm.json"
    quiet = _results(200.0, 196.0)
    assert bench.runner.check_gemm(quiet, store) == [] and quiet.warnings == []
    # a rate 4% down is noise; a rate at half the machine's best is a busy machine
    assert bench.runner.check_gemm(_results(192.0, 190.0), store) == []
    busy = _results(101.0, 99.0)
    (warning,) = bench.runner.check_gemm(busy, store)
    assert "is 50% of the best measured on this machine (200" in warning and "busy" in warning
    assert busy.warnings == [warning] and busy.gemm_reference == {"float32": 200.0}
    # a busy run does not lower the machine's rate; another thread count is another machine
    assert list(json.loads(store.read_text()).values()) == [200.0]
    assert bench.runner.check_gemm(_results(101.0, 99.0, threads=1), store) == []
    # just at the threshold: no warning
    assert bench.runner.check_gemm(_results(150.0, 150.0), store) == []
    assert bench.runner.check_gemm(_results(149.0, 150.0), store) != []


def test_a_load_change_during_the_run_is_reported(tmp_path):
    (warning,) = bench.runner.check_gemm(_results(200.0, 120.0), tmp_path / "gemm.json")
    assert "changed during the run (200 GFLOP/s before the layers, 120 after)" in warning
    assert bench.runner.check_gemm(_results(200.0, 170.0), tmp_path / "other.json") == []


def test_an_unreadable_gemm_store_is_ignored(tmp_path):
    store = tmp_path / "gemm.json"
    store.write_text("not json")
    assert bench.runner.check_gemm(_results(200.0, 200.0), store) == []
    assert list(json.loads(store.read_text()).values()) == [200.0]
    blocked = _results(200.0, 200.0)
    assert bench.runner.check_gemm(blocked, tmp_path / "gemm.json" / "x") == []   # a file is in the way
    assert "could not be stored" in blocked.notes[0]


def test_the_table_shows_the_spread_of_the_repeats():
    results = bench.runner.Results(threads=1, repeats=5, gemm={"float32": 100.0})
    results.records = [bench.runner.Record("a", "forward", "float32", "cnnprop", 2.0, gflops=1.0, ms_min=1.5,
                                           ms_q1=1.9, ms_q3=2.2, ms_max=3.25)]
    head, _, row = report.table(results).splitlines()
    assert "min-max" in head and "1.50-3.25" in row


def test_unknown_layers_are_refused():
    with pytest.raises(ValueError, match="unknown layers"):
        bench.run(layers=["vgg16"], repeats=1, peers=())


def test_the_command_prints_the_table_and_writes_json(tmp_path):
    out_json, out_png = tmp_path / "b.json", tmp_path / "b.png"
    # a stored GEMM rate no machine reaches: the run must say the machine is busy
    threads = 1
    store = tmp_path / "cache" / "cnnprop" / "bench-gemm.json"
    store.parent.mkdir(parents=True)
    store.write_text(json.dumps({bench.runner._reference_key("float64", threads): 1e9}))
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "bench", "--layer", "pool3s2p1", "--dtype",
                           "float64", "--repeats", "2", "--threads", str(threads), "--peer", "torch", "--json",
                           str(out_json), "--plot", str(out_png)], capture_output=True, text=True,
                          env=dict(ENV, XDG_CACHE_HOME=str(tmp_path / "cache")), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pool3s2p1" in proc.stdout and "GEMM rate" in proc.stdout and "min-max" in proc.stdout
    assert re.search(r"^warning: float64 GEMM rate of this run .* the machine is busy", proc.stdout, re.M), proc.stdout
    data = json.loads(out_json.read_text())
    assert {r["direction"] for r in data["records"]} == {"forward", "backward"}
    assert all(r["ms_min"] <= r["ms"] <= r["ms_max"] for r in data["records"])
    assert data["gemm_gflops_reference"] == {"float64": 1e9} and len(data["warnings"]) == 1
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
