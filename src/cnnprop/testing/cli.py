"""``cnnprop verify --target module:object``: the checks of cnnprop.testing on the command line."""
import importlib
import sys

from .adapter import Adapter
from .runner import explain, run_adapters

__all__ = ["load_target", "main"]

#: Short names of the ready adapters.
READY = {"torch": "cnnprop.testing.torch_adapters:adapters",
         "numpy": "cnnprop.testing.examples.numpy_im2col:ADAPTERS"}


def load_target(target):
    """The adapters named by ``module:object`` (an Adapter, a sequence of them, or a
    callable returning either), or by a ready name (``torch``, ``numpy``).

    Raises
    ------
    ValueError
        If the target cannot be imported or holds no adapter.
    """
    spec = READY.get(target, target)
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--target {target!r}: cannot import {module_name!r} ({exc})") from exc
    if not attr:
        raise ValueError(f"--target {target!r}: expected module:object (for example mypkg.layers:CONV)")
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"--target {target!r}: {module_name} has no {attr!r}")
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Adapter):
        try:
            obj = obj()
        except Exception as exc:   # a target that cannot build its adapters is a usage error
            raise ValueError(f"--target {target!r}: calling {attr} raised {type(exc).__name__}: {exc}") from exc
    adapters = [obj] if isinstance(obj, Adapter) else list(obj) if isinstance(obj, (list, tuple)) else None
    if not adapters or not all(isinstance(a, Adapter) for a in adapters):
        raise ValueError(f"--target {target!r} is not an Adapter or a sequence of Adapters "
                         f"(got {type(obj).__name__})")
    return adapters


def main(args, out=None):
    """Run the target's checks, stream the table, print the failures and the summary."""
    from cnnprop.verify.report import Report

    out = out or sys.stdout
    try:
        adapters = load_target(args.target)
    except ValueError as exc:
        print(f"cnnprop verify: error: {exc}", file=sys.stderr)
        return 2
    dtypes = None if args.dtype == "both" else (args.dtype,)
    mode = "quick" if args.quick else "full"
    print(f"cnnprop verify --target {args.target}: {mode} run, seed {args.seed}, "
          f"{len(adapters)} adapters", file=out)
    for a in adapters:
        print(f"  {a.name}: {a.family}; {a.conventions() or 'no conventions'}; dtypes {', '.join(a.dtypes)}",
              file=out)
    print(Report.header(), file=out, flush=True)
    try:
        report, failures = run_adapters(adapters, quick=args.quick, seed=args.seed, dtypes=dtypes,
                                        checks=args.check,
                                        progress=lambda row: print(Report.format_row(row), file=out, flush=True))
    except ValueError as exc:
        print(f"cnnprop verify: error: {exc}", file=sys.stderr)
        return 2
    for failure in failures:
        print("\nFAILED " + explain(failure), file=out)
    if args.json:
        report.write_json(args.json)
    if args.junit:
        report.write_junit(args.junit)
    print(report.summary_line(), file=out, flush=True)
    return 0 if report.ok else 1
