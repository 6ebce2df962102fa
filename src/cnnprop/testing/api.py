"""``check_layer`` and ``parametrize_checks``: cnnprop's checks pointed at a user's adapter."""
from .runner import cases_for, dtypes_for, explain, run_adapters, run_check, specs_for, family_available

__all__ = ["check_layer", "parametrize_checks", "LayerCheck"]


def check_layer(adapter, *, quick=False, seed=0, dtypes=None, checks=None, shrink=True):
    """Verify a user's layer against cnnprop's verified kernels and finite differences.

    Every check of the adapter's family that its directions allow runs on
    the verification geometries of ``cnnprop verify`` (restricted to the
    options the adapter claims) plus geometries drawn from ``seed``, in
    every dtype it claims, with the bounds of :mod:`cnnprop.verify.bounds`:
    agreement with cnnprop's literal kernels (eqs (4)-(9), (13)-(20)) and
    central differences of the adapter's own forward pass (float64).

    Parameters
    ----------
    adapter : Adapter
        The implementation and its conventions.
    quick : bool
        Only the first few verification geometries (about a second).
    seed : int
        Seed of the random data and of the random geometries.
    dtypes : sequence of str, optional
        Restrict to these of the adapter's dtypes.
    checks : sequence of str, optional
        Run only these checks (``"forward"``, ``"input_delta"``, ...).
    shrink : bool
        On a failure, search for the smallest failing geometry (smallest N,
        C, K, H, W) and for a convention under which the results would agree.

    Returns
    -------
    Report
        The report of the run (``cnnprop.verify.Report``), every row passed.

    Raises
    ------
    AssertionError
        If any check fails. The message names, for each failed check, the
        equation, the geometry, the worst element and its error against the
        bound, the minimal failing geometry and, when another convention
        explains the results, a hint ("did you mean reduction='sum'?").
    ValueError
        If the installed cnnprop has no kernels for the adapter's family.

    Examples
    --------
    >>> from cnnprop.testing import check_layer
    >>> from cnnprop.testing.examples import numpy_im2col
    >>> report = check_layer(numpy_im2col.CONVOLUTION, quick=True)
    >>> report.ok
    True
    """
    report, failures = run_adapters([adapter], quick=quick, seed=seed, dtypes=dtypes, checks=checks,
                                    minimize=shrink)
    if failures:
        head = (f"cnnprop.testing: {len(failures)} of {len(report.rows)} checks failed for adapter "
                f"{adapter.name!r} ({adapter.family}; {adapter.conventions() or 'no conventions'})")
        raise AssertionError("\n\n".join([head] + [explain(f) for f in failures]))
    return report


class LayerCheck:
    """One check of an adapter on one geometry in one dtype; call it to run it.

    Raises AssertionError (with the minimal failing geometry and a hint on
    conventions) when the check fails.
    """

    def __init__(self, adapter, spec, case, dtype, seed=0):
        self.adapter, self.spec, self.case, self.dtype, self.seed = adapter, spec, case, dtype, seed

    @property
    def id(self):
        return f"{self.adapter.name}-{self.spec.name}-{self.dtype}-{self.case.name}"

    def __repr__(self):
        return f"LayerCheck({self.id})"

    def __call__(self):
        _, failure = run_check(self.adapter, self.spec, self.dtype, [self.case], self.seed)
        if failure is not None:
            raise AssertionError(explain(failure))


def layer_checks(adapters, *, quick=False, seed=0, dtypes=None):
    """Every :class:`LayerCheck` of the adapters: one per check, geometry and dtype."""
    adapters = [adapters] if not isinstance(adapters, (list, tuple)) else list(adapters)
    out = []
    for adapter in adapters:
        if not family_available(adapter.family):
            continue
        cases = cases_for(adapter, quick=quick, seed=seed)
        for spec in specs_for(adapter):
            for dtype in dtypes_for(adapter, spec, dtypes):
                out.extend(LayerCheck(adapter, spec, case, dtype, seed) for case in cases)
    return out


def parametrize_checks(adapters, *, quick=False, seed=0, dtypes=None):
    """A pytest decorator: each check, geometry and dtype of the adapters is its own test.

    Parameters
    ----------
    adapters : Adapter or sequence of Adapter
    quick, seed, dtypes
        As for :func:`check_layer`.

    Returns
    -------
    pytest.MarkDecorator
        ``pytest.mark.parametrize("check", ...)`` with ids
        ``<adapter>-<check>-<dtype>-<geometry>``; the test calls ``check()``.

    Examples
    --------
    >>> from cnnprop.testing import parametrize_checks
    >>> from cnnprop.testing.examples import numpy_im2col
    >>> mark = parametrize_checks(numpy_im2col.RELU, quick=True)
    >>> mark.args[0]
    'check'

    In a test file::

        @parametrize_checks(my_adapter)
        def test_my_layer(check):
            check()
    """
    import pytest

    checks = layer_checks(adapters, quick=quick, seed=seed, dtypes=dtypes)
    return pytest.mark.parametrize("check", checks, ids=[c.id for c in checks])
