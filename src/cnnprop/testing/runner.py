"""Run an adapter's checks: findings per case, a minimal failing geometry, a hint on conventions."""
import time
from typing import NamedTuple

import numpy as np

import cnnprop
from cnnprop.verify.registry import case_rng
from cnnprop.verify.report import Report, Row

from . import family_conv, family_dense, family_pool
from .adapter import Adapter
from .calls import AdapterFailure
from .cases import Case, cases_for
from .compare import Finding

__all__ = ["SPECS", "specs_for", "family_available", "run_case", "shrink", "diagnose", "Failure",
           "run_adapters", "explain"]

SPECS = {**family_conv.SPECS, **family_pool.SPECS, **family_dense.SPECS}

# the public functions each family's checks call; a family runs when the installed cnnprop has them
_NEEDS = {
    "convolution": ("conv2d_forward",),
    "transposed_convolution": ("conv_transpose2d_forward", "conv_transpose2d_backward_input",
                               "conv_transpose2d_backward_filter"),
    "max_pooling": ("maxpool2d_forward",),
    "average_pooling": ("avgpool2d_forward", "avgpool2d_backward"),
    "activation": ("activation_forward",),
    "affine": ("affine_forward",),
}


def family_available(family):
    """Whether the installed cnnprop has the kernels a family's checks compare with."""
    return all(hasattr(cnnprop, name) for name in _NEEDS[family])


def specs_for(adapter, checks=None):
    """The checks of the adapter's family that its directions allow (optionally by name)."""
    specs = [s for s in SPECS[adapter.family] if all(getattr(adapter, d) is not None for d in s.needs)]
    if checks:
        specs = [s for s in specs if s.name in checks or f"{adapter.name}.{s.name}" in checks]
    return specs


def dtypes_for(adapter, spec, dtypes=None):
    """The dtypes a check runs in: those claimed (and asked for); float64 only for differences."""
    chosen = [d for d in adapter.dtypes if dtypes is None or d in dtypes]
    return [d for d in chosen if d == "float64"] if spec.fd else chosen


def run_case(adapter, spec, case, dtype, seed=0):
    """One check on one geometry in one dtype; a misbehaving adapter is a failed finding."""
    rng = case_rng(seed, f"{adapter.family}/{spec.name}", case)
    try:
        with np.errstate(all="ignore"):
            return spec.run(adapter, case, dtype, rng)
    except AdapterFailure as exc:
        return Finding(np.inf, 0.0, "the adapter's call failed", str(exc))


# ----------------------------------------------------------------------------- shrinking

