"""``cnnprop bench``: the command-line face of :func:`cnnprop.bench.run`."""
import sys

from . import report
from .cases import CONV_LAYERS, LAYER_HELP, POOL_LAYERS
from .runner import run

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Options of the bench subcommand."""
    names = ", ".join(layer.name for layer in CONV_LAYERS + POOL_LAYERS)
    parser.epilog = LAYER_HELP
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every implementation (default: what cnnprop would use)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (medians; default 7)")
    parser.add_argument("--layer", action="append", metavar="NAME", help=f"one of: {names}; repeatable")
    parser.add_argument("--peer", action="append", choices=("torch", "numpy"),
                        help="peers to time (default: both)")
    parser.add_argument("--with-direct", action="store_true", help="also time the literal kernels (slow)")
    parser.add_argument("--plot", metavar="PNG", default="cnnprop-bench.png",
                        help="where to write the plot of the speed-ups (default cnnprop-bench.png)")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")


def main(args, out=None):
    """Run the benchmark, print the table, write the plot; return the exit code."""
    out = out or sys.stdout
    if args.repeats < 1:
        print("cnnprop bench: error: --repeats must be >= 1", file=sys.stderr)
        return 2
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)

    def progress(record):
        print(f"  {record.dtype} {record.layer} {record.direction}: {record.impl} {record.ms:.2f} ms",
              file=sys.stderr, flush=True)

    try:
        results = run(dtypes=dtypes, threads=args.threads, repeats=args.repeats, layers=args.layer,
                      peers=tuple(args.peer or ("torch", "numpy")), with_direct=args.with_direct,
                      progress=progress)
    except ValueError as exc:
        print(f"cnnprop bench: error: {exc}", file=sys.stderr)
        return 2
    rates = ", ".join(f"{d} {r:.0f} GFLOP/s" for d, r in results.gemm.items())
    print(f"cnnprop bench: {results.threads} threads, medians of {results.repeats} interleaved rounds; "
          f"measured GEMM rate (scipy BLAS, 2048^3): {rates}", file=out)
    for note in results.notes:
        print(f"note: {note}", file=out)
    print(report.table(results), file=out)
    print("rate: GFLOP/s for convolutions (2 N K P Q C R S), GB/s of input for pooling; %GEMM: share of "
          "the GEMM rate; vs X: X's time / cnnprop's (above 1: cnnprop faster); peak MB: cnnprop's "
          "allocations during the call, output included", file=out)
    if args.json:
        report.write_json(results, args.json)
    if not any(r.impl != "cnnprop" for r in results.records):
        print("note: no peer was timed: no plot of the speed-ups", file=out)
    elif report.plot(results, args.plot):
        print(f"plot written to {args.plot}", file=out)
    else:
        print("note: matplotlib is not installed: no plot (pip install 'cnnprop[bench]')", file=out)
    return 0
