"""cnnprop.testing: verify your own layer implementation against cnnprop.

The checks of ``cnnprop verify``, pointed at a user's code: describe an
implementation of one layer family with an :class:`Adapter` (its directions
and conventions), then

- ``check_layer(adapter)`` runs every check and raises an ``AssertionError``
  naming the equation, the geometry, the worst element against its bound and
  the smallest failing geometry;
- ``@parametrize_checks(adapter)`` makes each check, geometry and dtype its
  own pytest test;
- ``cnnprop verify --target module:object`` runs the same from the command
  line (``--target torch``: the installed PyTorch; ``--target numpy``: the
  shipped NumPy im2col reference in :mod:`cnnprop.testing.examples`).

See docs/verify-your-implementation.md.

Examples
--------
>>> from cnnprop.testing import Adapter, check_layer
>>> import numpy as np
>>> def forward(x, w, b):
...     return x.reshape(len(x), -1) @ w.T + b
>>> layer = Adapter("affine", forward=forward, name="my_affine")
>>> check_layer(layer, quick=True).ok
True
"""
from .adapter import FAMILIES, OPTIONS, Adapter
from .api import LayerCheck, check_layer, layer_checks, parametrize_checks

__all__ = ["Adapter", "FAMILIES", "OPTIONS", "check_layer", "parametrize_checks", "layer_checks", "LayerCheck"]