def _candidates(value, step=1):
    """Smaller values to try, smallest first: 1, value/2, value - 1 (multiples of ``step``)."""
    out = []
    for v in (step, (value // 2) // step * step, value - step):
        if 0 < v < value and v not in out:
            out.append(v)
    return out


def _shrink_fields(adapter):
    if adapter.family == "affine":
        return ("N", "K")
    if adapter.family == "activation":
        return ("N", "C", "H", "W")
    if adapter.family in ("max_pooling", "average_pooling"):
        return ("N", "C", "H", "W")
    return ("N", "C", "K", "H", "W")


def _replace(case, adapter, field, value):
    changes = {field: value}
    if adapter.family in ("max_pooling", "average_pooling") and field == "C":
        changes["K"] = value
    if adapter.family == "affine" and field == "N":
        changes["input_shape"] = (value,) + tuple(case.input_shape[1:])
    trial = case._replace(**changes)
    return trial._replace(name="shrunk:" + trial.describe().replace(", ", ",").replace(" ", ";"))


def _valid(case, adapter):
    if adapter.family in ("affine", "activation"):
        return True
    if case.C % case.groups or case.K % case.groups:
        return False
    from .cases import _valid as valid_geometry

    return valid_geometry(case, adapter.family)


def shrink(adapter, spec, case, dtype, seed=0, budget=60):
    """The smallest geometry (N, C, K, H, W reduced one at a time, greedily) on which
    the check still fails, and its finding."""
    finding = run_case(adapter, spec, case, dtype, seed)
    improved = True
    while improved and budget > 0:
        improved = False
        for field in _shrink_fields(adapter):
            step = case.groups if field in ("C", "K") else 1
            for value in _candidates(getattr(case, field), step):
                trial = _replace(case, adapter, field, value)
                if not _valid(trial, adapter):
                    continue
                budget -= 1
                result = run_case(adapter, spec, trial, dtype, seed)
                if not result.passed:
                    case, finding, improved = trial, result, True
                    break
                if budget <= 0:
                    break
    return case, finding


# ----------------------------------------------------------------------------- conventions

_ALTERNATIVES = {
    "convolution": ("reduction", "convolution", "kernel_layout", "layout"),
    "transposed_convolution": ("reduction", "kernel_layout", "layout"),
    "max_pooling": ("ties", "layout"),
    "average_pooling": ("layout",),
    "activation": (),
    "affine": ("reduction", "kernel_layout"),
}
_VALUES = {"reduction": ("mean", "sum"), "convolution": ("correlation", "true"), "ties": ("all", "first"),
           "layout": ("NCHW", "NHWC")}


def _hint(field, claimed, other):
    if field == "reduction":
        if claimed == "mean":
            return ("the results agree with cnnprop's after dividing them by N (they are the gradient of "
                    "the sum over the batch): did you mean reduction='sum'?")
        return ("the results agree with cnnprop's after multiplying them by N (they carry the 1/N of the "
                "mean over the batch): did you mean reduction='mean'?")
    if field == "convolution":
        what = "the flipped kernel (a true convolution)" if other == "true" else "the kernel unflipped (a correlation)"
        return f"the results agree with cnnprop's for {what}: did you mean convolution={other!r}?"
    if field == "kernel_layout":
        shape = {"KCRS": "(K, C, R, S)", "RSCK": "(R, S, C, K)", "IJ": "(I, J)", "JI": "(J, I)"}[other]
        return f"the results agree when the kernel is passed as {shape}: did you mean kernel_layout={other!r}?"
    if field == "layout":
        return f"the results agree when the arrays are passed as {other}: did you mean layout={other!r}?"
    if field == "ties":
        rule = ("only the first maximum in row-major order receives the delta" if other == "first"
                else "every tied maximum receives the full delta")
        return f"the results agree with the tie rule where {rule}: did you mean ties={other!r}?"
    return f"did you mean {field}={other!r}?"


def diagnose(adapter, spec, case, dtype, seed=0):
    """A hint when the check passes under another convention than the one claimed, or None."""
    for field in _ALTERNATIVES[adapter.family]:
        claimed = getattr(adapter, field)
        values = (("IJ", "JI") if adapter.family == "affine" else ("KCRS", "RSCK")) if field == "kernel_layout" \
            else _VALUES[field]
        for other in values:
            if other == claimed:
                continue
            try:
                alt = adapter.replace(**{field: other})
            except (ValueError, TypeError):
                continue
            if run_case(alt, spec, case, dtype, seed).passed:
                return _hint(field, claimed, other)
    return None


# ----------------------------------------------------------------------------- a run

class Failure(NamedTuple):
    """A failed check in one dtype: its worst case, the minimal failing geometry, a hint."""

    adapter: Adapter
    spec: object
    dtype: str
    case: Case
    finding: Finding
    failed: int
    total: int
    minimal: Case = None
    minimal_finding: Finding = None
    hint: str = None


def _geometry(case, family):
    if family == "activation":
        return f"input of shape {(case.N, case.C, case.H, case.W)}"
    return case.describe()


def explain(failure):
    """The failure message: equation, geometry, worst element, error against bound, minimal geometry, hint."""
    a, s, f = failure.adapter, failure.spec, failure.finding
    lines = [f"{a.name}.{s.name} ({s.summary}), eq {s.equation}, {failure.dtype}: "
             f"fails on {failure.failed} of {failure.total} geometries",
             f"  worst geometry {failure.case.name}: {_geometry(failure.case, a.family)}",
             f"  error {f.error:.3g} > bound {f.bound:.3g} ({f.method})"]
    if f.detail:
        lines.append(f"  {f.detail}")
    if failure.minimal is not None:
        m = failure.minimal_finding
        lines.append(f"  minimal failing geometry: {_geometry(failure.minimal, a.family)} "
                     f"(error {m.error:.3g} > bound {m.bound:.3g})")
        if m.detail and m.detail != f.detail:
            lines.append(f"    {m.detail}")
    if failure.hint:
        lines.append(f"  hint: {failure.hint}")
    return "\n".join(lines)


def _failure(adapter, spec, dtype, found, seed, minimize):
    label, worst = max(found, key=lambda item: item[1].ratio)
    case = label
    failed = sum(not f.passed for _, f in found)
    minimal = minimal_finding = hint = None
    if minimize:
        minimal, minimal_finding = shrink(adapter, spec, case, dtype, seed)
        hint = diagnose(adapter, spec, minimal, dtype, seed)
    return Failure(adapter, spec, dtype, case, worst, failed, len(found), minimal, minimal_finding, hint)


def run_check(adapter, spec, dtype, cases, seed=0, minimize=True):
    """Every case of one check in one dtype: ``(findings, Failure or None)``."""
    found = [(case, run_case(adapter, spec, case, dtype, seed)) for case in cases]
    if all(f.passed for _, f in found):
        return found, None
    return found, _failure(adapter, spec, dtype, found, seed, minimize)


def run_adapters(adapters, quick=False, seed=0, dtypes=None, checks=None, progress=None, minimize=True):
    """Run every check of every adapter; returns ``(Report, [Failure])``.

    One :class:`~cnnprop.verify.report.Row` per (adapter, check, dtype), in
    the table, JSON and JUnit of ``cnnprop verify``.
    """
    start = time.perf_counter()
    rows, failures = [], []
    for adapter in adapters:
        if not family_available(adapter.family):
            raise ValueError(f"the installed cnnprop has no {adapter.family.replace('_', ' ')} to check "
                             f"{adapter.name!r} against")
        cases = cases_for(adapter, quick=quick, seed=seed)
        for spec in specs_for(adapter, checks):
            for dtype in dtypes_for(adapter, spec, dtypes):
                t0 = time.perf_counter()
                found, failure = run_check(adapter, spec, dtype, cases, seed, minimize)
                label, worst = max(found, key=lambda item: item[1].ratio)
                messages = [] if failure is None else [explain(failure)]
                row = Row(f"{adapter.name}.{spec.name}", spec.equation, dtype, "-", len(found),
                          float(worst.error), float(worst.bound), failure is None, label.name, worst.method,
                          spec.summary, time.perf_counter() - t0, messages)
                rows.append(row)
                if failure is not None:
                    failures.append(failure)
                if progress is not None:
                    progress(row)
    return Report(rows, int(seed), bool(quick), cnnprop.build_info(), time.perf_counter() - start), failures
