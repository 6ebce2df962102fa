"""cnnprop.verify: the command runs and reports honestly, and it catches broken kernels."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import cnnprop
from cnnprop import verify
from cnnprop._kernels import activation_direct, conv_direct, conv_gemm, pool_direct


@pytest.fixture(scope="module")
def quick_report():
    return verify.run(quick=True)


def _failed(report):
    return {(r.check, r.dtype, r.path) for r in report.rows if not r.passed}


def _failed_names(report):
    return {r.check for r in report.rows if not r.passed}


# ---------------------------------------------------------------- the command

def test_quick_command_passes_and_ends_with_the_summary():
    # its speed (seconds) is measured by the benchmarks, not asserted here
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "verify", "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    rows = [line for line in lines if line.split()[-1:] and " ok " in f" {line} "]
    assert lines[-1].startswith(f"{len(rows)} passed, 0 failed")


def test_selecting_nothing_is_an_error():
    with pytest.raises(ValueError, match="no check matches"):
        verify.run(checks=["no_such_check"])
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "verify", "--check", "nothing"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no check matches" in proc.stderr


def test_json_and_junit_reports(tmp_path):
    json_path, xml_path = tmp_path / "v.json", tmp_path / "v.xml"
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "verify", "--quick", "--check", "E7",
                           "--dtype", "float32", "--seed", "7", "--json", str(json_path),
                           "--junit", str(xml_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(json_path.read_text())
    assert data["seed"] == 7 and data["quick"] is True
    assert data["summary"] == {"passed": 4, "failed": 0}
    assert {r["check"] for r in data["rows"]} == {"maxpool_ties_all", "maxpool_ties_first"}
    assert all(r["dtype"] == "float32" and r["error"] <= r["bound"] for r in data["rows"])
    suite = ET.parse(xml_path).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "4" and suite.get("failures") == "0"
    names = sorted(case.get("name") for case in suite.iter("testcase"))
    assert names == ["maxpool_ties_all[float32,direct]", "maxpool_ties_all[float32,fast]",
                     "maxpool_ties_first[float32,direct]", "maxpool_ties_first[float32,fast]"]


def test_list_shows_every_check():
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "verify", "--list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for chk in verify.CHECKS:
        assert chk.name in proc.stdout


# ---------------------------------------------------------------- the report

def test_quick_report_covers_every_check_and_equation(quick_report):
    assert quick_report.ok and quick_report.failed == 0
    assert {r.check for r in quick_report.rows} == {c.name for c in verify.CHECKS}
    covered = set()
    for chk in verify.CHECKS:
        covered |= verify.runner.equation_tags(chk)
    for eq in list(range(1, 10)) + list(range(12, 21)):
        assert str(eq) in covered, f"eq ({eq}) has no check"
    for row in quick_report.rows:
        assert np.isfinite(row.error) and 0 <= row.error <= row.bound
        assert row.method
    assert {r.dtype for r in quick_report.rows} == {"float64", "float32", "-"}
    assert {r.path for r in quick_report.rows} == {"direct", "fast", "winograd", "-"}


def test_float64_checks_agree_to_1e9_relative_or_better(quick_report):
    for row in quick_report.rows:
        if row.dtype == "float64":
            assert row.error <= 1e-9, row


def test_same_seed_same_report_and_seed_changes_the_data():
    a = verify.run(quick=True, checks=["conv_forward"], seed=3)
    b = verify.run(quick=True, checks=["conv_forward"], seed=3)
    c = verify.run(quick=True, checks=["conv_forward"], seed=4)
    assert [r.error for r in a.rows] == [r.error for r in b.rows]
    assert [r.error for r in a.rows] != [r.error for r in c.rows]


def test_selection_by_equation_erratum_pattern_and_name():
    names = lambda sel: {c.name for c in verify.select_checks(sel)}  # noqa: E731
    assert {"conv_filter_grad_scipy", "conv_filter_grad_fd", "mean_is_sum_over_n"} <= names(["5"])
    assert "conv_input_grad_fd" in names(["(8)"])          # inside the range (7)-(9)
    assert names(["E7"]) == {"maxpool_ties_all", "maxpool_ties_first"}
    assert names(["maxpool*"]) == {c.name for c in verify.CHECKS if c.name.startswith("maxpool")}
    assert names(["chain_fd"]) == {"chain_fd"}


def test_a_full_run_adds_random_geometries():
    chk = next(c for c in verify.CHECKS if c.name == "conv_forward")
    full, quick = chk.case_list(False, seed=1), chk.case_list(True, seed=1)
    assert len(full) > len(quick)
    assert any(c.name.startswith("random") for c in full)
    assert chk.case_list(False, seed=1) != chk.case_list(False, seed=2)


# ---------------------------------------------------------------- it catches broken kernels

def _eq7_off_by_one(delta, f, dz, u, v, dh, dw, ph, pw, groups, threads):
    """Eq (7) with Pmax taken as exclusive: the last covering window is dropped
    (and the general options ignored: the general checks catch that too)."""
    N, C, H, W = dz.shape
    R, S = f.shape[2:]
    delta, f = np.asarray(delta), np.asarray(f)
    P, Q = delta.shape[2:]
    for h in range(H):
        for w in range(W):
            acc = np.zeros((N, C))
            for p in list(cnnprop.window_range(h, P, R, u, ph))[:-1]:
                for q in cnnprop.window_range(w, Q, S, v, pw):
                    acc += delta[:, :, p, q] @ f[:, :, h - p * u + ph, w - q * v + pw]
            dz[:, :, h, w] = acc


def test_catches_an_off_by_one_window_range_in_eq_7(monkeypatch):
    monkeypatch.setattr(conv_direct, "conv2d_backward_input", _eq7_off_by_one)
    failed = _failed(verify.run(quick=True, checks=["conv*"]))
    assert {("conv_input_grad_fd", "float64", "direct"), ("conv_input_grad_scipy", "float64", "direct"),
            ("conv_input_grad_scipy", "float32", "direct"), ("conv_fast_vs_direct", "float64", "-")} <= failed
    # the fast path and the other equations are untouched
    assert {name for name, _, path in failed if path != "fast"} == {
        "conv_input_grad_fd", "conv_input_grad_scipy", "conv_fast_vs_direct",
        "conv_general_input_grad", "conv_general_input_grad_fd", "conv_transpose_adjoint"}
    assert not {row for row in failed if row[2] == "fast"}


def test_catches_a_missing_one_over_n_in_eq_5(monkeypatch):
    real = conv_direct.conv2d_backward_filter

    def without_mean(delta, z, df, u, v, dh, dw, ph, pw, groups, divisor, nonfinite, threads):
        real(delta, z, df, u, v, dh, dw, ph, pw, groups, 1.0, nonfinite, threads)

    monkeypatch.setattr(conv_direct, "conv2d_backward_filter", without_mean)
    report = verify.run(quick=True, paths=["direct"])
    assert _failed_names(report) == {"conv_filter_grad_fd", "conv_filter_grad_scipy", "mean_is_sum_over_n",
                                     "chain_fd", "conv_fast_vs_direct", "conv_general_filter_grad"}


def test_catches_a_broken_fast_path(monkeypatch):
    """The fast kernel of eq (5) without its 1/N: only the fast-path rows fail."""
    real = conv_gemm.conv2d_backward_filter

    def without_mean(*args):
        real(*args[:-1], 1.0)

    monkeypatch.setattr(conv_gemm, "conv2d_backward_filter", without_mean)
    failed = _failed(verify.run(quick=True, checks=["conv*", "mean*"]))
    assert {("conv_filter_grad_fd", "float64", "fast"), ("conv_filter_grad_scipy", "float32", "fast"),
            ("mean_is_sum_over_n", "float64", "fast"), ("conv_fast_vs_direct", "float32", "-")} <= failed
    assert not {row for row in failed if row[2] == "direct"}


def test_catches_an_off_by_one_in_the_public_window_range(monkeypatch):
    real = cnnprop.window_range
    monkeypatch.setattr(cnnprop, "window_range",
                        lambda i, P, R, u, p: range(real(i, P, R, u, p).start, real(i, P, R, u, p).stop + 1))
    failed = _failed(verify.run(quick=True, checks=["window_ranges", "conv_forward"]))
    assert failed == {("window_ranges", "-", "-")}


def test_catches_the_wrong_tie_rule(monkeypatch):
    real = pool_direct.maxpool2d_backward

    def always_first(delta, z, y, dz, scratch, R, S, u, v, pt, pl, dh, dw, first_only):
        plane = np.empty((scratch.shape[0], dz.shape[2] * dz.shape[3]))
        real(delta, z, y, dz, plane, R, S, u, v, pt, pl, dh, dw, True)

    monkeypatch.setattr(pool_direct, "maxpool2d_backward", always_first)
    # without ties both rules agree, so only the tie check can see it
    assert _failed_names(verify.run(quick=True, checks=["maxpool*"], paths=["direct"])) == {"maxpool_ties_all"}


def test_catches_a_slightly_wrong_derivative(monkeypatch):
    real = activation_direct.activation_backward

    def off_by_a_millionth(delta, z, out, code, a, threads):
        real(delta, z, out, code, a, threads)
        if code == activation_direct.CODES["tanh"]:
            np.asarray(out)[:] *= 1 + 1e-6

    monkeypatch.setattr(activation_direct, "activation_backward", off_by_a_millionth)
    failed = _failed(verify.run(quick=True, checks=["activation*", "chain_fd"], paths=["direct"]))
    assert ("activation_backward_fd", "float64", "direct") in failed
    assert ("chain_fd", "float64", "direct") in failed
    assert ("activation_forward", "float64", "direct") not in failed


def test_the_cnnprop_console_script_is_installed():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("cnnprop") == "cnnprop.__main__:main"
