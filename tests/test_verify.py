"""cnnprop.verify: the command runs, reports honestly, and its pieces are right."""
import subprocess
import sys

import pytest

from cnnprop import verify


def test_quick_run_passes_and_prints_the_summary_line():
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "verify", "--quick"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"{len(verify.run(quick=True, checks=['*']).rows)} passed, 0 failed")


def test_selecting_nothing_is_an_error():
    with pytest.raises(ValueError, match="no check matches"):
        verify.run(checks=["no_such_check"])
    proc = subprocess.run([sys.executable, "-m", "cnnprop", "verify", "--check", "nothing"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no check matches" in proc.stderr
