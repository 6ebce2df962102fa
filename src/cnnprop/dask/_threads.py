"""OpenMP threads for one dask task, so that tasks x threads do not exceed the cores."""
import os
import threading

import cnnprop

__all__ = ["concurrent_tasks", "task_threads"]


def concurrent_tasks():
    """How many dask tasks may run at once in this process.

    A ``distributed`` worker runs ``nthreads`` tasks at once; the threaded
    scheduler runs ``num_workers`` (dask config) or one a CPU; a task on the
    calling thread (the synchronous scheduler) runs alone.
    """
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    if threading.current_thread() is threading.main_thread():
        return 1
    import dask
    return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))


def task_threads():
    """``num_threads`` for a kernel call inside a dask task.

    The cores cnnprop may use in this process (``build_info()["max_threads"]``:
    the CPU affinity and cgroup quota, capped by ``OMP_NUM_THREADS``, which a
    ``distributed`` nanny sets to 1 by default) shared among the tasks that
    may run at once (:func:`concurrent_tasks`), at least 1.
    """
    return max(1, cnnprop.build_info()["max_threads"] // concurrent_tasks())
