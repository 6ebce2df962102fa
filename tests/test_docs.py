"""Every public function has a numpydoc docstring citing its equation; the examples run."""
import doctest
import importlib
import inspect
import re

import pytest

import cnnprop

FUNCTIONS = [name for name in cnnprop.__all__ if inspect.isfunction(getattr(cnnprop, name))]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_function_has_a_numpydoc_docstring_citing_its_equation(name):
    doc = inspect.getdoc(getattr(cnnprop, name)) or ""
    assert "Returns\n-------" in doc or "Yields\n------" in doc, f"{name}: no Returns section"
    assert "Examples\n--------" in doc, f"{name}: no Examples section"
    if inspect.signature(getattr(cnnprop, name)).parameters:
        assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
    if name not in ("build_info", "use_algorithm", "current_algorithm"):
        assert re.search(r"eqs? \(A?\d+g?\)|Table 1", doc), f"{name}: cites no equation"


@pytest.mark.parametrize("module", ["cnnprop", "cnnprop._algorithm", "cnnprop.conv", "cnnprop.conv_transpose",
                                    "cnnprop.pool",
                                    "cnnprop.activation", "cnnprop.nn", "cnnprop.nn.model",
                                    "cnnprop.affine", "cnnprop.geometry", "cnnprop.verify"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
