"""Overhead and scaling of cnnprop.dask: ``python -m cnnprop.dask.bench`` (numbers in docs/dask.md).

1. The same conv layer (forward, filter gradient) on data that fits in memory:
   in memory, on the synchronous scheduler (one chunk at a time: the pure
   overhead of the graph), on the threaded scheduler (2 threads).
2. The same on a ``LocalCluster`` of 1 and of 2 worker processes (1 thread each).
Best of ``repeat`` runs, in megapixels of input a second.
"""
import argparse
import time

import numpy as np

import cnnprop

__all__ = ["main"]


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _layer(conv, z, f, delta, **kw):
    y = conv.conv2d_forward(z, f, None, 1, 1, **kw)
    df = conv.conv2d_backward_filter(delta, z, f.shape[2:], 1, 1, **kw)
    return y, df


def main(argv=None):
    """Run the benchmark and print one line a configuration.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    dict
        Seconds a configuration.
    """
    import dask
    import dask.array as da
    import distributed

    import cnnprop.dask as cd

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=8, help="batch chunk")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((args.batch, 8, args.size, args.size)).astype(np.float32)
    f = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    delta = rng.standard_normal((args.batch, 16, args.size, args.size)).astype(np.float32)
    zd = da.from_array(z, chunks=(args.chunk, 8, args.size, args.size))
    dd = da.from_array(delta, chunks=(args.chunk, 16, args.size, args.size))
    mpix = z.shape[0] * z.shape[2] * z.shape[3] / 1e6
    seconds = {}

    def report(name, t):
        seconds[name] = t
        print(f"{name:<34} {t * 1e3:9.1f} ms  {mpix / t:8.2f} Mpix/s")

    report("in memory (all threads)", _best(lambda: _layer(cnnprop, z, f, delta), args.repeat))
    lazy = _layer(cd, zd, f, dd)
    for scheduler, workers in (("sync", 1), ("threads", 2)):
        with dask.config.set(scheduler=scheduler, num_workers=workers):
            report(f"dask {scheduler} ({workers})", _best(lambda: dask.compute(*lazy), args.repeat))
    for n in (1, 2):
        with distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            # the data lives on the workers, as it would when loaded by dask
            zp, dp = client.persist([zd, dd])
            on_cluster = _layer(cd, zp, f, dp)
            client.compute(on_cluster, sync=True)           # warm the workers (imports)
            report(f"LocalCluster {n} process(es) x 1 thread", _best(lambda: client.compute(on_cluster, sync=True),
                                                                     args.repeat))
    return seconds


if __name__ == "__main__":
    main()
