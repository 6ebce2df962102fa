"""The registry of named checks, each tied to the equations it proves."""
import zlib
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from .bounds import sum_bound, unit_roundoff, worst_element

__all__ = ["Check", "Outcome", "CHECKS", "check", "compare", "case_rng"]

DTYPES = ("float64", "float32")
PATHS = ("direct", "fast", "winograd")
# the paths a check runs on unless it says otherwise (Winograd has its own checks)
DEFAULT_PATHS = ("direct", "fast")


@dataclass(frozen=True)
class Outcome:
    """What one check found on one case in one dtype."""

    error: float
    bound: float
    method: str

    @property
    def passed(self):
        return bool(np.isfinite(self.error) and self.error <= self.bound)


@dataclass(frozen=True)
class Check:
    """A named verification of one or more equations.

    ``run(case, dtype, rng) -> Outcome``; ``cases`` is the tuple of default
    cases and ``quick_cases`` the subset of a quick run (None: one run with
    ``case=None``); ``random_cases(seed)`` adds cases drawn from the seed to
    a full run. ``dtypes`` is ``("-",)`` for dtype-free checks. ``paths`` are
    the kernel paths the check runs on, each inside
    ``cnnprop.use_algorithm(path)`` (``("-",)``: the check picks itself).
    """

    name: str
    equations: str
    summary: str
    run: Callable
    cases: Optional[Tuple] = None
    quick_cases: Optional[Tuple] = None
    dtypes: Tuple[str, ...] = DTYPES
    random_cases: Optional[Callable] = None
    paths: Tuple[str, ...] = DEFAULT_PATHS

    def case_list(self, quick, seed=0):
        """The cases of a run: the quick subset, or all fixed and random ones."""
        if self.cases is None:
            return (None,)
        if quick:
            return self.quick_cases if self.quick_cases is not None else self.cases
        extra = self.random_cases(seed) if self.random_cases is not None else ()
        return tuple(self.cases) + tuple(extra)


def compare(result, truth, magnitude, length, dtype, method, accumulate=None):
    """Outcome of a kernel result against a float64 truth (bounds (1) and (4)).

    Every element must satisfy ``|result - truth| <= (gamma_L(u_acc) +
    gamma_L(u64)) * m + u_out * |truth|``; the worst element is reported.
    ``accumulate`` defaults to what the current path sums in.
    """
    accumulate = accumulation(dtype) if accumulate is None else accumulate
    error, bound = worst_element(result, truth, magnitude, sum_bound(length, accumulate),
                                 unit_roundoff(dtype))
    return Outcome(error, bound, method)


CHECKS = []


def check(name, equations, summary, cases=None, quick_cases=None, dtypes=DTYPES, random_cases=None,
          paths=DEFAULT_PATHS):
    """Decorator: register ``run(case, dtype, rng) -> Outcome`` as a named check."""
    def register(run):
        if any(c.name == name for c in CHECKS):
            raise ValueError(f"duplicate check name {name!r}")
        CHECKS.append(Check(name, equations, summary, run, cases, quick_cases, dtypes, random_cases, paths))
        return run
    return register


def accumulation(dtype):
    """The precision the kernels of the current path sum in: float64 for the
    literal kernels, the data type on the fast and Winograd paths."""
    from cnnprop import current_algorithm

    return np.float64 if current_algorithm() == "direct" else np.dtype(dtype).type


def case_rng(seed, check_name, case):
    """A generator that depends on the seed, the check and the case, never on the dtype.

    The float32 and float64 runs of a check therefore see the same data, and
    selecting a subset of checks does not change what any check draws.
    """
    label = "" if case is None else getattr(case, "name", str(case))
    key = zlib.crc32(f"{check_name}/{label}".encode())
    return np.random.default_rng([int(seed), key])
