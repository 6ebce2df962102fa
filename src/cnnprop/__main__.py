"""``python -m cnnprop <command>`` and the ``cnnprop`` console script.

Commands:

verify
    Prove every equation on this build (see :mod:`cnnprop.verify`).
bench
    Time cnnprop against PyTorch and NumPy (see :mod:`cnnprop.bench`).
train
    Train a LeNet-style CNN on scikit-learn's digits (see :mod:`cnnprop.nn.train`).

Only the module of the command that runs is imported: a command's settings
(environment variables, optional dependencies) can never break another one.
"""
import argparse
import importlib
import os
import sys

# name -> (module holding add_arguments/main, one-line help). Kept as strings
# so that building the parser imports nothing but the chosen command.
COMMANDS = {
    "verify": ("cnnprop.verify.cli", "check every equation against references and finite differences"),
    "bench": ("cnnprop.bench.cli", "time cnnprop against PyTorch and NumPy on typical layers"),
    "train": ("cnnprop.nn.train", "train a small CNN on scikit-learn's 8x8 digits"),
}

DESCRIPTION = ("cnnprop: exact, verified forward and backward propagation of convolutional networks. "
               "Run 'cnnprop COMMAND --help' for the options of a command.")


def _chosen_command(argv):
    """The command named in ``argv``: the first word that is not an option (the
    top-level options, --help and --version, take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv=None):
    """The argument parser of the ``cnnprop`` command.

    Every command is listed, but only the one named in ``argv`` gets its
    options, and so only its module is imported. Without ``argv``, every
    command is built (for documentation tools).
    """
    chosen = set(COMMANDS) if argv is None else {_chosen_command(argv)}
    parser = argparse.ArgumentParser(prog="cnnprop", description=DESCRIPTION)
    parser.add_argument("--version", action="store_true", help="print the version and how this build was "
                                                               "compiled, and exit")
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, (module_name, help_text) in COMMANDS.items():
        if name not in chosen:
            commands.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=help_text, description=f"cnnprop {name}: {help_text}.",
                                  **getattr(module, "PARSER_OPTIONS", {}))
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def version_line():
    """``cnnprop 0.1.0 (OpenMP, up to 2 threads; optimised build)``: the version and the build."""
    import cnnprop

    info = cnnprop.build_info()
    threads = f"OpenMP, up to {info['max_threads']} threads" if info["openmp"] else "serial build (no OpenMP)"
    mode = "bounds-checked build (slow, for debugging)" if info["boundscheck"] else "optimised build"
    return f"cnnprop {info['version']} ({threads}; {mode}; Python {sys.version.split()[0]})"


def main(argv=None):
    """Entry point; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.version:
        print(version_line())
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
