"""``cnnprop bench``: the command-line face of :func:`cnnprop.bench.run`."""
import argparse
import sys
import textwrap

from . import report, runner
from .cases import CONV_LAYERS, POOL_LAYERS

__all__ = ["add_arguments", "main", "layers_epilog"]


def layers_epilog():
    """The benchmark layers and their shapes, for ``cnnprop bench --help``."""
    lines = ["layers (N batch, C input channels, HxW input, K kernels of RxR, stride, padding):"]
    for c in CONV_LAYERS:
        extra = "".join(text for text, on in ((f", dilation {c.dilation}", c.dilation != 1),
                                              (f", groups {c.groups}", c.groups != 1)) if on)
        kind = "convT" if c.transposed else "conv "
        lines.append(f"  {c.name:12} {kind} N={c.N:<3} C={c.C:<4} {c.H}x{c.H} -> K={c.K:<5} {c.R}x{c.R} kernels, "
                     f"stride {c.stride}, padding {c.padding}{extra} (output {c.out}x{c.out})")
    for p in POOL_LAYERS:
        out = (p.H + 2 * p.padding - p.window) // p.stride + 1
        lines.append(f"  {p.name:12} max pool N={p.N:<3} C={p.C:<4} {p.H}x{p.H}, {p.window}x{p.window} window, "
                     f"stride {p.stride}, padding {p.padding} (output {out}x{out})")
    lines += ["", textwrap.fill(
        "lenet2: LeNet-5's second convolution; vgg3x3: a VGG-16 3x3 block; res_s2: ResNet's strided 3x3 "
        "downsampling; res1x1: a ResNet bottleneck 1x1 expansion; alex11: AlexNet's first layer; "
        "mobilenet_dw: a MobileNet depthwise 3x3; deeplab_d2: a DeepLab dilated 3x3; resnext_g32: a "
        "ResNeXt grouped 3x3; unet_up: a U-Net 2x2 up-convolution (transposed); small_c3: "
        "CIFAR-sized images, 3 channels, batch 128; stem7s2: ResNet's 7x7 stride-2 stem; "
        "res1x1s2: a strided 1x1 projection; "
        "pool2s2, pool3s2p1: 2x2 stride-2 and ResNet's 3x3 stride-2 padded max pooling. "
        "See docs/performance.md.", width=78),
        "", textwrap.fill("environment: CNNPROP_BENCH_SETTLE=SECONDS, the busy pause between timed calls "
                          "(default 0.15).", width=78)]
    return "\n".join(lines)


# how __main__ builds this command's parser: the epilog's table keeps its lines
PARSER_OPTIONS = {"formatter_class": argparse.RawDescriptionHelpFormatter}


def add_arguments(parser):
    """Options of the bench subcommand."""
    names = ", ".join(layer.name for layer in CONV_LAYERS + POOL_LAYERS)
    parser.epilog = layers_epilog()
    parser.add_argument("--dtype", choices=("float32", "float64", "both"), default="both",
                        help="precision to time (default both)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every implementation (default: what cnnprop would use)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (medians; default 7)")
    parser.add_argument("--layer", action="append", metavar="NAME",
                        help=f"time only this layer, one of: {names} (shapes below); repeatable (default: all)")
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
    try:
        runner.settle_seconds()
    except ValueError as exc:
        print(f"cnnprop bench: error: {exc}", file=sys.stderr)
        return 2
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)

    def progress(record):
        print(f"  {record.dtype} {record.layer} {record.direction}: {record.impl} {record.ms:.2f} ms",
              file=sys.stderr, flush=True)

    try:
        results = runner.run(dtypes=dtypes, threads=args.threads, repeats=args.repeats, layers=args.layer,
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
    for warning in results.warnings:
        print(f"warning: {warning}", file=out)
    print(report.table(results), file=out)
    print("rate: GFLOP/s for convolutions (2 N K P Q C R S), GB/s of input for pooling; %GEMM: share of "
          "the GEMM rate; min-max: the fastest and slowest of the repeats; "
          "vs X: X's time / cnnprop's (above 1: cnnprop faster); peak MB: cnnprop's "
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
