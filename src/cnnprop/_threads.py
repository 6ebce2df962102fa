"""The effective thread count of a kernel call: one helper, used by every layer."""
import math
import os

from . import geometry
from ._kernels import _support

__all__ = ["resolve_num_threads", "cpu_quota"]


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
    # cgroup v2, then v1: a container limited to 1.5 CPUs gets 2 threads.
    for path, parse in (("/sys/fs/cgroup/cpu.max", _parse_cpu_max),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", _parse_cfs)):
        try:
            with open(path) as fh:
                limit = parse(fh.read(), path)
        except (OSError, ValueError):
            continue
        if limit is not None:
            count = min(count, limit)
            break
    return max(1, count)


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
MIN_WORK_PER_THREAD = 32768

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
        thread. A positive int up to ``MAX_THREADS`` is used as given.
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
        count = max(1, min(_support.openmp_max_threads(), cpu_quota()))
        if work is not None:
            count = max(1, min(count, int(work) // MIN_WORK_PER_THREAD))
        return count
    count = geometry.as_int(num_threads, "num_threads")
    if count < 1:
        raise ValueError(f"num_threads must be None or >= 1, got {count}")
    if count > MAX_THREADS:
        # OpenMP would try to create them all, and fail or crash
        raise ValueError(f"num_threads must be <= {MAX_THREADS}, got {count}")
    return count
