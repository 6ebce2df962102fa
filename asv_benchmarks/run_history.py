"""Benchmark the last N commits of main with asv and publish a dashboard that works offline.

    python asv_benchmarks/run_history.py            # the last 10 commits, measured for regressions
    python asv_benchmarks/run_history.py -n 3 --quick --skip-slow   # a fast look, NOT for regressions
    python asv_benchmarks/run_history.py --no-run   # publish what is already measured

Each commit is built and installed in its own virtualenv from the checkout
(asv.conf.json), its benchmarks are run, and ``asv publish`` writes the HTML
dashboard to asv_benchmarks/.asv/html. The third-party JavaScript and CSS of
the dashboard are then fetched from the npm registry, cached outside git and
copied next to the page (offline_assets.py), so it renders without internet.
Results, environments and HTML stay in asv_benchmarks/.asv/, which git
ignores. Needs the `asv` package (``pip install asv``).

The script never asks a question: it records this machine's description for
asv itself (asv's defaults) when asv does not know the machine yet, and runs
asv with no terminal input.

``--quick`` runs every benchmark once (one call, no warm-up), on float32 and
2 threads only (CNNPROP_ASV_PARAMS=ci, unless set otherwise): a single call
of a few microseconds on two threads can take hundreds of times its usual
time on a busy machine, so quick results go to their own results folder and
dashboard (asv_benchmarks/.asv/quick/) with regression detection switched
off. They never mix with, or stand in for, a full measurement.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import offline_assets  # noqa: E402


CONFIG = HERE / "asv.conf.json"
QUICK_WARNING = ("run_history: --quick measures every benchmark ONCE: a quick look that the "
                 "benchmarks run, NOT for regression detection (single calls of small cases vary "
                 "by up to hundreds of times on a busy machine). Its results and dashboard are "
                 "kept apart, in {where}, with the Regressions view switched off.")


def _asv(*args, config=CONFIG, env=None):
    command = [sys.executable, "-m", "asv", *args, "--config", str(config)]
    print("+", " ".join(command[2:]), flush=True)
    # no terminal input: anything asv would ask fails instead of waiting
    return subprocess.run(command, cwd=HERE, env=env, stdin=subprocess.DEVNULL).returncode


def _settings():
    from asv.util import load_json

    return load_json(str(CONFIG), js_comments=True)


def repository():
    """The repository asv.conf.json benchmarks (a relative "repo" is relative to this folder)."""
    return (HERE / _settings()["repo"]).resolve()


def output_dirs(quick):
    """(results_dir, html_dir) of a full or a quick run, absolute."""
    settings = _settings()
    results, html = (HERE / settings["results_dir"]).resolve(), (HERE / settings["html_dir"]).resolve()
    if quick:
        base = results.parent / "quick"
        results, html = base / "results", base / "html"
    return results, html


def config_for(branch, quick=False):
    """asv.conf.json, or a generated copy for ``branch`` and for quick runs.

    asv graphs the branches its configuration names; a checkout without a
    local main (a detached CI checkout) needs the branch it was given there.
    A quick run writes its results and dashboard apart and switches the
    regression detection off for every benchmark.
    """
    settings = _settings()
    if branch in settings.get("branches", []) and not quick:
        return CONFIG
    for key in ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir"):
        settings[key] = str((HERE / settings[key]).resolve())
    settings["branches"] = [branch]
    name = "asv.conf.generated.json"
    if quick:
        results, html = output_dirs(quick=True)
        settings["results_dir"], settings["html_dir"] = str(results), str(html)
        settings["regressions_first_commits"] = {".*": None}
        name = "asv.conf.quick.json"
    generated = HERE / ".asv" / name
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(json.dumps(settings, indent=2))
    return generated


def ensure_machine(name=None):
    """Make sure asv knows this machine, without asking; return its name.

    ``asv run`` asks its interactive questions whenever ~/.asv-machine.json
    lacks the machine's entry (no file, or a file written on another host
    name). The entry written here is asv's own defaults (``asv machine
    --yes``): the host name, OS, architecture, CPU model and count, RAM.
    """
    from asv.machine import Machine, MachineCollection

    name = name or platform.node() or "localhost"
    try:
        MachineCollection.load(name)
    except Exception:       # asv.util.UserError: unknown machine, or no file
        info = Machine.get_defaults()
        info["machine"] = name
        MachineCollection.save(name, info)
        print(f"run_history: recorded machine {name!r} for asv "
              f"({MachineCollection.get_machine_file_path()}, asv's defaults)", flush=True)
    return name


def commits(count, branch):
    """The newest ``count`` commits of ``branch``, newest first."""
    out = subprocess.run(["git", "rev-list", "-n", str(count), branch], cwd=repository(),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"run_history: cannot list the commits of {branch!r}: {out.stderr.strip()}")
    return out.stdout.split()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--commits", type=int, default=10, help="how many commits of main (default 10)")
    parser.add_argument("--branch", default="main", help="branch to walk back from (default main)")
    parser.add_argument("--quick", action="store_true",
                        help="run each benchmark once (asv --quick), float32 on 2 threads only: checks "
                             "that they run, NOT for regression detection; results and dashboard go to "
                             ".asv/quick/")
    parser.add_argument("--skip-slow", action="store_true",
                        help="skip the literal kernels on realistic layers (CNNPROP_ASV_SKIP_SLOW=1)")
    parser.add_argument("--bench", "-b", action="append", help="only benchmarks matching this regex")
    parser.add_argument("--machine", help="machine name for asv (default: the host name)")
    parser.add_argument("--no-run", action="store_true", help="only publish the results already there")
    args = parser.parse_args(argv)
    if args.commits < 1:
        parser.error("--commits must be >= 1")

    env = dict(os.environ)
    if args.skip_slow:
        env["CNNPROP_ASV_SKIP_SLOW"] = "1"
    if args.quick:
        # a look, not a measurement: float32 on 2 threads only (a quarter of
        # the cases) unless CNNPROP_ASV_PARAMS says otherwise ("full": all)
        env.setdefault("CNNPROP_ASV_PARAMS", "ci")
    config = config_for(args.branch, quick=args.quick)
    html = output_dirs(args.quick)[1]
    if args.quick:
        print(QUICK_WARNING.format(where=html.parent), flush=True)
    if not args.no_run:
        machine = ensure_machine(args.machine)
        hashes = commits(args.commits, args.branch)
        hashfile = HERE / ".asv" / "commits.txt"
        hashfile.parent.mkdir(parents=True, exist_ok=True)
        hashfile.write_text("\n".join(hashes) + "\n")
        options = ["--machine", machine, "--skip-existing-commits", "--show-stderr"]
        options += ["--quick"] if args.quick else []
        for pattern in args.bench or []:
            options += ["--bench", pattern]
        # a failed benchmark is reported in the dashboard; carry on and publish
        status = _asv("run", f"HASHFILE:{hashfile}", *options, config=config, env=env)
        if status not in (0, 2):
            return status
    if _asv("publish", config=config) != 0:
        return 1
    offline_assets.vendor(html)
    print(f"\nDashboard: {html / 'index.html'} (works offline).\n"
          f"Open it with:  cd {HERE} && asv preview --config {config}   then browse http://127.0.0.1:8080/")
    if args.quick:
        print(QUICK_WARNING.format(where=html.parent), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
