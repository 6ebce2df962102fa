"""cnnprop.testing: the shipped example passes, injected bugs fail on the right equation
with a minimal geometry that still fails, misbehaving adapters fail clearly, pytest ids,
and ``cnnprop verify --target``."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnnprop.testing import Adapter, check_layer, layer_checks, parametrize_checks
import cnnprop
from cnnprop.testing.examples import numpy_im2col as ex
from cnnprop.testing.runner import run_adapters, run_case

# where the cnnprop under test lives (src/ with an in-place build, else site-packages),
# for the subprocesses to import the same one
SRC = os.path.dirname(os.path.dirname(os.path.abspath(cnnprop.__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(SRC), env.get("PYTHONPATH", "")])
    return env


# ----------------------------------------------------------------------------- the shipped example

@pytest.mark.parametrize("adapter", ex.ADAPTERS, ids=lambda a: a.name)
def test_shipped_numpy_example_passes(adapter):
    report = check_layer(adapter, quick=adapter.family == "convolution")
    assert report.ok and len(report.rows) >= 2


def test_shipped_conv_example_passes_the_full_run():
    report = check_layer(ex.CONVOLUTION, checks=["input_delta", "kernel_grad"])
    assert report.ok and all(row.cases > 12 for row in report.rows)   # fixed + seeded random geometries


# ----------------------------------------------------------------------------- injected bugs

def gather_backward_input(delta, w, input_shape, stride, padding, off_by_one=False):
    """Eq (7) as written: dZ[h, w] sums over the windows p in Pmin..Pmax (eqs (8), (9))."""
    (u, v), (ph, pw) = stride, padding
    N, C, H, W = input_shape
    K, _, R, S = w.shape
    P, Q = delta.shape[2:]
    dx = np.zeros(input_shape, dtype=delta.dtype)
    last = 0 if off_by_one else 1            # the bug: range(Pmin, Pmax) leaves out Pmax
    for h in range(H):
        for x in range(W):
            pmin, pmax = max(0, -(-(h + ph - R + 1) // u)), min(P - 1, (h + ph) // u)
            qmin, qmax = max(0, -(-(x + pw - S + 1) // v)), min(Q - 1, (x + pw) // v)
            for p in range(pmin, pmax + last):
                for q in range(qmin, qmax + last):
                    dx[:, :, h, x] += delta[:, :, p, q] @ w[:, :, h + ph - p * u, x + pw - q * v]
    return dx


def _true_conv(fn, *, flip_result=False):
    """The example run with the kernel flipped: a true convolution."""
    def run(*args, **kw):
        args = list(args)
        i = 0 if fn is ex.conv2d_forward else 1
        if fn is not ex.conv2d_backward_params:
            args[i] = args[i][:, :, ::-1, ::-1]
        out = fn(*args, **kw)
        return (np.ascontiguousarray(out[0][:, :, ::-1, ::-1]), out[1]) if flip_result else out
    return run


BUGS = {
    "off_by_one_input_delta": (
        ex.CONVOLUTION.replace(backward_input=lambda *a, **k: gather_backward_input(*a, **k, off_by_one=True)),
        "input_delta", "(7)-(9)", None),
    "missing_1_over_N": (
        ex.CONVOLUTION.replace(backward_params=lambda *a, **k: ex.conv2d_backward_params(*a, **k, reduction="sum")),
        "kernel_grad", "(5)", "did you mean reduction='sum'?"),
    "flipped_kernel": (
        ex.CONVOLUTION.replace(forward=_true_conv(ex.conv2d_forward),
                               backward_input=_true_conv(ex.conv2d_backward_input),
                               backward_params=_true_conv(ex.conv2d_backward_params, flip_result=True)),
        "forward", "(4)", "did you mean convolution='true'?"),
    "wrong_tie_rule": (
        ex.MAX_POOLING.replace(backward_input=lambda *a, **k: ex.maxpool2d_backward(*a, **k, ties="first")),
        "input_delta", "(14)", "did you mean ties='first'?"),
    "transposed_kernel_layout": (
        ex.CONVOLUTION.replace(kernel_layout="RSCK"), "forward", "(4)", "did you mean kernel_layout='KCRS'?"),
    "affine_missing_1_over_N": (
        ex.AFFINE.replace(backward_params=lambda d, x: ex.affine_backward_params(d, x, reduction="sum")),
        "weight_grad", "(18)", "did you mean reduction='sum'?"),
}


def test_gather_backward_input_without_the_bug_passes():
    check_layer(ex.CONVOLUTION.replace(backward_input=gather_backward_input), quick=True, checks=["input_delta"])


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_injected_bug_fails_on_the_right_equation_with_a_minimal_geometry(bug):
    adapter, check, equation, hint = BUGS[bug]
    with pytest.raises(AssertionError) as info:
        check_layer(adapter, quick=True, dtypes=("float64",))
    message = str(info.value)
    assert f"{adapter.name}.{check} " in message and f"eq {equation}" in message
    assert "minimal failing geometry" in message and "worst geometry" in message
    if hint:
        assert hint in message
    _, failures = run_adapters([adapter], quick=True, dtypes=("float64",))
    failure = next(f for f in failures if f.spec.name == check)
    minimal = failure.minimal
    # the shrunk geometry still fails, and is no larger than the worst one
    assert not run_case(adapter, failure.spec, minimal, "float64").passed
    assert all(getattr(minimal, k) <= getattr(failure.case, k) for k in ("N", "C", "K", "H", "W"))
    if adapter.family == "convolution":
        # a missing 1/N needs two samples to show; every other bug shows on one
        assert minimal.N == (2 if "1_over_N" in bug else 1)


def test_off_by_one_names_the_worst_element_against_its_bound():
    adapter = BUGS["off_by_one_input_delta"][0]
    with pytest.raises(AssertionError, match=r"worst element dZ\[n=\d+, c=\d+, h=\d+, w=\d+\] = .*cnnprop gives"):
        check_layer(adapter, quick=True, dtypes=("float64",), checks=["input_delta"])


def test_reduction_sum_claimed_for_a_mean_gradient_says_multiply_by_N():
    adapter = ex.CONVOLUTION.replace(reduction="sum")
    with pytest.raises(AssertionError, match="after multiplying them by N .*did you mean reduction='mean'"):
        check_layer(adapter, quick=True, dtypes=("float64",), checks=["kernel_grad"])


def test_the_worked_example_of_the_docs_fails_as_shown():
    path = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "verify-your-implementation.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    code = text.split("## A worked example")[1].split("```python")[1].split("```")[0]
    with pytest.raises(AssertionError) as info:
        exec(compile(code, "worked_example", "exec"), {})
    message = str(info.value)
    assert "my_conv.input_delta (input delta against cnnprop), eq (7)-(9), float64" in message
    assert "minimal failing geometry: N=1 C=1 H=1 W=1 K=1 R=1 S=1" in message
    assert "my_conv.input_delta_fd" in message and "my_conv.forward" not in message


@pytest.mark.parametrize("module", ["cnnprop.testing", "cnnprop.testing.api", "cnnprop.testing.adapter"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------- misbehaving adapters

def _wrong_dtype(x, w, b, **kw):
    return ex.conv2d_forward(x, w, b, **kw).astype(np.float64)


def _writes_input(x, w, b, **kw):
    x[...] = 0
    return ex.conv2d_forward(x, w, b, **kw)


def _raises(x, w, b, **kw):
    raise RuntimeError("not implemented for this stride")


def _wrong_shape(x, w, b, **kw):
    return ex.conv2d_forward(x, w, b, **kw)[:, :, 1:]


@pytest.mark.parametrize("forward, expected", [
    (_raises, r"numpy_conv.forward\(array\(.*\) raised RuntimeError: not implemented for this stride at "),
    (_wrong_shape, r"returned Y of shape \(\d+, \d+, \d+, \d+\), expected"),
    (_wrong_dtype, "returned Y of dtype float64 for float32 inputs"),
    (_writes_input, "wrote into its input argument 1"),
])
def test_misbehaving_adapter_gets_a_clear_failure(forward, expected):
    with pytest.raises(AssertionError, match=expected):
        check_layer(ex.CONVOLUTION.replace(forward=forward), quick=True, checks=["forward"])


def test_adapter_validates_its_description():
    with pytest.raises(ValueError, match="family must be one of"):
        Adapter("conv", forward=ex.conv2d_forward)
    with pytest.raises(ValueError, match="reduction must be one of"):
        Adapter("convolution", forward=ex.conv2d_forward, reduction="average")
    with pytest.raises(ValueError, match="provides no direction"):
        Adapter("convolution")
    with pytest.raises(ValueError, match="has no backward_params"):
        Adapter("max_pooling", backward_params=ex.maxpool2d_backward)
    with pytest.raises(ValueError, match="unknown options"):
        Adapter("convolution", forward=ex.conv2d_forward, options=("stride", "strides"))


def test_only_claimed_options_and_dtypes_are_drawn():
    calls = []

    def forward(x, w, b, **kw):
        calls.append((x.dtype, kw))
        return ex.conv2d_forward(x, w, b, **kw)

    check_layer(Adapter("convolution", forward=forward, options=(), dtypes=("float32",)))
    assert calls and all(dt == np.float32 and kw == {"stride": (1, 1), "padding": (0, 0)} for dt, kw in calls)


def test_nhwc_adapter_is_converted_both_ways():
    def to_nchw(a):
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2))

    def forward(x, w, b, **kw):
        return np.ascontiguousarray(ex.conv2d_forward(to_nchw(x), w, b, **kw).transpose(0, 2, 3, 1))

    check_layer(Adapter("convolution", forward=forward, layout="NHWC"), quick=True)
    with pytest.raises(AssertionError, match="did you mean layout='NHWC'"):
        check_layer(Adapter("convolution", forward=forward), quick=True, dtypes=("float64",))


def test_tensorflow_conventions_nhwc_rsck_and_affine_ji():
    """Every direction through the conversions: NHWC activations, (R, S, C, K) kernels, x @ w."""
    def nchw(a):
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2))

    def nhwc(a):
        return np.ascontiguousarray(a.transpose(0, 2, 3, 1))

    def kcrs(w):
        return np.ascontiguousarray(w.transpose(3, 2, 0, 1))

    def rsck(w):
        return np.ascontiguousarray(w.transpose(2, 3, 1, 0))

    def backward_input(delta, w, input_shape, **kw):
        N, H, W, C = input_shape
        return nhwc(ex.conv2d_backward_input(nchw(delta), kcrs(w), (N, C, H, W), **kw))

    def backward_params(delta, x, kernel_size, **kw):
        dw, db = ex.conv2d_backward_params(nchw(delta), nchw(x), kernel_size, **kw)
        return rsck(dw), db

    tf_conv = Adapter("convolution", forward=lambda x, w, b, **kw: nhwc(ex.conv2d_forward(nchw(x), kcrs(w), b, **kw)),
                      backward_input=backward_input, backward_params=backward_params,
                      layout="NHWC", kernel_layout="RSCK")
    assert check_layer(tf_conv, quick=True).ok
    tf_dense = Adapter("affine", forward=lambda x, w, b: ex.affine_forward(x, w.T, b),
                       backward_input=lambda d, w, shape: ex.affine_backward_input(d, w.T, shape),
                       backward_params=lambda d, x: (lambda g: (g[0].T, g[1]))(ex.affine_backward_params(d, x)),
                       kernel_layout="JI")
    assert check_layer(tf_dense, quick=True).ok
    with pytest.raises(AssertionError, match="did you mean kernel_layout='JI'"):
        check_layer(tf_dense.replace(kernel_layout="IJ"), quick=True, dtypes=("float64",), checks=["forward"])


# ----------------------------------------------------------------------------- pytest ids

def test_layer_checks_ids():
    ids = [c.id for c in layer_checks(ex.RELU, quick=True)]
    assert ids == ["numpy_relu-forward-float64-2x3x6x7", "numpy_relu-forward-float32-2x3x6x7",
                   "numpy_relu-input_delta-float64-2x3x6x7", "numpy_relu-input_delta-float32-2x3x6x7",
                   "numpy_relu-input_delta_fd-float64-2x3x6x7"]
    assert parametrize_checks(ex.RELU, quick=True).args[0] == "check"


def test_parametrize_checks_in_a_pytest_run(tmp_path):
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        from cnnprop.testing import parametrize_checks
        from cnnprop.testing.examples import numpy_im2col as ex

        BROKEN = ex.MAX_POOLING.replace(name="broken", ties="first")

        @parametrize_checks([ex.RELU, BROKEN], quick=True, dtypes=("float64",))
        def test_layers(check):
            check()
    """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
                           f"--junitxml={tmp_path / 'junit.xml'}", str(tmp_path / "test_user.py")],
                          capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120)
    out = proc.stdout
    assert "PASSED test_user.py::test_layers[numpy_relu-forward-float64-2x3x6x7]" in out, out
    assert "PASSED test_user.py::test_layers[numpy_relu-input_delta_fd-float64-2x3x6x7]" in out
    assert "FAILED test_user.py::test_layers[broken-input_delta-float64-3x3_s2_p1_overlap]" in out
    assert "PASSED test_user.py::test_layers[broken-forward-float64-2x2_s2]" in out
    assert "did you mean ties='all'?" in out
    assert 'name="test_layers[broken-input_delta-float64-2x2_s2]"' in (tmp_path / "junit.xml").read_text()
    assert proc.returncode == 1


