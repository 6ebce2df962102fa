"""cnnprop.verify: prove, on this machine's build, that every equation is computed exactly.

Each named check compares one kernel with an independent reference
(``scipy.signal`` correlations and convolutions with ``method="direct"``,
NumPy products and running maxima) or with finite differences of a loss, on
random data from a seed, over a set of geometries, in float64 and float32.
Every comparison reports its error and a bound derived in
:mod:`cnnprop.verify.bounds`.

From the command line::

    python -m cnnprop verify [--quick] [--seed N] [--dtype float32]
                             [--check 5 --check maxpool*] [--json out.json]
                             [--junit out.xml]

From Python::

    >>> from cnnprop import verify
    >>> report = verify.run(quick=True, checks=["window_ranges"])
    >>> report.ok
    True
"""
# Importing the check modules registers their checks, in this order.
from . import (checks_conventions, checks_conv, checks_winograd,  # noqa: F401  isort: skip
               checks_pool, checks_avgpool, checks_activation, checks_affine, checks_chain)
from .registry import CHECKS, Check, Outcome
from .report import Report, Row
from .runner import run, select_checks

__all__ = ["run", "select_checks", "CHECKS", "Check", "Outcome", "Report", "Row"]
