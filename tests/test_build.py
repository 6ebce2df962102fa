"""The build: OpenMP really on, the bounds-check switch, thread-count resolution."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnprop
from cnnprop import _threads
from cnnprop._kernels import _support


def test_openmp_is_enabled_in_this_build():
    """Fails when the build silently fell back to serial kernels.

    A serial build is legitimate only on a compiler without OpenMP; there the
    build prints a loud warning and this test can be skipped on purpose with
    CNNPROP_SKIP_OPENMP_TEST=1.
    """
    if os.environ.get("CNNPROP_SKIP_OPENMP_TEST") == "1":
        pytest.skip("CNNPROP_SKIP_OPENMP_TEST=1: serial build accepted on purpose")
    assert cnnprop.build_info()["openmp"], (
        "cnnprop was built without OpenMP: every kernel runs on one thread. "
        "Rebuild with an OpenMP-capable compiler, or set CNNPROP_SKIP_OPENMP_TEST=1.")


def test_boundscheck_build_matches_what_the_runner_asked_for():
    """CI sets CNNPROP_EXPECT_BOUNDSCHECK for its bounds-checked run; this proves the switch took."""
    expected = os.environ.get("CNNPROP_EXPECT_BOUNDSCHECK")
    if expected is None:
        pytest.skip("CNNPROP_EXPECT_BOUNDSCHECK not set")
    assert _support.boundscheck_enabled() == (expected == "1")


def test_build_info_reports_the_build():
    info = cnnprop.build_info()
    assert info["version"] == cnnprop.__version__
    assert isinstance(info["openmp"], bool) and isinstance(info["boundscheck"], bool)
    assert info["max_threads"] >= 1


def test_default_thread_count_respects_the_cpu_quota():
    assert 1 <= _threads.resolve_num_threads(None) <= _threads.cpu_quota()
    assert _threads.resolve_num_threads(3) == 3
    assert _threads.resolve_num_threads(np.int64(2)) == 2


def test_tiny_calls_run_on_one_thread_unless_asked_otherwise():
    assert _threads.resolve_num_threads(None, work=10) == 1
    assert _threads.resolve_num_threads(2, work=10) == 2
    big = _threads.MIN_WORK_PER_THREAD * 64
    assert _threads.resolve_num_threads(None, work=big) == _threads.resolve_num_threads(None)


def test_cpu_quota_parsers():
    assert _threads._parse_cpu_max("max 100000\n", "") is None
    assert _threads._parse_cpu_max("150000 100000\n", "") == 2
    assert _threads._parse_cpu_max("100000 100000\n", "") == 1


@pytest.mark.skipif(not _support.openmp_enabled(), reason="serial build")
def test_omp_num_threads_is_honoured():
    code = "import cnnprop; print(cnnprop.build_info()['max_threads'])"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "1"


def test_parallel_regions_really_use_the_requested_threads():
    expected = 3 if _support.openmp_enabled() else 1
    assert _support.threads_in_parallel_region(3) == expected
    assert _support.threads_in_parallel_region(1) == 1
