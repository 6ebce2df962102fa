"""The effective thread count of a kernel call: one helper, used by every layer."""
import functools
import math
import os

from . import geometry
from ._kernels import _support

__all__ = ["resolve_num_threads", "cpu_quota", "check_signals", "forked_serial"]


def cpu_quota():
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota.

    Returns
    -------
    int
        At least 1.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        count = min(count, limit)
    return max(1, count)


@functools.lru_cache(maxsize=None)
def _cgroup_cpu_limit():
    """The cgroup CPU quota in whole CPUs (rounded up), or None; read once.

    Reading the files costs tens of microseconds (hundreds on a busy
    machine), as much as a small call, so it is cached: a quota changed while
    the process runs is not seen.
    """
    # cgroup v2, then v1: a container limited to 1.5 CPUs gets 2 threads.
    for path, parse in (("/sys/fs/cgroup/cpu.max", _parse_cpu_max),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", _parse_cfs)):
        try:
            with open(path) as fh:
                limit = parse(fh.read(), path)
        except (OSError, ValueError):
            continue
        if limit is not None:
            return limit
    return None


def _parse_cpu_max(text, path):
    quota, period = text.split()[:2]
    if quota == "max":
        return None
    return math.ceil(int(quota) / int(period))


def _parse_cfs(text, path):
    quota = int(text)
    if quota <= 0:
        return None
    with open(os.path.join(os.path.dirname(path), "cpu.cfs_period_us")) as fh:
        return math.ceil(quota / int(fh.read()))


# Below this many inner-loop iterations per thread, opening a parallel region
# costs more than it saves (and on a loaded machine a descheduled thread makes
# the join wait a whole time slice), so automatic thread counts stay lower.
MIN_WORK_PER_THREAD = 524288

# More threads than this on one machine is a mistake, not a request.
MAX_THREADS = max(256, 8 * (os.cpu_count() or 1))


def resolve_num_threads(num_threads, work=None):
    """Threads a kernel call will use.

    Parameters
    ----------
    num_threads : int or None
        ``None``: what OpenMP allows (``omp_get_max_threads()``, which honours
        ``OMP_NUM_THREADS`` as read when the process started OpenMP, and
        threadpoolctl limits), capped by the CPU quota of the process, and
        by ``work / MIN_WORK_PER_THREAD`` so that tiny calls run on one
        thread. A positive int up to ``MAX_THREADS`` is used as given,
        except in a process forked from one that ran threads (see
        :func:`forked_serial`), where every call runs on one thread.
    work : int, optional
        Inner-loop iterations of the call (e.g. multiply-adds), for the
        automatic count.

    Returns
    -------
    int
        At least 1. Always 1 in effect when the kernels were built without OpenMP.

    Raises
    ------
    TypeError
        If ``num_threads`` is not None or an int.
    ValueError
        If ``num_threads`` is 0, negative, or above ``MAX_THREADS``.
    """
    if num_threads is None:
        if work is not None and work < 2 * MIN_WORK_PER_THREAD:
            return 1  # without asking the system: this is most calls of a small network
        count = max(1, min(_support.openmp_max_threads(), cpu_quota()))
        if work is not None:
            count = max(1, min(count, int(work) // MIN_WORK_PER_THREAD))
    else:
        count = geometry.as_int(num_threads, "num_threads")
        if count < 1:
            raise ValueError(f"num_threads must be None or >= 1, got {count}")
        if count > MAX_THREADS:
            # OpenMP would try to create them all, and fail or crash
            raise ValueError(f"num_threads must be <= {MAX_THREADS}, got {count}")
    if count > 1:
        if _fork.serial:
            return 1
        _fork.used_threads = True
    return count


class _ForkState:
    """Whether OpenMP ran a team of threads here, and whether this is a fork of such a process."""
    used_threads = False
    serial = False


_fork = _ForkState()


def forked_serial():
    """True when this process is a fork of one whose OpenMP ran threads: calls run on 1 thread.

    GNU libgomp keeps the team of threads of a parallel region for the next
    one; ``fork()`` copies that bookkeeping but not the threads, so the
    child's first parallel region of more than one thread would wait for
    them forever. A team of one runs on the calling thread only, which works.
    """
    return _fork.serial


def _after_fork_in_child():
    if _fork.used_threads:
        _fork.serial = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def check_signals():
    """Run the pending signal handlers now, raising what they raise (KeyboardInterrupt).

    A kernel call runs compiled code without the GIL, and CPython runs
    signal handlers only in the main thread between bytecodes, so Ctrl-C
    during a call is answered when the call returns. A call split into
    chunks whose boundaries depend on the shapes only (so results stay
    bitwise identical) can call this between chunks to answer sooner. It
    does nothing outside the main thread.

    Raises
    ------
    KeyboardInterrupt
        Or whatever a pending signal's handler raises.
    """
    _support.check_signals()