# ----------------------------------------------------------------------------- the command line

def _verify(capsys, *args):
    from cnnprop.__main__ import main

    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_target_numpy_with_json(tmp_path, capsys):
    code, out, err = _verify(capsys, "--target", "numpy", "--quick", "--json", str(tmp_path / "r.json"))
    assert code == 0, out + err
    assert "numpy_conv.kernel_grad" in out and " 0 failed" in out
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert {r["check"] for r in rows} >= {"numpy_conv.forward", "numpy_maxpool.input_delta", "numpy_affine.params_fd"}


def test_verify_target_module_object_reports_the_failure(tmp_path, capsys, monkeypatch):
    (tmp_path / "userlayers_cnnprop_test.py").write_text(textwrap.dedent("""
        from cnnprop.testing.examples import numpy_im2col as ex
        CONV = ex.CONVOLUTION.replace(name="mine", reduction="sum")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = _verify(capsys, "--target", "userlayers_cnnprop_test:CONV", "--quick", "--dtype", "float64",
                           "--check", "kernel_grad", "--junit", str(tmp_path / "j.xml"))
    assert code == 1
    assert "FAILED mine.kernel_grad" in out and "did you mean reduction='mean'?" in out
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()


def test_verify_target_errors_are_usage_errors(capsys):
    code, _, err = _verify(capsys, "--target", "no_such_module_cnnprop:X")
    assert code == 2 and "cannot import 'no_such_module_cnnprop'" in err
    code, _, err = _verify(capsys, "--target", "cnnprop:conv2d_forward")
    assert code == 2 and "calling conv2d_forward raised TypeError" in err
    code, _, err = _verify(capsys, "--target", "cnnprop:ACTIVATIONS")
    assert code == 2 and "not an Adapter" in err
    code, _, err = _verify(capsys, "--target", "cnnprop")
    assert code == 2 and "expected module:object" in err


def test_verify_target_torch(capsys):
    pytest.importorskip("torch")
    code, out, _ = _verify(capsys, "--target", "torch", "--quick")
    # PyTorch's conventions (gradients of the sum, ties to the first maximum) are declared, not errors
    assert "torch.conv2d: convolution; layout='NCHW', kernel_layout='KCRS', convolution='correlation', " \
           "reduction='sum'" in out
    assert "torch.max_pool2d: max_pooling; layout='NCHW', ties='first'" in out
    rows = {line.split()[0] + " " + next(t for t in line.split() if t.startswith("float")): line
            for line in out.splitlines() if line.startswith("torch.") and " - " in line}
    for check in ("conv2d.forward", "conv2d.input_delta", "conv2d.kernel_grad", "conv2d.params_fd",
                  "max_pool2d.input_delta", "max_pool2d.input_delta_fd", "linear.weight_grad", "relu.input_delta"):
        assert " ok " in rows[f"torch.{check} float64"], out
    # PyTorch's softplus returns x itself above its threshold 20: at x = 30 that is
    # log1p(exp(-30)) / 30 = 3e-15 off, above the float64 bound; a finding, reported as one
    assert "FAILED torch.softplus.forward" in out and code == 1


# ----------------------------------------------------------------------------- families of issues 10 and 11
# The PyTorch adapters of transposed convolution and average pooling against
# cnnprop's own functions; where this build lacks one, against a stand-in built
# from cnnprop's convolution (the adjoint relations of SPEC-BEYOND.md).

def _conv_transpose_shims():
    import cnnprop

    def out_shape(x, f, stride, padding):
        (u, v), (ph, pw) = (stride,) * 2 if isinstance(stride, int) else stride, \
            (padding,) * 2 if isinstance(padding, int) else padding
        return (x.shape[0], f.shape[1], (x.shape[2] - 1) * u - 2 * ph + f.shape[2],
                (x.shape[3] - 1) * v - 2 * pw + f.shape[3])

    def forward(x, f, b=None, stride=1, padding=0):
        y = cnnprop.conv2d_backward_input(x, f, out_shape(x, f, stride, padding), stride, padding)
        return y if b is None else y + b[None, :, None, None]

    def backward_input(delta, f, input_shape, stride=1, padding=0):
        return cnnprop.conv2d_forward(delta, f, None, stride, padding)

    def backward_filter(delta, x, kernel_size, stride=1, padding=0, reduction="mean"):
        return cnnprop.conv2d_backward_filter(x, delta, kernel_size, stride, padding, reduction=reduction)

    return {"conv_transpose2d_forward": forward, "conv_transpose2d_backward_input": backward_input,
            "conv_transpose2d_backward_filter": backward_filter}


def _avgpool_shims():
    import cnnprop

    def box(window, C, dtype):
        R, S = (window, window) if isinstance(window, int) else window
        return np.full((1, 1, R, S), 1.0 / (R * S), dtype=dtype)

    def forward(z, window, stride=None, padding=0):
        N, C, H, W = z.shape
        y = cnnprop.conv2d_forward(z.reshape(N * C, 1, H, W), box(window, C, z.dtype), None, stride, padding)
        return y.reshape(N, C, *y.shape[2:])

    def backward(delta, input_shape, window, stride=None, padding=0):
        N, C, H, W = input_shape
        d = delta.reshape(N * C, 1, *delta.shape[2:])
        return cnnprop.conv2d_backward_input(d, box(window, C, delta.dtype), (N * C, 1, H, W), stride,
                                             padding).reshape(input_shape)

    return {"avgpool2d_forward": forward, "avgpool2d_backward": backward}


@pytest.mark.parametrize("family", ["transposed_convolution", "average_pooling"])
def test_torch_adapters_of_the_new_families(family, monkeypatch):
    pytest.importorskip("torch")
    import cnnprop
    from cnnprop.testing import torch_adapters

    shims = _conv_transpose_shims() if family == "transposed_convolution" else _avgpool_shims()
    for name, fn in shims.items():
        if not hasattr(cnnprop, name):
            monkeypatch.setattr(cnnprop, name, fn, raising=False)
    adapter = next(a for a in torch_adapters.adapters() if a.family == family)
    report = check_layer(adapter, quick=True)
    assert report.ok and len(report.rows) >= 5
    if family == "transposed_convolution":
        with pytest.raises(AssertionError, match="did you mean reduction='sum'"):
            check_layer(adapter.replace(reduction="mean"), quick=True, dtypes=("float64",), checks=["kernel_grad"])


def test_general_options_are_drawn_when_claimed_and_supported(monkeypatch):
    """The draws of the general options (dilation, groups, paddings, modes, ceil_mode,
    output_padding), as they will run once cnnprop supports them."""
    from cnnprop.testing import cases

    monkeypatch.setattr(cases, "supports", lambda option, family="convolution": True)
    every = ("stride", "padding", "asymmetric_padding", "same_padding", "dilation", "groups", "padding_mode",
             "output_padding")
    adapter = ex.CONVOLUTION.replace(options=every)
    base = [cases._restrict(cases._from_verify(c, "convolution"), adapter) for c in cases.geometries.CONV]
    drawn = cases._random_options(adapter, 0, base)
    assert len(drawn) == 12
    assert all(c.C % c.groups == 0 and c.K % c.groups == 0 for c in drawn)
    assert {c.groups for c in drawn} > {1} and {c.dilation for c in drawn} > {(1, 1)}
    assert any(c.padding == "same" for c in drawn) and {c.padding_mode for c in drawn} > {"zeros"}
    assert all(op < max(u, d) for c in drawn for op, u, d in zip(c.output_padding, c.stride, c.dilation))
    kw = cases.adapter_kwargs(drawn[0], adapter)
    assert set(kw) == {"stride", "padding", "dilation", "groups", "padding_mode", "output_padding"}
    # an adapter that claims none of them gets none of them
    assert cases._random_options(ex.CONVOLUTION, 0, base) == ()
