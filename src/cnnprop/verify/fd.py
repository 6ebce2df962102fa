"""Finite-difference checks of gradients (bounds derived in :mod:`.bounds`).

Small inputs are checked over the full gradient (one central difference per
entry); inputs with more than ``FULL_LIMIT`` entries along a few random
directions ``d`` (the directional derivative ``<grad, d>`` against the
central difference along ``d``), which tests every entry at once at the cost
of two loss evaluations.
"""
import numpy as np

from .bounds import U64, gamma, linear_fd_bound

FULL_LIMIT = 256
DIRECTIONS = 3


def directions(x, rng):
    """Unit coordinate vectors for small x (the full gradient), random
    directions with entries in [-1, 1] otherwise."""
    if x.size <= FULL_LIMIT:
        for i in range(x.size):
            d = np.zeros(x.size)
            d[i] = 1.0
            yield d.reshape(x.shape)
    else:
        for _ in range(DIRECTIONS):
            yield rng.uniform(-1.0, 1.0, size=x.shape)


def method_name(x):
    """How a gradient of an input shaped like ``x`` is checked, for the report."""
    if x.size <= FULL_LIMIT:
        return f"full gradient ({x.size} entries)"
    return f"{DIRECTIONS} random directions ({x.size} entries)"


def _central(loss, x, d, h):
    return (loss(x + h * d) - loss(x - h * d)) / (2 * h)


def linear_gradient_error(loss, grad, x, step, magnitude, loss_terms, grad_terms, rng):
    """Check ``grad`` of a loss that is linear in ``x`` along the step (bound (2)).

    Parameters
    ----------
    loss : callable
        ``loss(x) -> float``, evaluated in float64.
    grad : ndarray
        The analytic gradient at ``x``.
    x : ndarray
        The point, float64.
    step : float
        Central-difference step h.
    magnitude : callable
        ``magnitude(abs_x) -> float``: the loss evaluated on absolute values
        (``m_E``), called at ``|x| + h``.
    loss_terms, grad_terms : int
        Lengths of the sums in one loss evaluation and in ``<grad, d>``.
    rng : numpy.random.Generator
        For the random directions.

    Returns
    -------
    error, bound : float
        ``max |fd - <grad, d>| / m_E`` over the directions, and its bound.
    """
    scale = magnitude(np.abs(x) + step)
    worst = 0.0
    for d in directions(x, rng):
        err = abs(_central(loss, x, d, step) - float(np.sum(grad * d)))
        err = err / scale if scale > 0 else err
        worst = max(worst, err if np.isfinite(err) else np.inf)
    return worst, linear_fd_bound(loss_terms, grad_terms + x.size) / step


def smooth_gradient_error(loss, grad, x, step, scale, loss_terms, direction):
    """Check ``grad`` of a smooth non-linear loss along one direction (bound (3)).

    Central differences D(h), D(h/2), D(h/4) are combined by Richardson
    extrapolation, R1 = (4 D(h/2) - D(h)) / 3 and R2 = (4 D(h/4) - D(h/2)) / 3,
    both with O(h^4) truncation error; R2 is compared with ``<grad, d>``. Its
    truncation error is estimated as ``|R2 - R1| / 15`` and bounded by four
    times that estimate; the rounding error of the three differences by
    ``(5/3) * 4 * (gamma_M + u) * scale / (h/4)``.

    Parameters
    ----------
    scale : float
        Magnitude of the loss (sum of the absolute values of its terms).

    Returns
    -------
    error, bound : float
        ``|R2 - <grad, d>|`` and its bound, both relative to ``scale``.
    """
    d1, d2, d4 = (_central(loss, x, direction, step / k) for k in (1, 2, 4))
    r1, r2 = (4 * d2 - d1) / 3, (4 * d4 - d2) / 3
    rounding = (5 / 3) * 4 * (gamma(loss_terms) + U64) / (step / 4)
    error = abs(r2 - float(np.sum(grad * direction))) / scale
    return error, 4 * abs(r2 - r1) / 15 / scale + rounding
