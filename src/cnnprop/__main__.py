"""``python -m cnnprop <command>`` and the ``cnnprop`` console script.

Commands:

verify
    Prove every equation on this build (see :mod:`cnnprop.verify`).
bench
    Time cnnprop against PyTorch and NumPy (see :mod:`cnnprop.bench`).
train
    Train a LeNet-style CNN on scikit-learn's digits (see :mod:`cnnprop.nn.train`).
"""
import argparse
import os
import sys


def build_parser():
    """The argument parser of the ``cnnprop`` command."""
    from .bench import cli as bench_cli
    from .nn import train as train_cli
    from .verify import cli as verify_cli

    parser = argparse.ArgumentParser(prog="cnnprop", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="store_true", help="print version and build, and exit")
    commands = parser.add_subparsers(dest="command", metavar="command")
    verify = commands.add_parser("verify", help="check every equation against references and "
                                                "finite differences")
    verify_cli.add_arguments(verify)
    verify.set_defaults(handler=verify_cli.main)
    bench = commands.add_parser("bench", help="time cnnprop against PyTorch and NumPy on typical layers")
    bench_cli.add_arguments(bench)
    bench.set_defaults(handler=bench_cli.main)
    train = commands.add_parser("train", help="train a small CNN on scikit-learn's 8x8 digits")
    train_cli.add_arguments(train)
    train.set_defaults(handler=train_cli.main)
    return parser


def main(argv=None):
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import cnnprop

        print(f"cnnprop {cnnprop.__version__} {cnnprop.build_info()}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except BrokenPipeError:
        # the reader went away (`cnnprop verify | head`): stop quietly, as
        # the Python docs recommend, without a traceback at shutdown
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
