"""Threads, fork and Ctrl-C: a forked child works, no interrupt leaves BLAS pinned.

Each case runs in a fresh interpreter with a timeout, so that a hang (the
defect these tests guard against) fails the test instead of hanging the suite.
"""
import os
import subprocess
import sys
import textwrap

import pytest

import cnnprop
from cnnprop import _threads
from cnnprop._blas_threads import controller

# where the cnnprop under test lives (src/ with an in-place build, else site-packages),
# for the subprocesses to import the same one
SRC = os.path.dirname(os.path.dirname(os.path.abspath(cnnprop.__file__)))
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
needs_openmp = pytest.mark.skipif(not cnnprop.build_info()["openmp"], reason="serial build")
needs_blas_control = pytest.mark.skipif(not controller().available,
                                        reason="the BLAS thread count cannot be controlled")

PRELUDE = """
import os, sys, time
import numpy as np
import cnnprop
from cnnprop import _threads
from cnnprop._blas_threads import controller

rng = np.random.default_rng(0)
z = rng.standard_normal((2, 8, 20, 20))
f = rng.standard_normal((6, 8, 3, 3))
x = rng.standard_normal((4, 6, 40, 40))

def calls(threads):
    return [cnnprop.conv2d_forward(z, f, padding=1, algorithm=a, num_threads=threads)
            for a in ("direct", "fast")] + [
            cnnprop.maxpool2d_forward(x, 2, algorithm=a, num_threads=threads)
            for a in ("direct", "fast")]

def same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a, b))

def wait(pid, seconds=30):
    # the child's exit status, or 99 (after killing it) when it hangs
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return 99
"""


