"""``cnnprop verify``: the command-line face of :func:`cnnprop.verify.run`."""
import sys

from .registry import CHECKS
from .report import Report
from .runner import equation_tags, run, select_checks

__all__ = ["add_arguments", "main"]


def add_arguments(parser):
    """Options of the verify subcommand."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a subset of the cases of every check (seconds, not minutes)")
    parser.add_argument("--dtype", choices=("float64", "float32", "both"), default="both",
                        help="precision to check (default both)")
    parser.add_argument("--path", choices=("direct", "fast", "winograd", "both", "all"), default="all",
                        help="kernel path to check: the literal kernels, the fast paths, Winograd's "
                             "3x3 convolutions, both of the first two, or all three (default)")
    parser.add_argument("--check", action="append", metavar="NAME|EQ",
                        help="select checks by equation number (5), erratum (E7), name or "
                             "pattern (maxpool*); repeatable")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--junit", metavar="PATH", help="also write the report as JUnit XML")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--target", metavar="MODULE:OBJECT",
                        help="verify another implementation instead: an importable cnnprop.testing "
                             "Adapter (or a sequence of them), or 'torch' or 'numpy' (the ready adapters); "
                             "--check then selects the adapter's checks by name")


def _list_checks(out):
    for chk in CHECKS:
        eqs = ",".join(sorted(equation_tags(chk), key=lambda t: (t[0] == "E", int(t.strip("E")))))
        print(f"{chk.name:28} {chk.equations:26} {chk.summary}  [{eqs}]", file=out)


def main(args, out=None):
    """Run the checks, stream the table, print the summary; return the exit code."""
    out = out or sys.stdout
    if getattr(args, "target", None):
        from cnnprop.testing import cli as testing_cli

        return testing_cli.main(args, out)
    if args.list:
        _list_checks(out)
        return 0
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    paths = {"both": ("direct", "fast"), "all": ("direct", "fast", "winograd")}.get(args.path, (args.path,))
    try:
        select_checks(args.check)
    except ValueError as exc:
        print(f"cnnprop verify: error: {exc}", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    print(f"cnnprop verify: {mode} run, seed {args.seed}, dtypes {', '.join(dtypes)}, "
          f"paths {', '.join(paths)}", file=out)
    print(Report.header(), file=out, flush=True)

    def progress(row):
        # The table streams row by row: that is the progress indication.
        print(Report.format_row(row), file=out, flush=True)

    try:
        report = run(seed=args.seed, quick=args.quick, dtypes=dtypes, checks=args.check,
                     progress=progress, paths=paths)
    except ValueError as exc:
        print(f"cnnprop verify: error: {exc}", file=sys.stderr)
        return 2
    for row in report.rows:
        if not row.passed:
            more = f"; and {len(row.failures) - 3} more cases" if len(row.failures) > 3 else ""
            print(f"FAILED {row.check} [{row.dtype}, {row.path}]: " + "; ".join(row.failures[:3]) + more,
                  file=out)
    if args.json:
        report.write_json(args.json)
    if args.junit:
        report.write_junit(args.junit)
    print(report.summary_line(), file=out, flush=True)
    return 0 if report.ok else 1
