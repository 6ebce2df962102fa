"""The verification report: one row per (check, dtype), as a table, JSON or JUnit XML."""
import json
import math
import platform
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import List

__all__ = ["Row", "Report"]

COLUMNS = (("check", 26), ("equation", 24), ("dtype", 8), ("path", 7), ("cases", 6),
           ("max error", 10), ("bound", 10), ("result", 6), ("method (worst case)", 0))


def _number(x):
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.2e}"


@dataclass
class Row:
    """One check in one dtype, over all its cases.

    ``error`` and ``bound`` are those of the case with the largest
    error/bound ratio (``worst_case``); ``passed`` holds when every case is
    within its bound.
    """

    check: str
    equation: str
    dtype: str
    path: str
    cases: int
    error: float
    bound: float
    passed: bool
    worst_case: str
    method: str
    summary: str
    seconds: float
    failures: List[str] = field(default_factory=list)

    def cells(self):
        return (self.check, self.equation, self.dtype, self.path, str(self.cases), _number(self.error),
                _number(self.bound), "ok" if self.passed else "FAIL", self.method)


@dataclass
class Report:
    """Everything a verification run found; ``ok`` is True when every check passed."""

    rows: List[Row]
    seed: int
    quick: bool
    build: dict
    seconds: float = 0.0

    @property
    def passed(self):
        return sum(r.passed for r in self.rows)

    @property
    def failed(self):
        return len(self.rows) - self.passed

    @property
    def ok(self):
        return bool(self.rows) and self.failed == 0

    def summary_line(self):
        """``N passed, M failed`` (with the time taken)."""
        return f"{self.passed} passed, {self.failed} failed in {self.seconds:.1f}s"

    @staticmethod
    def header():
        line = "  ".join(name.ljust(width) for name, width in COLUMNS)
        return line + "\n" + "  ".join("-" * max(width, len(name)) for name, width in COLUMNS)

    @staticmethod
    def format_row(row):
        return "  ".join(cell.ljust(width) for cell, (_, width) in zip(row.cells(), COLUMNS)).rstrip()

    def to_dict(self):
        return {
            "build": self.build,
            "python": platform.python_version(),
            "seed": self.seed,
            "quick": self.quick,
            "seconds": self.seconds,
            "summary": {"passed": self.passed, "failed": self.failed},
            "rows": [asdict(r) for r in self.rows],
        }

    def write_json(self, path):
        """Write the report as JSON (infinite errors become null)."""
        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(clean(self.to_dict()), fh, indent=2)
            fh.write("\n")

    def write_junit(self, path):
        """Write the report as JUnit XML: one testcase per row, grouped by equation."""
        suite = ET.Element("testsuite", name="cnnprop.verify", tests=str(len(self.rows)),
                           failures=str(self.failed), errors="0", skipped="0",
                           time=f"{self.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        for key, value in [("seed", self.seed), ("quick", self.quick)] + sorted(self.build.items()):
            ET.SubElement(props, "property", name=str(key), value=str(value))
        for r in self.rows:
            case = ET.SubElement(suite, "testcase", classname=f"cnnprop.verify.eq{r.equation}",
                                 name=f"{r.check}[{r.dtype},{r.path}]", time=f"{r.seconds:.3f}")
            detail = (f"{r.summary}; method: {r.method}; cases: {r.cases}; "
                      f"max error {_number(r.error)} (case {r.worst_case}), bound {_number(r.bound)}")
            if r.passed:
                ET.SubElement(case, "system-out").text = detail
            else:
                failure = ET.SubElement(case, "failure", message=f"error above bound in {r.check}",
                                        type="VerificationError")
                failure.text = detail + "\n" + "\n".join(r.failures)
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
