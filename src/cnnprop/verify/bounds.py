"""Error bounds of the verification checks, derived rather than guessed.

Notation: ``u`` is the unit roundoff of a precision (``2**-53`` for float64,
``2**-24`` for float32); ``gamma_L = L*u / (1 - L*u)``.

Errors are reported *relative to the magnitude of the computation*: for an
output that is a sum of terms, ``m = sum |terms|``, computed by the same
reference on the absolute values of the inputs. The reported error is
``max |result - truth| / m`` over all elements, so one number per check is
comparable across geometries and data scales.

1. Kernel against an independent float64 reference (scipy.signal, NumPy).
   The test data is drawn in float32 and widened, so both precisions see the
   same exact inputs. A float64 sum of L products, in any order, is within
   ``gamma_L(u64) * m`` of the exact value (Higham, *Accuracy and Stability
   of Numerical Algorithms*, 2nd ed., eq. (3.5) and section 4.2); the kernel
   and the reference each err by at most that. A kernel whose sum runs in a
   precision ``u_acc`` and whose result is rounded to ``u_out`` gives::

       |result - reference| / m <= gamma_L(u_acc) + gamma_L(u64) + u_out

   The literal kernels accumulate in float64 (``u_acc = u64``) whatever the
   data type, so a float32 result is the float64 sum rounded once.

2. Finite differences of a loss that is linear in the perturbed argument
   (convolution, affine, max pooling away from ties). For
   ``E(x) = sum(G * layer(x))`` the central difference
   ``(E(x + h d) - E(x - h d)) / 2h`` equals the directional derivative
   exactly in real arithmetic, for any step h: there is no truncation
   error, so a large step (h = 1 for unit-scale data) is best. What remains is
   rounding: forming ``x + h d`` (relative u), evaluating E (a sum of
   ``M = L + size(out)`` terms, ``gamma_M``), each side bounded by
   ``(gamma_M + u) * m_E`` with ``m_E`` the loss evaluated on absolute values
   at ``|x| + h|d|``. The difference quotient therefore errs by at most
   ``(gamma_M + u) * m_E / h``, and the analytic side ``<grad, d>`` by
   ``gamma_L' * sum |grad_i d_i| <= gamma_L' * m_E / h``. The check reports
   ``|fd - <grad, d>| / m_E`` against ``(2 (gamma_M + u) + gamma_L') / h``.
   For max pooling the inputs are distinct and spaced by ``gap``; with
   ``|d_i| <= 1`` and ``h < gap / 2`` no window changes its maximum between
   ``x - h d`` and ``x + h d``, so the loss is linear along the segment.

3. Finite differences of a smooth non-linear map (activations, the chain of
   layers). The central difference has truncation error
   ``h**2 / 6 * |E'''|`` and rounding error ``(gamma_M + u) * m_E / h``.
   For the element-wise activations, ``|phi'''|`` has a known bound per
   function (e.g. 2 for tanh, 1/8 for sigmoid) and the step
   ``h = (3 u / max|phi'''|)**(1/3)`` balances both terms. For the chain,
   ``|E'''|`` is not known in closed form: central differences at h, h/2
   and h/4 are Richardson-extrapolated twice (O(h^4) error each), the
   finer extrapolation is compared, and its truncation error is estimated
   from the difference of the two extrapolations (``|R2 - R1| / 15``); the
   bound is four times that estimate plus the rounding bound. This is the
   one bound in the suite that is an estimate, not a theorem; the report
   says so.

4. Float32 against float64. A float32 result is checked against the float64
   result of the same kernel on the same (float32-exact) inputs, once the
   float64 result has been proven by (1) or (2). The bound is that of (1)
   with ``u_out = u32``: it scales with the reduction length L through
   ``gamma_L(u_acc)``.

5. Exact checks (window ranges against brute force, tie rules on hand-built
   inputs, max pooling forward, which only selects values): error is the
   number of mismatching entries, bound 0.
"""
import numpy as np

U64 = 2.0 ** -53
U32 = 2.0 ** -24


def unit_roundoff(dtype):
    """Unit roundoff u of a floating dtype (half its machine epsilon)."""
    return float(np.finfo(dtype).eps) / 2


def gamma(length, u=U64):
    """``gamma_L = L u / (1 - L u)``: the relative error bound of an L-term sum."""
    length = float(length)
    return length * u / (1.0 - length * u)


def sum_bound(length, accumulate=np.float64):
    """The part of bound (1) proportional to ``m``: ``gamma_L(u_acc) + gamma_L(u64)``."""
    return gamma(length, unit_roundoff(accumulate)) + gamma(length)


def linear_fd_bound(loss_terms, grad_terms):
    """Bound (2) times h, relative to ``m_E``: central differences of a loss linear in x."""
    return 2 * (gamma(loss_terms) + U64) + gamma(grad_terms)


def worst_element(result, truth, magnitude, relative, u_out):
    """Check ``|result - truth| <= relative * m + u_out * |truth|`` at every element.

    Returns ``(error, bound)`` at the element with the largest error/bound
    ratio, both divided by that element's magnitude ``m`` (where ``m`` is 0,
    the truth is an exact 0 and any difference is an infinite error). When
    every element is exact, the bound reported is the tightest one.
    """
    return worst_index(result, truth, magnitude, relative, u_out)[1:]


def worst_index(result, truth, magnitude, relative, u_out):
    """:func:`worst_element` with the flat index of that element first:
    ``(index, error, bound)`` (index -1 for an empty array)."""
    truth = np.asarray(truth, dtype=np.float64)
    m = np.broadcast_to(np.asarray(magnitude, dtype=np.float64), truth.shape).ravel()
    result = np.asarray(result, dtype=np.float64).ravel()
    truth = truth.ravel()
    if truth.size == 0:
        return -1, 0.0, 0.0
    diff = np.abs(result - truth)
    diff = np.where(np.isnan(diff), np.inf, diff)
    bound = relative * m + u_out * np.abs(truth)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, diff / np.where(bound > 0, bound, 1.0), np.where(diff == 0, 0.0, np.inf))
        scaled_bound = np.where(m > 0, bound / np.where(m > 0, m, 1.0), 0.0)
    i = int(np.argmax(ratio)) if ratio.max() > 0 else int(np.argmin(scaled_bound))
    if m[i] > 0:
        error = diff[i] / m[i]
    else:
        error = np.inf if diff[i] else 0.0
    return i, float(error), float(scaled_bound[i])
