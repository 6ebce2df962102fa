"""Shared test helpers: random data, derived error bounds, finite differences.

Error bounds
------------
Test data is drawn in float32 and widened to float64, so both precisions see
the same exact values and the float64 reference is the exact answer up to its
own rounding. A sum of L terms computed in floating point with unit roundoff
u (any order) is within ``gamma_L * sum|terms|``, ``gamma_L = L*u/(1 - L*u)``,
of the exact sum (Higham, Accuracy and Stability, 2nd ed., section 4.2). The
literal kernels accumulate in float64 and round once to the output dtype; the
GEMM path sums in the data type. Against the float64 reference::

    |kernel - reference| <= (gamma_L(u_acc) + gamma_L(u64)) * sum|terms| + u_out * |reference|

where ``u_acc`` is the unit roundoff the kernel sums in, ``u_out`` that of the
output dtype (the final rounding), and the second gamma covers the
reference's own error. ``sum|terms|`` is the same
computation on ``|inputs|``. A wrong index or a missing term breaks this by
orders of magnitude.
"""
import numpy as np

U64 = 2.0 ** -53


def unit_roundoff(dtype):
    return float(np.finfo(dtype).eps) / 2


def gamma(length, u=U64):
    return length * u / (1 - length * u)


def random(rng, shape, dtype, low=-1.0, high=1.0):
    """Uniform data, exactly representable in float32 whatever ``dtype`` is."""
    return rng.uniform(low, high, size=shape).astype(np.float32).astype(dtype)


def distinct(rng, shape, dtype, gap=1.0 / 64):
    """Values all different and at least ``gap`` apart (a shuffled grid plus tiny noise).

    With gap = 1/64, every value is exactly representable in float32 as well.
    """
    size = int(np.prod(shape))
    grid = (np.arange(size) - size / 2) * gap
    return rng.permutation(grid).reshape(shape).astype(dtype)


def assert_within(actual, reference, magnitude, length, what="", accumulate=np.float64):
    """Assert ``|actual - reference| <= (gamma_L(u_acc) + gamma_L(u64)) m + u_out |reference|``.

    ``accumulate`` is the precision the kernel sums in: float64 for the
    literal kernels, the data type for the GEMM path. Returns the largest
    ratio error/bound.
    """
    actual = np.asarray(actual)
    reference = np.asarray(reference, dtype=np.float64)
    assert actual.shape == reference.shape, (what, actual.shape, reference.shape)
    bound = ((gamma(length, unit_roundoff(accumulate)) + gamma(length))
             * np.asarray(magnitude, dtype=np.float64)
             + unit_roundoff(actual.dtype) * np.abs(reference)
             + np.finfo(np.float64).tiny)
    error = np.abs(actual.astype(np.float64) - reference)
    worst = float(np.max(error / bound)) if error.size else 0.0
    assert np.all(error <= bound), (
        f"{what}: max error {error.max():.3e}, worst error/bound {worst:.3g}")
    return worst


def fd_gradient(loss, x, step):
    """Central differences of the scalar function ``loss`` at every entry of ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + step
        up = loss(x)
        flat[i] = keep - step
        down = loss(x)
        flat[i] = keep
        out[i] = (up - down) / (2 * step)
    return grad


def assert_fd_linear(grad, fd, loss_magnitude, length, step, what=""):
    """Compare an analytic gradient with central differences of a loss linear in x.

    For a linear loss the central difference has no truncation error; what is
    left is the rounding of the two loss evaluations, each within
    ``gamma_L(u64) * loss_magnitude`` (the loss summed over |terms|), divided
    by ``2 * step``, twice.
    """
    bound = 2 * gamma(length) * loss_magnitude / step + unit_roundoff(grad.dtype) * np.abs(fd)
    error = np.abs(grad.astype(np.float64) - fd)
    assert np.all(error <= bound), (
        f"{what}: max |grad - fd| {error.max():.3e} > bound {np.max(bound):.3e}")
