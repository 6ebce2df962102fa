"""cnnprop.dask: equality with the in-memory functions, on the threaded scheduler and a real cluster.

Forward passes and input deltas must equal the in-memory result bit for bit
with ``algorithm="direct"`` (float64 sums in a fixed order, for every
chunking); the reduced gradients must stay within the derived rounding bound
of the float64 reference (tests/_helpers.py): a chunk's sum is rounded once
to the dtype and the float64 tree adds ``n_chunks`` terms, so
``L = terms + n_chunks`` with the data type's unit roundoff bounds both paths.
"""
import doctest
import importlib
import inspect
import resource

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
import dask.array as da  # noqa: E402

import cnnprop  # noqa: E402
import cnnprop.dask as cd  # noqa: E402
from cnnprop.dask import _tiles as tiles  # noqa: E402
from cnnprop.geometry import sliding_window  # noqa: E402

from _helpers import assert_within, random  # noqa: E402

# (chunks along H, along W): a chunk of 1 row (smaller than any kernel), a
# stride that does not divide the chunk, one chunk.
AWKWARD = [((1, 4, 2, 6), (3, 1, 5, 2)), ((5, 8), (2, 2, 2, 5)), ((13,), (11,))]
# (stride, padding) on a 13 x 11 image with a 3 x 2 kernel
CONV_CASES = [(1, 0), (2, 1), ((3, 2), (2, 1)), (1, ((2, 0), (1, 3))), (2, "same"), ((2, 3), "valid")]
POOL_CASES = [(3, 2, 1), ((3, 2), (1, 3), (1, 1)), (3, 1, ((1, 0), (0, 2)))]


def accepts(fn, name):
    return name in inspect.signature(fn).parameters


def needs(fn, *names):
    missing = [n for n in names if not accepts(fn, n)]
    return pytest.mark.skipif(bool(missing), reason=f"{fn.__name__} does not take {missing} yet")


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20261128)


@pytest.fixture(autouse=True)
def threaded():
    with dask.config.set(scheduler="threads", num_workers=2):
        yield


def data(rng, dtype, shape=(5, 3, 13, 11)):
    return random(rng, shape, dtype)


def chunked(x, hw, n=2):
    return da.from_array(x, chunks=(n, 2) + hw)


