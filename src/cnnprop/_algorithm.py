"""Which kernel a call runs: the literal one of the equation, or a fast one.

Every function that has both takes ``algorithm="auto" | "direct" | "fast"``:

- ``"direct"``: the literal Cython kernel of the equation, summing in float64
  (the reference path);
- ``"fast"``: the fast path (convolution and affine layers lowered to BLAS
  matrix products, summing in the data type; vectorised pooling and
  activation loops);
- ``"auto"``: what :func:`use_algorithm` set for the current context, else
  the fast path for calls big enough to gain from it.

The convolution forward pass and input delta also take ``"winograd"``
(Winograd minimal filtering, 3x3 stride-1 layers only; docs/winograd.md).
Every other function refuses it with a ValueError; inside
``use_algorithm("winograd")`` they run their fast path instead.

:func:`use_algorithm` changes what ``"auto"`` means inside a ``with`` block
(thread- and task-local, through :mod:`contextvars`), for example to run a
whole network on the reference kernels.
"""
import contextvars
from contextlib import contextmanager

from ._validate import one_of

__all__ = ["ALGORITHMS", "use_algorithm", "current_algorithm", "resolve"]

ALGORITHMS = ("auto", "direct", "fast", "winograd")
_CURRENT = contextvars.ContextVar("cnnprop_algorithm", default="auto")


@contextmanager
def use_algorithm(algorithm):
    """Make ``algorithm="auto"`` mean ``algorithm`` inside the ``with`` block.

    Parameters
    ----------
    algorithm : {"auto", "direct", "fast", "winograd"}
        ``"direct"`` runs every call on the literal reference kernels,
        ``"fast"`` on the fast paths, ``"winograd"`` the 3x3 stride-1
        convolutions (forward and input delta) on Winograd and everything
        else on the fast paths, ``"auto"`` restores the size rule.

    Yields
    ------
    None

    Raises
    ------
    ValueError
        Unknown ``algorithm``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> with cnnprop.use_algorithm("direct"):
    ...     y = cnnprop.conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))
    >>> y[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    one_of(algorithm, "algorithm", ALGORITHMS)
    token = _CURRENT.set(algorithm)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_algorithm():
    """What ``algorithm="auto"`` means in the current context.

    Returns
    -------
    str
        ``"auto"`` (the size rule), or what :func:`use_algorithm` set:
        ``"direct"``, ``"fast"`` or ``"winograd"``.

    Examples
    --------
    >>> current_algorithm()
    'auto'
    """
    return _CURRENT.get()


def resolve(algorithm, work, min_work, fits=True):
    """``"direct"`` or ``"fast"`` for a call of ``work`` inner iterations.

    ``min_work`` is the size from which the fast path pays off for this
    function; ``fits`` is False when the fast path cannot take the shapes
    (BLAS's 32-bit dimensions). An explicit ``"winograd"`` reaching here is
    a function (or geometry) without it: a ValueError; the context's
    ``"winograd"`` means the fast path.
    """
    one_of(algorithm, "algorithm", ALGORITHMS)
    if algorithm == "winograd":
        raise ValueError("algorithm='winograd' exists only for conv2d_forward and "
                         "conv2d_backward_input (3x3 kernel, stride 1, dilation 1, groups=1); "
                         "use 'fast' or 'direct'")
    if algorithm == "auto":
        algorithm = _CURRENT.get()
        if algorithm == "winograd":
            algorithm = "fast"
    if algorithm == "auto":
        return "fast" if fits and work >= min_work else "direct"
    if algorithm == "fast" and not fits:
        raise ValueError("algorithm='fast' needs matrix dimensions below 2**31 for BLAS; "
                         "use algorithm='direct'")
    return algorithm
