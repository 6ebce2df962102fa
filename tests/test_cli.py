"""The ``cnnprop`` command: commands independent of each other, readable help and version."""
import os
import re
import subprocess
import sys

import pytest

from cnnprop import __main__ as cli

COMMANDS = ["bench", "train", "verify"]


def _run(*args, env=None, code=None):
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "cnnprop", *args]
    return subprocess.run(command, env=dict(os.environ, **(env or {})), capture_output=True, text=True,
                          timeout=120)


def test_a_bad_bench_setting_does_not_break_verify():
    """Issue 9.5: CNNPROP_BENCH_SETTLE=abc made every command fail at start-up."""
    out = _run("verify", "--list", env={"CNNPROP_BENCH_SETTLE": "abc"})
    assert out.returncode == 0, out.stderr
    assert "window_ranges" in out.stdout


def test_a_bad_bench_setting_gets_a_clear_message_from_bench():
    out = _run("bench", "--layer", "lenet2", "--peer", "numpy", env={"CNNPROP_BENCH_SETTLE": "abc"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "cnnprop bench: error: CNNPROP_BENCH_SETTLE" in out.stderr and "'abc'" in out.stderr
    # and its help still works with the bad value set
    assert _run("bench", "--help", env={"CNNPROP_BENCH_SETTLE": "abc"}).returncode == 0


@pytest.mark.parametrize("argv, loaded, absent", [
    (["--help"], [], ["cnnprop.verify", "cnnprop.bench", "cnnprop.nn"]),
    (["verify", "--list"], ["cnnprop.verify"], ["cnnprop.bench", "cnnprop.nn"]),
    (["train", "--help"], ["cnnprop.nn"], ["cnnprop.bench", "cnnprop.verify"]),
    (["bench", "--help"], ["cnnprop.bench"], ["cnnprop.verify", "cnnprop.nn"]),
])
def test_a_command_imports_only_its_own_modules(argv, loaded, absent):
    code = ("import sys\nfrom cnnprop.__main__ import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('cnnprop.')))")
    out = _run(code=code)
    assert out.returncode == 0, out.stderr
    modules = out.stdout.strip().splitlines()[-1]
    for name in loaded:
        assert f"'{name}'" in modules
    for name in absent:
        assert f"'{name}'" not in modules and f"'{name}." not in modules


def test_top_level_help_lists_every_command():
    out = _run("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


def test_version_is_a_readable_line():
    out = _run("--version")
    assert out.returncode == 0
    line = out.stdout.strip()
    assert re.fullmatch(r"cnnprop \d+\.\d+\.\d+\S* \((OpenMP, up to \d+ threads|serial build \(no OpenMP\)); "
                        r"(optimised|bounds-checked) build.*\)", line), line
    assert "{" not in line


@pytest.mark.parametrize("argv", [[], ["verify"], ["bench"], ["train"]])
def test_help_texts_have_no_rest_markup(argv):
    out = _run(*argv, "--help")
    assert out.returncode == 0
    for markup in ("``", ":func:", ":mod:", ":class:", ":meth:"):
        assert markup not in out.stdout, (argv, markup)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help(command):
    parser = cli.build_parser([command])
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    undocumented = [a.option_strings for a in sub._actions if not a.help]
    assert not undocumented


def test_bench_help_explains_every_layer():
    from cnnprop.bench.cases import CONV_LAYERS, POOL_LAYERS

    out = _run("bench", "--help").stdout
    for layer in CONV_LAYERS:
        kind = "convT" if layer.transposed else "conv"
        assert re.search(rf"^  {layer.name} +{kind} +N={layer.N} +C={layer.C} +{layer.H}x{layer.H} -> "
                         rf"K={layer.K} +{layer.R}x{layer.R} kernels, stride {layer.stride}, "
                         rf"padding {layer.padding}", out, re.M), layer.name
    for layer in POOL_LAYERS:
        assert re.search(rf"^  {layer.name} +max pool N={layer.N} +C={layer.C} +{layer.H}x{layer.H}, "
                         rf"{layer.window}x{layer.window} window", out, re.M), layer.name


def test_submodules_are_attributes_loaded_on_first_use():
    """Issue 9.8: ``import cnnprop; cnnprop.verify.run()`` (as the README says) raised AttributeError."""
    code = ("import sys, cnnprop\n"
            "assert 'cnnprop.verify' not in sys.modules and 'cnnprop.nn' not in sys.modules\n"
            "assert callable(cnnprop.verify.run) and callable(cnnprop.bench.run)\n"
            "assert cnnprop.nn.Sequential.__name__ == 'Sequential'\n"
            "assert {'verify', 'nn', 'bench'} <= set(dir(cnnprop))\n"
            "try:\n    cnnprop.nonexistent\nexcept AttributeError as e:\n    print('ok', e)\n")
    out = _run(code=code)
    assert out.returncode == 0, out.stderr
    assert "ok module 'cnnprop' has no attribute 'nonexistent'" in out.stdout
