"""Run the registered checks and collect a :class:`~.report.Report`."""
import fnmatch
import re
import time

import numpy as np

from cnnprop import use_algorithm

from .registry import CHECKS, DTYPES, PATHS, Outcome, case_rng
from .report import Report, Row

__all__ = ["run", "select_checks", "equation_tags"]


def equation_tags(chk):
    """The equation numbers (as str) and errata (``E7``) a check proves."""
    tags = set(re.findall(r"E\d+", chk.equations))
    for lo, hi in re.findall(r"\((\d+)\)(?:-\((\d+)\))?", chk.equations):
        tags.update(str(n) for n in range(int(lo), int(hi or lo) + 1))
    return tags


def select_checks(patterns=None):
    """Checks matching any pattern: an equation number (``5`` or ``(5)``), an
    erratum (``E7``), a name, or a shell pattern / substring of names."""
    if not patterns:
        return list(CHECKS)
    chosen = []
    for chk in CHECKS:
        for pattern in patterns:
            token = pattern.strip()
            number = re.fullmatch(r"\(?(\d+)\)?|(E\d+)", token, re.IGNORECASE)
            if number:
                hit = (number.group(1) or number.group(2).upper()) in equation_tags(chk)
            elif any(ch in token for ch in "*?["):
                hit = fnmatch.fnmatchcase(chk.name, token)
            else:
                hit = token in chk.name
            if hit:
                chosen.append(chk)
                break
    if not chosen:
        raise ValueError(f"no check matches {list(patterns)}; see `cnnprop verify --list`")
    return chosen


def _ratio(outcome):
    if not np.isfinite(outcome.error):
        return np.inf
    if outcome.bound > 0:
        return outcome.error / outcome.bound
    return 0.0 if outcome.error == 0 else np.inf


def _run_one(chk, dtype, path, quick, seed):
    start = time.perf_counter()
    outcomes = []
    for case in chk.case_list(quick, seed):
        try:
            with use_algorithm("auto" if path == "-" else path):
                outcome = chk.run(case, dtype, case_rng(seed, chk.name, case))
        except Exception as exc:  # a crashing check is a failed check, reported as such
            outcome = Outcome(np.inf, 0.0, f"raised {type(exc).__name__}: {exc}")
        outcomes.append((getattr(case, "name", "-"), outcome))
    label, worst = max(outcomes, key=lambda item: _ratio(item[1]))
    failures = [f"case {name}: error {o.error:.3g} > bound {o.bound:.3g} ({o.method})"
                for name, o in outcomes if not o.passed]
    return Row(chk.name, chk.equations, dtype, path, len(outcomes), float(worst.error),
               float(worst.bound), not failures, label, worst.method, chk.summary,
               time.perf_counter() - start, failures)


def run(seed=0, quick=False, dtypes=DTYPES, checks=None, progress=None, paths=PATHS):
    """Run the verification checks and return their report.

    Parameters
    ----------
    seed : int
        Seed of the random data; each check and case draws from its own
        stream derived from it, the same in float32 and float64.
    quick : bool
        Run each check on a small subset of its cases (seconds, not minutes).
    dtypes : sequence of {"float64", "float32"}
        Precisions to check. Checks without a dtype always run.
    checks : sequence of str, optional
        Select checks by equation number (``"5"``), erratum (``"E7"``), name,
        or name pattern; None runs them all.
    progress : callable, optional
        Called with each finished :class:`~cnnprop.verify.report.Row`.
    paths : sequence of {"direct", "fast", "winograd"}
        Kernel paths to check: the literal reference kernels, the fast
        paths (each check that has both runs on each) and Winograd's 3x3
        convolutions (their own checks).

    Returns
    -------
    Report
        ``report.ok`` is True when every selected check passed.

    Raises
    ------
    ValueError
        If ``checks`` selects nothing, or ``dtypes`` or ``paths`` names an
        unknown one.
    """
    from cnnprop import build_info

    dtypes, paths = tuple(dtypes), tuple(paths)
    if set(dtypes) - set(DTYPES) or not dtypes:
        raise ValueError(f"dtypes must be a non-empty subset of {DTYPES}, got {dtypes}")
    if set(paths) - set(PATHS) or not paths:
        raise ValueError(f"paths must be a non-empty subset of {PATHS}, got {paths}")
    start = time.perf_counter()
    rows = []
    for chk in select_checks(checks):
        for path in chk.paths:
            if path != "-" and path not in paths:
                continue
            for dtype in chk.dtypes:
                if dtype != "-" and dtype not in dtypes:
                    continue
                row = _run_one(chk, dtype, path, quick, seed)
                rows.append(row)
                if progress is not None:
                    progress(row)
    return Report(rows, int(seed), bool(quick), build_info(), time.perf_counter() - start)