# ---------------------------------------------------------------- tiling rules
@pytest.mark.parametrize("size", [1, 4, 9])
def test_tiles_cover_the_output_and_each_slab_has_exactly_its_windows(size):
    checked = 0
    for extent in (1, 2, 3, 5):
        for stride in (1, 2, 3):
            for before in range(0, 3):
                for after in range(0, 3):
                    for ceil in (False, True):
                        try:
                            g = sliding_window((size, 1), (extent, 1), stride, ((before, after), (0, 0)), 1, ceil)
                        except ValueError:
                            continue
                        axis = tiles.axes(g)[0]
                        for chunks in ([size], [1] * size, [size // 2, size - size // 2]):
                            chunks = [c for c in chunks if c]
                            found = tiles.output_tiles(axis, chunks)
                            assert [t.lo for t in found][0] == 0 and found[-1].hi == axis.out
                            assert all(a.hi == b.lo for a, b in zip(found, found[1:]))
                            for t in found:
                                local = sliding_window((t.in_hi - t.in_lo, 1), (extent, 1), stride,
                                                       ((t.pad_before, t.pad_after), (0, 0)), 1, ceil)
                                assert local.P == t.hi - t.lo
                                # window lo of the image is window 0 of the slab
                                assert t.in_lo - t.pad_before == axis.start(t.lo)
                                assert (t.pad_before == 0) == (t.lo > 0 or before == 0)
                            for lo in range(size):
                                for hi in range(lo + 1, size + 1):
                                    s = tiles.windows_touching(axis, lo, hi)
                                    brute = [p for p in range(axis.out)
                                             if max(axis.start(p), lo) < min(axis.stop(p), hi)]
                                    if not brute:
                                        assert s is None
                                    else:
                                        assert s.lo <= brute[0] and brute[-1] < s.hi
                            checked += 1
    assert checked > 20


# ------------------------------------------------------ convolution, bit for bit
@pytest.mark.parametrize("hw", AWKWARD)
def test_conv_forward_and_input_delta_equal_in_memory_bit_for_bit(rng, hw):
    for i, (stride, padding) in enumerate(CONV_CASES):
        dtype = (np.float32, np.float64)[i % 2]
        z, f, b = data(rng, dtype), random(rng, (4, 3, 3, 2), dtype), random(rng, (4,), dtype)
        y = cd.conv2d_forward(chunked(z, hw), f, b, stride, padding, algorithm="direct").compute()
        ref = cnnprop.conv2d_forward(z, f, b, stride, padding, algorithm="direct")
        assert y.dtype == ref.dtype and np.array_equal(y, ref), (stride, padding)
        delta = random(rng, ref.shape, dtype)
        dd = da.from_array(delta, chunks=(3, 4, 2, 3))
        chunks = hw if i % 3 == 0 else None                  # the default: from delta's chunks
        dz = cd.conv2d_backward_input(dd, f, z.shape, stride, padding, algorithm="direct", input_chunks=chunks)
        assert np.array_equal(dz.compute(), cnnprop.conv2d_backward_input(delta, f, z.shape, stride, padding,
                                                                          algorithm="direct")), (stride, padding)


def test_conv_fast_path_within_its_bound_and_what_is_bitwise(rng):
    """The fast path: the input delta (col2im, a scatter in a fixed order) came out bitwise
    chunk-invariant here; the forward's GEMM blocking follows the tile, so its rounding
    differs, within the GEMM bound."""
    dtype = np.float32
    z, f = data(rng, dtype), random(rng, (4, 3, 3, 2), dtype)
    zd = chunked(z, AWKWARD[0])
    y = cd.conv2d_forward(zd, f, None, 2, 1, algorithm="fast").compute()
    ref64 = cnnprop.conv2d_forward(z.astype(np.float64), f.astype(np.float64), None, 2, 1, algorithm="direct")
    mag = cnnprop.conv2d_forward(np.abs(z).astype(np.float64), np.abs(f).astype(np.float64), None, 2, 1,
                                 algorithm="direct")
    assert_within(y, ref64, mag, f[0].size, "fast forward", accumulate=dtype)
    delta = random(rng, y.shape, dtype)
    dz = cd.conv2d_backward_input(da.from_array(delta, chunks=(2, 4, 3, 2)), f, z.shape, 2, 1,
                                  algorithm="fast").compute()
    ref = cnnprop.conv2d_backward_input(delta, f, z.shape, 2, 1, algorithm="fast")
    assert np.array_equal(dz, ref)


# --------------------------------------------------- pooling
@pytest.mark.parametrize("algorithm", ["direct", "fast"])
def test_maxpool_forward_and_backward_equal_in_memory(rng, algorithm):
    """Forward: bit for bit (a maximum is exact). Backward: bit for bit on the direct path
    (float64 sums over the windows in a fixed order); the fast path sums overlapping windows'
    deltas in the data type in an order that follows the tile, so it is held to that bound."""
    for i, (window, stride, padding) in enumerate(POOL_CASES):
        hw = AWKWARD[i % 2]
        z = np.round(data(rng, np.float32) * 4) / 4          # ties on purpose
        zd = chunked(z, hw)
        y = cd.maxpool2d_forward(zd, window, stride, padding, algorithm=algorithm).compute()
        ref = cnnprop.maxpool2d_forward(z, window, stride, padding, algorithm=algorithm)
        assert np.array_equal(y, ref)
        y = da.from_array(y, chunks=(2, 3, 4, 3))
        delta = random(rng, ref.shape, np.float32)
        g = sliding_window(z.shape[2:], window, window if stride is None else stride, padding)
        overlap = -(-g.R // g.u) * -(-g.S // g.v)           # windows that can share an input
        for ties in ("all", "first"):
            dz = cd.maxpool2d_backward(da.from_array(delta, chunks=(3, 3, 2, 3)), zd, y, window, stride, padding,
                                       ties=ties, algorithm=algorithm).compute()
            exact = cnnprop.maxpool2d_backward(delta, z, ref, window, stride, padding, ties=ties,
                                               algorithm=algorithm)
            if algorithm == "direct" or overlap == 1:
                assert np.array_equal(dz, exact), (window, stride, padding, ties)
            else:
                args = (z.astype(np.float64), ref.astype(np.float64), window, stride, padding)
                d64 = delta.astype(np.float64)
                assert_within(dz, cnnprop.maxpool2d_backward(d64, *args, ties=ties, algorithm="direct"),
                              cnnprop.maxpool2d_backward(np.abs(d64), *args, ties=ties, algorithm="direct"),
                              overlap, "fast pool backward", accumulate=np.float32)


# ------------------------------------------- gradients: tree reduction, bound
@pytest.mark.parametrize("algorithm", ["direct", "fast"])
def test_conv_gradients_within_the_bound_and_deterministic(rng, algorithm):
    for i, (stride, padding) in enumerate([CONV_CASES[1], CONV_CASES[3]]):
        dtype = (np.float32, np.float64)[i]
        z, f = data(rng, dtype), random(rng, (4, 3, 3, 2), dtype)
        y = cnnprop.conv2d_forward(z, f, None, stride, padding)
        delta = random(rng, y.shape, dtype)
        zd, dd = chunked(z, AWKWARD[1]), da.from_array(delta, chunks=(2, 4, (1, 4, 2, 6)[:1] + (y.shape[2] - 1,), 3))
        n_chunks = dd.numblocks[0] * dd.numblocks[2] * dd.numblocks[3]
        N, K, P, Q = y.shape
        w64 = [x.astype(np.float64) for x in (delta, z)]
        for reduction in ("mean", "sum"):
            df = cd.conv2d_backward_filter(dd, zd, (3, 2), stride, padding, reduction=reduction, algorithm=algorithm)
            got = df.compute()
            assert got.dtype == dtype and np.array_equal(got, df.compute())          # deterministic
            ref = cnnprop.conv2d_backward_filter(*w64, (3, 2), stride, padding, reduction=reduction,
                                                 algorithm="direct")
            mag = cnnprop.conv2d_backward_filter(*map(np.abs, w64), (3, 2), stride, padding, reduction=reduction,
                                                 algorithm="direct")
            assert_within(got, ref, mag, N * P * Q + n_chunks, f"df {reduction}", accumulate=dtype)
            db = cd.conv2d_backward_bias(dd, reduction).compute()
            assert_within(db, cnnprop.conv2d_backward_bias(w64[0], reduction),
                          cnnprop.conv2d_backward_bias(np.abs(w64[0]), reduction), N * P * Q + n_chunks,
                          f"db {reduction}", accumulate=dtype)


def test_gradient_of_one_chunk_is_the_in_memory_call(rng):
    z, f = data(rng, np.float64), random(rng, (4, 3, 3, 2), np.float64)
    delta = random(rng, cnnprop.conv2d_forward(z, f, stride=2).shape, np.float64)
    got = cd.conv2d_backward_filter(delta, z, (3, 2), 2, reduction="sum", algorithm="direct").compute()
    assert np.array_equal(got, cnnprop.conv2d_backward_filter(delta, z, (3, 2), 2, reduction="sum",
                                                              algorithm="direct"))


# ------------------------------------------------------ activation and affine
def test_activation_and_affine_equal_in_memory(rng):
    z = data(rng, np.float32)
    zd = da.from_array(z, chunks=(2, 1, 5, 4))
    for name in ("relu", "sigmoid", "tanh"):
        assert np.array_equal(cd.activation_forward(zd, name).compute(), cnnprop.activation_forward(z, name))
        delta = random(rng, z.shape, np.float32)
        got = cd.activation_backward(da.from_array(delta, chunks=3), zd, name).compute()
        assert np.array_equal(got, cnnprop.activation_backward(delta, z, name))
    w, b = random(rng, (6, 3 * 13 * 11), np.float32), random(rng, (6,), np.float32)
    zb = da.from_array(z, chunks=(2, 1, 13, 11))
    out = cd.affine_forward(zb, w, b, algorithm="direct").compute()
    assert np.array_equal(out, cnnprop.affine_forward(z, w, b, algorithm="direct"))
    delta = random(rng, out.shape, np.float32)
    dd = da.from_array(delta, chunks=(2, 6))
    assert np.array_equal(cd.affine_backward_input(dd, w, z.shape, algorithm="direct").compute(),
                          cnnprop.affine_backward_input(delta, w, z.shape, algorithm="direct"))
    d64, z64 = delta.astype(np.float64), z.astype(np.float64)
    assert_within(cd.affine_backward_weight(dd, zb).compute(), cnnprop.affine_backward_weight(d64, z64),
                  cnnprop.affine_backward_weight(np.abs(d64), np.abs(z64)), 5 + 3, "dw", accumulate=np.float32)
    assert_within(cd.affine_backward_bias(dd).compute(), cnnprop.affine_backward_bias(d64),
                  cnnprop.affine_backward_bias(np.abs(d64)), 5 + 3, "db", accumulate=np.float32)


# -------------------------------------------------------------- bad input
def test_bad_input_gets_a_clear_error(rng):
    z = da.ones((2, 3, 5, 5), chunks=1)
    f = np.ones((2, 3, 2, 2))
    with pytest.raises(ValueError, match="reduction"):
        cd.conv2d_backward_filter(da.ones((2, 2, 4, 4)), z, 2, reduction="avg")
    with pytest.raises(ValueError, match="empty batch"):
        cd.conv2d_backward_bias(da.ones((0, 2, 4, 4)))
    with pytest.raises(ValueError, match="delta"):
        cd.conv2d_backward_input(da.ones((2, 2, 3, 3)), f, (2, 3, 5, 5))
    with pytest.raises(ValueError, match="f of shape"):
        cd.conv2d_forward(z, np.ones((2, 4, 2, 2)))
    with pytest.raises(TypeError, match="float32 or float64"):
        cd.conv2d_forward(da.ones((1, 3, 5, 5), dtype=int), f)
    with pytest.raises(TypeError, match="dtype"):
        cd.conv2d_forward(z.astype(np.float32), f)
    with pytest.raises(ValueError, match="stride"):
        cd.conv2d_forward(z, f, stride=0)
    with pytest.raises(ValueError, match="return_indices"):
        cd.maxpool2d_forward(z, 2, return_indices=True)


# ------------------------------------------- options the in-memory API is gaining
@needs(cnnprop.conv2d_forward, "dilation")
@pytest.mark.parametrize("hw", AWKWARD[:2])
def test_conv_dilation_bit_for_bit(rng, hw):
    z, f = data(rng, np.float64), random(rng, (4, 3, 3, 2), np.float64)
    for stride, padding in [(1, 0), (2, "same"), ((2, 1), ((3, 0), (1, 2)))]:
        y = cd.conv2d_forward(chunked(z, hw), f, None, stride, padding, dilation=(2, 3), algorithm="direct")
        ref = cnnprop.conv2d_forward(z, f, None, stride, padding, dilation=(2, 3), algorithm="direct")
        assert np.array_equal(y.compute(), ref)
        delta = random(rng, ref.shape, np.float64)
        dz = cd.conv2d_backward_input(da.from_array(delta, chunks=(2, 4, 2, 2)), f, z.shape, stride, padding,
                                      dilation=(2, 3), algorithm="direct")
        assert np.array_equal(dz.compute(), cnnprop.conv2d_backward_input(delta, f, z.shape, stride, padding,
                                                                          dilation=(2, 3), algorithm="direct"))


@needs(cnnprop.conv2d_forward, "groups")
def test_conv_groups_bit_for_bit(rng):
    z, f = data(rng, np.float64, (4, 4, 9, 8)), random(rng, (6, 2, 3, 3), np.float64)
    y = cd.conv2d_forward(da.from_array(z, chunks=(2, 4, 4, 3)), f, None, 2, 1, groups=2, algorithm="direct")
    assert np.array_equal(y.compute(), cnnprop.conv2d_forward(z, f, None, 2, 1, groups=2, algorithm="direct"))


@needs(cnnprop.conv2d_forward, "padding_mode")
def test_conv_padding_mode_is_chunked_along_the_batch_only(rng):
    z, f = data(rng, np.float64), random(rng, (4, 3, 3, 2), np.float64)
    y = cd.conv2d_forward(chunked(z, AWKWARD[0]), f, None, 1, 1, padding_mode="reflect", algorithm="direct")
    assert y.numblocks[2:] == (1, 1)
    assert np.array_equal(y.compute(), cnnprop.conv2d_forward(z, f, None, 1, 1, padding_mode="reflect",
                                                              algorithm="direct"))


@needs(cnnprop.maxpool2d_forward, "dilation", "ceil_mode")
@pytest.mark.parametrize("hw", AWKWARD[:2])
def test_maxpool_dilation_and_ceil_mode_bit_for_bit(rng, hw):
    z = np.round(data(rng, np.float32) * 4) / 4
    cases = [(2, 2, 0, 1, True), (3, 2, 1, 2, True), ((2, 3), (3, 1), 1, 2, False)]
    for window, stride, padding, dilation, ceil in cases:
        zd = chunked(z, hw)
        opts = dict(dilation=dilation, ceil_mode=ceil)
        y = cd.maxpool2d_forward(zd, window, stride, padding, **opts)
        ref = cnnprop.maxpool2d_forward(z, window, stride, padding, **opts)
        assert np.array_equal(y.compute(), ref)
        delta = random(rng, ref.shape, np.float32)
        for ties in ("all", "first"):
            # the literal kernel: overlapping windows' deltas summed in float64 and rounded
            # once, so a tile's sums are the whole image's (the fast path sums in float32)
            dz = cd.maxpool2d_backward(delta, zd, y, window, stride, padding, ties=ties, algorithm="direct",
                                       **opts)
            assert np.array_equal(dz.compute(), cnnprop.maxpool2d_backward(delta, z, ref, window, stride, padding,
                                                                           ties=ties, algorithm="direct", **opts))


@pytest.mark.parametrize("hw", AWKWARD)
def test_avgpool_forward_and_backward_bit_for_bit(rng, hw):
    """Average pooling on awkward tiles equals the in-memory literal kernels exactly,
    with the divisor options that read the border (count_include_pad, ceil_mode)."""
    z = data(rng, np.float64)
    cases = [(3, 2, 1, {}), ((3, 2), (1, 3), (1, 1), {"count_include_pad": False}),
             (3, 2, ((1, 0), (0, 2)), {"ceil_mode": True}), (2, 3, 1, {"ceil_mode": True, "count_include_pad": False}),
             (3, 1, 1, {"divisor_override": 5})]
    for window, stride, padding, opts in cases:
        y = cd.avgpool2d_forward(chunked(z, hw), window, stride, padding, algorithm="direct", **opts)
        ref = cnnprop.avgpool2d_forward(z, window, stride, padding, algorithm="direct", **opts)
        assert np.array_equal(y.compute(), ref), (window, stride, padding, opts)
        delta = random(rng, ref.shape, np.float64)
        dd = da.from_array(delta, chunks=(2, 2, 3, 2))
        dz = cd.avgpool2d_backward(dd, z.shape, window, stride, padding, input_chunks=hw, algorithm="direct", **opts)
        assert dz.chunks[2:] == hw
        assert np.array_equal(dz.compute(), cnnprop.avgpool2d_backward(delta, z.shape, window, stride, padding,
                                                                       algorithm="direct", **opts))


# -------------------------------------------------------- the docstrings
@pytest.mark.parametrize("module", ["cnnprop.dask.conv", "cnnprop.dask.conv_transpose", "cnnprop.dask.pool",
                                    "cnnprop.dask.activation",
                                    "cnnprop.dask.affine"])
def test_docstrings_cite_their_equation_and_examples_run(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        doc = inspect.getdoc(getattr(mod, name))
        assert "Returns\n-------" in doc and "Examples\n--------" in doc and "eq" in doc, name
    with dask.config.set(scheduler="sync"):
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------- threads per task
def test_threads_per_task_share_the_cores():
    cores = cnnprop.build_info()["max_threads"]
    assert cd.task_threads() == cores                       # the calling thread runs alone
    with dask.config.set(scheduler="threads", num_workers=2):
        got = da.from_delayed(dask.delayed(lambda: np.array([cd.task_threads()]))(), (1,), int).compute()
    assert got[0] == max(1, cores // 2)


# ---------------------------------------------------- a real local cluster
# Worker processes get LIMIT bytes each. Pausing and spilling are off so that a
# worker over the limit is not parked but killed by its nanny (at 95%), which
# the test would see; the peak RSS of each worker process is checked as well.
LIMIT = 140 * 2 ** 20


def _peak_rss():
    # VmHWM, the peak RSS of this process's own memory map. Not getrusage's
    # ru_maxrss: Linux carries that across exec, so a worker started by a
    # large parent (a long pytest run) would report the parent's size.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024       # not Linux: KiB


@pytest.fixture(scope="module")
def client():
    memory = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
              "distributed.worker.memory.pause": False}
    with dask.config.set(memory):
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           memory_limit=LIMIT, dashboard_address=None)
        with cluster, distributed.Client(cluster) as c:
            yield c


def test_cluster_results_equal_in_memory(client, rng):
    z, f, b = data(rng, np.float64), random(rng, (4, 3, 3, 2), np.float64), random(rng, (4,), np.float64)
    zd = chunked(z, AWKWARD[1], n=3)
    y = cd.conv2d_forward(zd, f, b, 2, 1, algorithm="direct")
    p = cd.maxpool2d_forward(y, 2, 1, ((1, 0), (0, 1)))
    delta = random(rng, y.shape, np.float64)
    dd = da.from_array(delta, chunks=(3, 4, 4, 3))
    df = cd.conv2d_backward_filter(dd, zd, (3, 2), 2, 1, algorithm="direct")
    dz = cd.conv2d_backward_input(dd, f, z.shape, 2, 1, algorithm="direct")
    got = client.compute([y, p, df, dz, dask.delayed(cd.task_threads)()], sync=True)
    ref = cnnprop.conv2d_forward(z, f, b, 2, 1, algorithm="direct")
    assert np.array_equal(got[0], ref)
    assert np.array_equal(got[1], cnnprop.maxpool2d_forward(ref, 2, 1, ((1, 0), (0, 1))))
    N, K, P, Q = ref.shape
    assert_within(got[2], cnnprop.conv2d_backward_filter(delta, z, (3, 2), 2, 1, algorithm="direct"),
                  cnnprop.conv2d_backward_filter(np.abs(delta), np.abs(z), (3, 2), 2, 1, algorithm="direct"),
                  N * P * Q + dd.numblocks[0] * dd.numblocks[2] * dd.numblocks[3], "df on the cluster")
    assert np.array_equal(got[3], cnnprop.conv2d_backward_input(delta, f, z.shape, 2, 1, algorithm="direct"))
    # a worker runs one task at a time, and its nanny set OMP_NUM_THREADS=1
    assert got[4] == 1


def test_out_of_core_filter_bank_and_gradients_within_the_memory_limit(client, tmp_path):
    """A filter bank over a zarr image 3x the workers' memory limit, streamed to a zarr
    result; then the filter gradient over a batch larger than the limit. (docs/dask.md)"""
    zarr = pytest.importorskip("zarr")
    side = 10752                                      # 10752^2 float32 = 441 MiB = 3.15 x LIMIT
    image = da.random.default_rng(7).standard_normal((1, 1, side, side), dtype=np.float32,
                                                     chunks=(1, 1, 1536, 3072))
    image.to_zarr(str(tmp_path / "image.zarr"))
    z = da.from_zarr(str(tmp_path / "image.zarr"))
    assert z.nbytes >= 3 * LIMIT
    bank = random(np.random.default_rng(8), (2, 1, 3, 3), np.float32)
    out = cd.conv2d_forward(z, bank, None, 3, 1, algorithm="direct")
    # output tiles follow the input chunks (513, 512, 512, ... rows): zarr wants regular chunks
    out.rechunk((1, 2, 512, 1024)).to_zarr(str(tmp_path / "out.zarr"))
    # check a border strip against an independent reference: explicit zero padding, no tiles
    result = zarr.open(str(tmp_path / "out.zarr"), mode="r")
    strip = np.pad(np.asarray(zarr.open(str(tmp_path / "image.zarr"), mode="r")[:, :, :299, :600]),
                   ((0, 0), (0, 0), (1, 0), (1, 0)))
    ref = cnnprop.conv2d_forward(strip, bank, None, 3, 0, algorithm="direct")
    assert np.array_equal(result[:, :, :100, :200], ref[:, :, :100, :200])

    batch = da.random.default_rng(9).standard_normal((18, 2, 1024, 1024), dtype=np.float32,
                                                     chunks=(1, 2, 1024, 1024))   # 144 MiB
    assert batch.nbytes > LIMIT
    delta = da.random.default_rng(10).standard_normal((18, 4, 512, 512), dtype=np.float32, chunks=(1, 4, 512, 512))
    df = cd.conv2d_backward_filter(delta, batch, 3, 2, 1).compute()
    # the float64 reference and the magnitude sum|terms|, two halves of the batch at a time in memory
    ref, mag = np.zeros((2, 4, 2, 3, 3))
    for i in (0, 9):
        d, x = (a[i:i + 9].compute().astype(np.float64) for a in (delta, batch))
        ref += cnnprop.conv2d_backward_filter(d, x, 3, 2, 1, reduction="sum", algorithm="direct") / 18
        mag += cnnprop.conv2d_backward_filter(np.abs(d), np.abs(x), 3, 2, 1, reduction="sum", algorithm="direct") / 18
    assert_within(df, ref, mag, 9 * 512 * 512 + 18, "df out of core", accumulate=np.float32)

    peaks = client.run(_peak_rss)
    print("peak RSS of the workers (MiB):", {k: v / 2 ** 20 for k, v in peaks.items()})
    assert len(peaks) == 2 and max(peaks.values()) < LIMIT, peaks


TRANSPOSED = [
    dict(stride=2, padding=((1, 0), (0, 1)), output_padding=1, groups=2, dilation=(1, 2)),
    dict(stride=3, padding=1, output_padding=2, groups=1, dilation=1),
    # output_padding not below the stride (allowed below the dilation): batch chunks only
    dict(stride=1, padding=0, output_padding=(1, 0), groups=2, dilation=(2, 1)),
]


@pytest.mark.parametrize("kw", TRANSPOSED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_transpose_tiles(rng, dtype, kw):
    """Transposed convolution tiled along H and W (a chunk smaller than the kernel, strides that do
    not divide a chunk): forward and input gradient bit for bit on the literal kernels, within the
    GEMM bound on the fast path; the kernel gradient a tree reduction within the bound."""
    x = random(rng, (5, 4, 7, 5), dtype)
    f = random(rng, (4, 3, 3, 2), dtype)
    b = random(rng, (3 * kw["groups"],), dtype)
    xd = da.from_array(x, chunks=(2, 1, 2, 3))
    ref = cnnprop.conv_transpose2d_forward(x, f, b, **kw, algorithm="direct")
    delta = random(rng, ref.shape, dtype)
    dd = da.from_array(delta, chunks=(2, 6, 4, 3))
    rdx = cnnprop.conv_transpose2d_backward_input(delta, f, x.shape, **kw, algorithm="direct")
    y = cd.conv_transpose2d_forward(xd, f, b, **kw, algorithm="direct")
    dx = cd.conv_transpose2d_backward_input(dd, f, x.shape, **kw, algorithm="direct")
    assert y.shape == ref.shape and np.array_equal(y.compute(), ref)
    assert np.array_equal(dx.compute(), rdx)
    if kw["output_padding"] == 2:       # tiled: the output is in more than one tile
        assert y.numblocks[2:] != (1, 1) and dx.numblocks[2:] != (1, 1)
    x64, f64, d64 = (a.astype(np.float64) for a in (x, f, delta))
    C_in, C_out = x.shape[1], b.size
    taps = f.shape[2] * f.shape[3]
    fast_y = cd.conv_transpose2d_forward(xd, f, b, **kw, algorithm="fast").compute()
    assert_within(fast_y, cnnprop.conv_transpose2d_forward(x64, f64, b.astype(np.float64), **kw),
                  cnnprop.conv_transpose2d_forward(np.abs(x64), np.abs(f64), np.abs(b.astype(np.float64)), **kw),
                  C_in // kw["groups"] * taps + 1, "transposed forward, fast, tiled", accumulate=dtype)
    fast_dx = cd.conv_transpose2d_backward_input(dd, f, x.shape, **kw, algorithm="fast").compute()
    assert_within(fast_dx, cnnprop.conv_transpose2d_backward_input(d64, f64, x.shape, **kw),
                  cnnprop.conv_transpose2d_backward_input(np.abs(d64), np.abs(f64), x.shape, **kw),
                  C_out // kw["groups"] * taps, "transposed input gradient, fast, tiled", accumulate=dtype)
    for reduction in ("mean", "sum"):
        df = cd.conv_transpose2d_backward_filter(dd, xd, (3, 2), **kw, reduction=reduction).compute()
        truth = cnnprop.conv_transpose2d_backward_filter(d64, x64, (3, 2), **kw, reduction=reduction,
                                                         algorithm="direct")
        mag = cnnprop.conv_transpose2d_backward_filter(np.abs(d64), np.abs(x64), (3, 2), **kw,
                                                       reduction=reduction, algorithm="direct")
        assert df.dtype == dtype
        assert_within(df, truth, mag, delta[:, 0].size + 3, f"transposed df {reduction}", accumulate=dtype)


def test_conv_transpose_bad_input_is_refused_at_once(rng):
    x = da.ones((2, 3, 4, 4))
    with pytest.raises(ValueError, match="C_in"):
        cd.conv_transpose2d_forward(x, np.ones((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="output_padding"):
        cd.conv_transpose2d_forward(x, np.ones((3, 1, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(TypeError):
        cd.conv_transpose2d_backward_input(da.ones((2, 3, 6, 6), dtype=np.float32), np.ones((1, 3, 3, 3)),
                                           (2, 1, 4, 4))


def test_the_benchmark_layer_on_the_cluster_gives_the_in_memory_gradient(client):
    from cnnprop.dask.bench import Layer
    layer = Layer(batch=6, channels=3, size=9, kernels=4, chunk=4, dtype="float64")
    z, delta = layer.numpy_inputs()
    got = layer.on_cluster(client)()
    want = cnnprop.conv2d_backward_filter(delta, z, (3, 3), 1, 1)
    bound = cnnprop.conv2d_backward_filter(np.abs(delta), np.abs(z), (3, 3), 1, 1)
    assert_within(got, want, bound, 6 * 81 + 2, "the benchmark's gradient on the cluster")


def test_the_benchmark_command_reports_every_configuration(capsys):
    from cnnprop.dask import bench
    seconds = bench.main(["--batch", "4", "--channels", "2", "--size", "8", "--kernels", "3", "--chunk", "3",
                          "--repeat", "2", "--no-cluster"])
    assert len(seconds) == 4 and all(len(t) == 2 and min(t) > 0 for t in seconds.values())
    out = capsys.readouterr().out
    assert "in memory" in out and "2 threads x 2 OpenMP threads" in out and "Mpix/s" in out