def run(body, timeout=120):
    """Run PRELUDE + body in a fresh interpreter; its stdout. Fails on error or timeout."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    code = PRELUDE + textwrap.dedent(body)
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:  # pragma: no cover - the defect itself
        pytest.fail(f"timed out after {timeout} s (a hang)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@needs_fork
@needs_openmp
def test_forked_child_computes_after_the_parent_ran_two_threads():
    # GNU libgomp keeps the parent's team of threads for reuse; the child
    # inherits the bookkeeping without the threads, and its first parallel
    # region of two threads used to wait for them forever.
    out = run("""
        expected = calls(2)
        assert not _threads.forked_serial()
        pid = os.fork()
        if pid == 0:
            ok = (same(calls(None), expected) and same(calls(2), expected)
                  and _threads.forked_serial() and _threads.resolve_num_threads(2) == 1)
            grandchild = os.fork()  # a fork of the fork is serial too
            if grandchild == 0:
                os._exit(0 if same(calls(2), expected) else 1)
            os._exit(0 if ok and wait(grandchild) == 0 else 1)
        print(wait(pid), same(calls(2), expected), _threads.resolve_num_threads(2))
    """)
    assert out.split() == ["0", "True", "2"]


@needs_fork
@needs_openmp
def test_multiprocessing_fork_pool_after_two_thread_calls():
    out = run("""
        import multiprocessing

        def work(_):
            return calls(None)

        expected = calls(2)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map_async(work, range(4)).get(timeout=60)
        print(all(same(r, expected) for r in results))
    """)
    assert out.split() == ["True"]


@needs_fork
@needs_openmp
def test_fork_before_any_parallel_call_keeps_the_child_parallel():
    out = run("""
        calls(1)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _threads.resolve_num_threads(2) == 2 and len(calls(2)) == 4 else 1)
        print(wait(pid))
    """)
    assert out.split() == ["0"]


@needs_fork
@needs_blas_control
def test_fork_during_another_threads_call_leaves_the_child_blas_free():
    # Another thread is inside a BLAS limit (a kernel call) when the main
    # thread forks: the child must not inherit BLAS pinned to 1 thread, nor
    # a limit that no thread of it will ever close.
    out = run("""
        import threading
        blas = controller()
        blas._set(2)
        inside, release = threading.Event(), threading.Event()

        def hold():
            with blas.limit(1):
                inside.set()
                release.wait()

        t = threading.Thread(target=hold)
        t.start()
        inside.wait()
        pid = os.fork()
        if pid == 0:
            ok = blas.get() == 2
            ok &= len(calls(None)) == 4 and blas.get() == 2
            with blas.limit(1):
                ok &= blas.get() == 1
            os._exit(0 if ok and blas.get() == 2 else 1)
        status = wait(pid)
        pinned = blas.get()
        release.set()
        t.join()
        print(status, pinned, blas.get())
    """)
    assert out.split() == ["0", "1", "2"]


@needs_blas_control
def test_a_stream_of_interrupts_never_leaves_blas_pinned():
    # SIGALRM every 20 us, its handler raising KeyboardInterrupt as Ctrl-C's
    # does, at a loop of small calls and of bare limits: whatever bytecode it
    # lands on, BLAS must end at the count it had, with no limit left open.
    # The handler raises only while `armed` (set inside the try), so that no
    # interrupt escapes the test's own loop.
    out = run("""
        import signal
        blas = controller()
        blas._set(2)
        zs, fs = z[:1, :3, :8, :8].copy(), f[:2, :3].copy()
        armed, hits = False, 0

        def handler(signum, frame):
            global armed
            if armed:
                armed = False
                raise KeyboardInterrupt

        signal.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 20e-6, 20e-6)
        deadline = time.perf_counter() + 1.5
        while time.perf_counter() < deadline:
            try:
                armed = True
                while time.perf_counter() < deadline:
                    with blas.limit(1):
                        pass
                    cnnprop.conv2d_forward(zs, fs, algorithm="fast")
                armed = False
            except KeyboardInterrupt:
                hits += 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        armed = False
        after = blas.get()
        cnnprop.conv2d_forward(zs, fs, algorithm="fast")
        print(hits, after, blas.get())
    """)
    hits, after, final = map(int, out.split())
    assert hits > 100  # the interrupts really landed
    assert (after, final) == (2, 2)


@needs_blas_control
def test_limit_keeps_a_count_set_by_another_thread_meanwhile():
    blas = controller()
    before = blas.get()
    other = 3 if before != 3 else 2
    try:
        with blas.limit(1):
            assert blas.get() == 1
            blas._set(other)  # as threadpoolctl in another thread would
        assert blas.get() == other
        with blas.limit(1):
            with blas.limit(1):
                assert blas.get() == 1
            assert blas.get() == 1
        assert blas.get() == other
    finally:
        blas._set(before)


def test_small_calls_run_on_one_thread_by_default():
    # On a busy machine a parallel region waits for a descheduled thread;
    # num_threads=None keeps calls whose serial time is well under that serial.
    small_conv = 1 * 4 * 14 * 14 * 3 * 3 * 3
    pool_8x16x64x64 = 8 * 16 * 32 * 32 * 2 * 2   # 0.4-0.6 ms on one thread
    for work in (small_conv, pool_8x16x64x64, 2 * _threads.MIN_WORK_PER_THREAD - 1):
        assert _threads.resolve_num_threads(None, work=work) == 1
    assert _threads.resolve_num_threads(2, work=small_conv) == 2  # as asked


def _openmp_settings(**env):
    """libgomp's settings as it prints them (OMP_DISPLAY_ENV) on importing cnnprop, and the env after."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")} | env
    env.update(OMP_DISPLAY_ENV="verbose", PYTHONPATH=os.path.abspath(SRC))
    proc = subprocess.run([sys.executable, "-c", "import os, cnnprop; print(os.environ.get('OMP_WAIT_POLICY'))"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    settings = dict(line.strip().replace("'", "").split(" = ", 1)
                    for line in proc.stderr.splitlines() if " = " in line)
    if "GOMP_SPINCOUNT" not in settings:
        pytest.skip("the OpenMP runtime is not GNU libgomp")
    return settings, proc.stdout.strip()


@needs_openmp
def test_idle_openmp_threads_sleep_instead_of_spinning():
    # libgomp's default spin-wait (GOMP_SPINCOUNT=300000) made 2-thread calls
    # on a machine with busy cores take 30-120 ms instead of 0.04-2 ms.
    settings, leaked = _openmp_settings()
    assert settings["GOMP_SPINCOUNT"] == "0"
    assert leaked == "None"  # set only while libgomp loads: children do not inherit it


@needs_openmp
def test_a_users_wait_policy_is_kept():
    settings, leaked = _openmp_settings(OMP_WAIT_POLICY="active")
    assert settings["OMP_WAIT_POLICY"] == "ACTIVE" and settings["GOMP_SPINCOUNT"] != "0"
    assert leaked == "active"
