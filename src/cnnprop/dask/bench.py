"""Overhead, threads and scaling of cnnprop.dask: ``python -m cnnprop.dask.bench``.

One conv layer (3x3, stride 1, padding 1, forward plus kernel gradient) on a
batch that fits in memory, chunked along the batch:

1. in memory, then on the synchronous scheduler (one task at a time: the
   graph's own overhead) and on the threaded scheduler with 2 threads, once
   with cnnprop's choice of OpenMP threads a task (cores / concurrent tasks)
   and once oversubscribed (2 OpenMP threads in each of 2 tasks);
2. on a ``LocalCluster`` of 1 and of 2 worker processes of 1 thread each,
   the data made on the workers from a seed (nothing is sent from the
   client) and the forward output kept there, as a pipeline writing its
   output to storage would.

Medians (and best) of ``repeat`` runs, in megapixels of input a second.
The numbers in docs/dask.md come from here; asv_benchmarks/benchmarks/
bench_dask.py times the same configurations.
"""
import argparse
import statistics
import time

import numpy as np

import cnnprop

__all__ = ["Layer", "main"]


class Layer:
    """The benchmark's conv layer and its data, in memory and as dask arrays.

    Parameters
    ----------
    batch, channels, size, kernels : int
        N, C, H = W and K of the layer (3x3 kernels, stride 1, padding 1).
    chunk : int
        Samples a batch chunk.
    dtype : str
        ``"float32"`` or ``"float64"``.
    """

    def __init__(self, batch=64, channels=16, size=64, kernels=32, chunk=8, dtype="float32"):
        self.shape = (batch, channels, size, size)
        self.delta_shape = (batch, kernels, size, size)
        self.chunk = chunk
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(0)
        self.f = rng.standard_normal((kernels, channels, 3, 3)).astype(self.dtype)

    @property
    def megapixels(self):
        """Input pixels of the whole batch, in millions."""
        return self.shape[0] * self.shape[2] * self.shape[3] / 1e6

    def dask_inputs(self):
        """The input and the output delta as seeded dask arrays, made inside their tasks."""
        import dask.array as da

        rng = da.random.default_rng(1)
        chunks = lambda shape: (self.chunk,) + shape[1:]          # noqa: E731
        z = rng.standard_normal(self.shape, chunks=chunks(self.shape), dtype=self.dtype)
        delta = rng.standard_normal(self.delta_shape, chunks=chunks(self.delta_shape), dtype=self.dtype)
        return z, delta

    def numpy_inputs(self):
        """The same input and delta computed into memory."""
        import dask
        return dask.compute(*self.dask_inputs(), scheduler="sync")

    def run(self, module, z, delta, num_threads=None):
        """Forward output and kernel gradient, with ``module`` cnnprop or cnnprop.dask."""
        y = module.conv2d_forward(z, self.f, None, 1, 1, num_threads=num_threads)
        df = module.conv2d_backward_filter(delta, z, self.f.shape[2:], 1, 1, num_threads=num_threads)
        return y, df

    def on_cluster(self, client):
        """A callable running the layer on ``client``'s cluster, its data made and kept there.

        The input and the delta are made on the workers from a seed (nothing
        is sent from the client); each call persists the forward output on the
        workers, as a pipeline writing it to storage would, and brings back
        (and returns) only the kernel gradient.
        """
        import distributed

        import cnnprop.dask as cd

        z, delta = client.persist(list(self.dask_inputs()))
        distributed.wait([z, delta])
        y, df = self.run(cd, z, delta)

        def once():
            out = client.persist(y)
            gradient = client.compute(df, sync=True)
            distributed.wait(out)
            return gradient

        # keeps the persisted inputs on the workers: a graph built on them
        # does not hold their futures
        once.inputs = (z, delta)

        return once


def _times(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _on_cluster(layer, workers, repeat):
    """Times of the layer on a LocalCluster of ``workers`` single-threaded processes."""
    import distributed

    with distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        once = layer.on_cluster(client)
        once()                                  # warm the workers (imports, first calls)
        return _times(once, repeat)


def main(argv=None):
    """Run the benchmark and print one line a configuration.

    Parameters
    ----------
    argv : list of str, optional
        ``--batch --channels --size --kernels --chunk --repeat --dtype
        --no-cluster``.

    Returns
    -------
    dict
        The times (seconds) of every run, by configuration.
    """
    import dask

    import cnnprop.dask as cd

    parser = argparse.ArgumentParser(prog="python -m cnnprop.dask.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--kernels", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=8, help="samples a batch chunk")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--no-cluster", action="store_true", help="leave out the LocalCluster runs")
    args = parser.parse_args(argv)
    layer = Layer(args.batch, args.channels, args.size, args.kernels, args.chunk, args.dtype)
    z, delta = layer.numpy_inputs()
    zd, dd = (dask.array.from_array(a, chunks=(args.chunk,) + a.shape[1:]) for a in (z, delta))
    lazy = layer.run(cd, zd, dd)
    oversubscribed = layer.run(cd, zd, dd, num_threads=cnnprop.build_info()["max_threads"])
    print(f"conv 3x3 {layer.shape} -> K={layer.f.shape[0]}, {args.dtype}, batch chunks of {args.chunk}, "
          f"{cnnprop.build_info()['max_threads']} cores; median (best) of {args.repeat}")
    seconds = {}

    def report(name, times):
        seconds[name] = times
        med = statistics.median(times)
        print(f"{name:<44} {med * 1e3:8.1f} ms ({min(times) * 1e3:7.1f})  "
              f"{layer.megapixels / med:7.2f} Mpix/s", flush=True)

    report("in memory", _times(lambda: layer.run(cnnprop, z, delta), args.repeat))
    with dask.config.set(scheduler="sync"):
        report("dask, synchronous scheduler", _times(lambda: dask.compute(*lazy), args.repeat))
    with dask.config.set(scheduler="threads", num_workers=2):
        report("dask, 2 threads x 1 OpenMP thread (default)", _times(lambda: dask.compute(*lazy), args.repeat))
        report("dask, 2 threads x 2 OpenMP threads",
               _times(lambda: dask.compute(*oversubscribed), args.repeat))
    if not args.no_cluster:
        for workers in (1, 2):
            report(f"LocalCluster, {workers} process(es) x 1 thread", _on_cluster(layer, workers, args.repeat))
    return seconds


if __name__ == "__main__":
    main()
