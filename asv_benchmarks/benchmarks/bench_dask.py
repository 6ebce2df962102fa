"""cnnprop.dask: the graph's overhead against the in-memory call, threads a task, 1 -> 2 worker processes.

The conv layer of ``python -m cnnprop.dask.bench`` (forward plus kernel
gradient, batch chunks; see docs/dask.md). Commits from before cnnprop.dask
(or without dask installed) skip these benchmarks.
"""
import os

# 64 samples in chunks of 8 (about 0.3 s of work on 2 cores); CI's run-once
# check takes a batch of 16 in chunks of 4
_CI = os.environ.get("CNNPROP_ASV_PARAMS") == "ci"
_LAYER = dict(batch=16, chunk=4) if _CI else dict(batch=64, chunk=8)


def _layer():
    try:
        from cnnprop.dask.bench import Layer
        import cnnprop.dask  # noqa: F401  (dask itself may be missing)
    except ImportError as exc:
        raise NotImplementedError(f"no cnnprop.dask here: {exc}") from None
    return Layer(**_LAYER)


class DaskLayer:
    """The same layer in memory, on the synchronous scheduler and on 2 threads.

    ``"threads-oversubscribed"`` gives every task as many OpenMP threads as
    there are cores, against the default of cores / concurrent tasks.
    """

    params = [["in-memory", "sync", "threads", "threads-oversubscribed"]]
    param_names = ["scheduler"]
    rounds = 2
    repeat = (3, 10, 2.0)
    warmup_time = 0.0
    timeout = 300

    def setup(self, scheduler):
        self.layer = _layer()
        import dask

        import cnnprop
        import cnnprop.dask as cd

        z, delta = self.layer.numpy_inputs()
        if scheduler == "in-memory":
            self.run = lambda: self.layer.run(cnnprop, z, delta)
            return
        chunks = lambda a: (self.layer.chunk,) + a.shape[1:]          # noqa: E731
        zd, dd = (dask.array.from_array(a, chunks=chunks(a)) for a in (z, delta))
        threads = cnnprop.build_info()["max_threads"] if scheduler == "threads-oversubscribed" else None
        lazy = self.layer.run(cd, zd, dd, num_threads=threads)
        config = {"scheduler": "sync"} if scheduler == "sync" else {"scheduler": "threads", "num_workers": 2}
        self.run = lambda: dask.compute(*lazy, **config)

    def time_layer(self, scheduler):
        self.run()


class DaskCluster:
    """The layer on a LocalCluster of 1 and of 2 single-threaded worker processes.

    The data are made on the workers from a seed and the forward output stays
    there (persisted); only the kernel gradient comes back.
    """

    params = [[1, 2]]
    param_names = ["workers"]
    rounds = 1
    repeat = (3, 7, 5.0)
    number = 1
    warmup_time = 0.0
    timeout = 600

    def setup(self, workers):
        self.layer = _layer()
        import distributed

        self.cluster = distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                                dashboard_address=None)
        self.client = distributed.Client(self.cluster)
        self.once = self.layer.on_cluster(self.client)
        self.once()                             # warm the workers (imports, first calls)

    def teardown(self, workers):
        self.client.close()
        self.cluster.close()

    def time_layer(self, workers):
        self.once()
