"""Affine (fully connected) layer: eqs (17)-(20) of docs/spec.md.

The input is ``z[n, j]`` with ``j < J = C*H*W``: an (N, C, H, W) input is
flattened in C order (a view, no copy), exactly as ``z.reshape(N, -1)``.
"""
import math

import numpy as np

from . import _validate as check
from ._blas_threads import controller as blas_threads
from ._algorithm import resolve
from ._gemm_plan import AUTO_GEMM_WORK, fits_blas, plan_tiles
from ._kernels import affine_direct, affine_gemm
from ._threads import resolve_num_threads

__all__ = [
    "affine_forward",
    "affine_backward_input",
    "affine_backward_weight",
    "affine_backward_bias",
]


def _flat_input(z, name="z"):
    z = check.float_array(z, name, ndim=(2, 4), what="(N, J) or (N, C, H, W)")
    return z.reshape(z.shape[0], -1)


def _rows(value, name, what):
    return check.float_array(value, name, ndim=2, what=what)


def _tiled_product(trans_a, trans_b, a, b, c, bias, alpha, num_threads, work):
    """C = alpha op(A) op(B) (+ bias) on the fast path: fixed tiles, single-threaded BLAS each."""
    tiles = plan_tiles(*c.shape)
    threads = min(resolve_num_threads(num_threads, work=work), len(tiles))
    bias = np.empty(0, dtype=c.dtype) if bias is None else bias
    with blas_threads().limit(1):
        affine_gemm.gemm_tiled(trans_a, trans_b, a, b, c, bias, alpha, tiles, threads)
    return c


def affine_forward(z, w, b=None, *, algorithm="auto", num_threads=None):
    """Affine forward pass, eq (17).

    ``out[n,i] = sum_j w[i,j] * z[n,j] + b[i]``.

    Parameters
    ----------
    z : ndarray of shape (N, J) or (N, C, H, W)
        Layer input; a 4-D input is flattened in C order, ``J = C*H*W``.
    w : ndarray of shape (I, J)
        Weights, same dtype as ``z``.
    b : ndarray of shape (I,), optional
        Bias; None means no bias.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"`` for calls of at least 200k
        multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, I)
        Same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Wrong ranks, or ``J`` of ``w`` not matching the flattened input.

    Notes
    -----
    Sums run in a fixed order independent of ``num_threads``: in float64 in
    the literal kernel, in the data type on the fast path.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.array([[1.0, 2.0]])
    >>> w = np.array([[1.0, 1.0], [0.0, 3.0]])
    >>> cnnprop.affine_forward(z, w, np.array([0.5, 0.0]))
    array([[3.5, 6. ]])
    """
    z = _flat_input(z)
    w = _rows(w, "w", "(I, J)")
    if b is not None:
        b = check.float_array(b, "b", ndim=1, what="(I,)")
    dtype = check.same_dtype(z=z, w=w, b=b)
    N, J = z.shape
    I = w.shape[0]
    check.check_shape(w, "w", (I, J), f"(I, J) with J = {J} features of the flattened z")
    if b is None:
        b = np.zeros(I, dtype=dtype)
    check.check_shape(b, "b", (I,), "one bias per row of w")
    out = np.empty((N, I), dtype=dtype)
    if resolve(algorithm, N * I * J, AUTO_GEMM_WORK, fits_blas(N, I, J)) == "fast":
        return _tiled_product(False, True, z, w, out, b, 1.0, num_threads, N * I * J)
    threads = resolve_num_threads(num_threads, work=N * I * J)
    affine_direct.affine_forward(z, w, b, out, threads)
    return out


def affine_backward_input(delta, w, input_shape, *, algorithm="auto", num_threads=None):
    """Input delta of an affine layer, eq (20).

    ``dz[n,j] = sum_i delta[n,i] * w[i,j]``, the sum running over the layer's
    I outputs (erratum E10).

    Parameters
    ----------
    delta : ndarray of shape (N, I)
        ``dE_n/dZ(l+1)``.
    w : ndarray of shape (I, J)
        Weights, same dtype as ``delta``.
    input_shape : tuple of int
        Shape of the layer input, ``(N, J)`` or ``(N, C, H, W)`` with
        ``C*H*W = J``; the result has this shape.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"`` for calls of at least 200k
        multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape ``input_shape``
        ``dE_n/dZ(l)``, same dtype as ``delta``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, malformed ``input_shape``.
    ValueError
        Wrong ranks or mismatched sizes.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> w = np.arange(6.0).reshape(2, 3)
    >>> cnnprop.affine_backward_input(np.array([[1.0, 1.0]]), w, (1, 3))
    array([[3., 5., 7.]])
    """
    delta = _rows(delta, "delta", "(N, I)")
    w = _rows(w, "w", "(I, J)")
    dtype = check.same_dtype(delta=delta, w=w)
    shape = check.shape_tuple(input_shape, "input_shape", (2, 4))
    N, J = shape[0], math.prod(shape[1:])
    I = w.shape[0]
    check.check_shape(w, "w", (I, J), f"J = {J} features for input_shape {shape}")
    check.check_shape(delta, "delta", (N, I), "(N, I): N from input_shape, I rows of w")
    dz = np.empty((N, J), dtype=dtype)
    if resolve(algorithm, N * I * J, AUTO_GEMM_WORK, fits_blas(N, I, J)) == "fast":
        return _tiled_product(False, False, delta, w, dz, None, 1.0, num_threads, N * I * J).reshape(shape)
    threads = resolve_num_threads(num_threads, work=N * I * J)
    scratch = np.empty((threads, min(J, affine_direct.BLOCK)))   # a float64 row a thread
    affine_direct.affine_backward_input(delta, w, dz, scratch)
    return dz.reshape(shape)


def affine_backward_weight(delta, z, reduction="mean", *, algorithm="auto", num_threads=None):
    """Weight gradient of an affine layer, eq (18).

    ``dw[i,j] = (1/N) sum_n delta[n,i] * z[n,j]``.

    Parameters
    ----------
    delta : ndarray of shape (N, I)
        ``dE_n/dZ(l+1)``.
    z : ndarray of shape (N, J) or (N, C, H, W)
        Layer input of the forward pass, same dtype as ``delta``.
    reduction : {"mean", "sum"}
        ``"mean"`` is the source's ``1/N`` (erratum E9); ``"sum"`` drops it.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"auto"`` (default): the choice of
        :func:`use_algorithm`, else ``"fast"`` for calls of at least 200k
        multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (I, J)
        ``dE/dw``, same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Wrong ranks, batch sizes that differ, unknown ``reduction``.

    Notes
    -----
    Summed over ``n`` in a fixed order, independent of ``num_threads``: in
    float64 in the literal kernel, in the data type on the fast path.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> delta = np.array([[1.0], [3.0]])
    >>> z = np.array([[1.0, 2.0], [1.0, 0.0]])
    >>> cnnprop.affine_backward_weight(delta, z)
    array([[2., 1.]])
    """
    delta = _rows(delta, "delta", "(N, I)")
    z = _flat_input(z)
    dtype = check.same_dtype(delta=delta, z=z)
    N, J = z.shape
    I = delta.shape[1]
    check.check_shape(delta, "delta", (N, I), f"N = {N} samples of z")
    divisor = check.reduction_divisor(reduction, N)
    dw = np.empty((I, J), dtype=dtype)
    if resolve(algorithm, N * I * J, AUTO_GEMM_WORK, fits_blas(N, I, J)) == "fast":
        return _tiled_product(True, False, delta, z, dw, None, 1.0 / divisor, num_threads, N * I * J)
    threads = resolve_num_threads(num_threads, work=N * I * J)
    scratch = np.empty((threads, J))              # a float64 row a thread
    affine_direct.affine_backward_weight(delta, z, dw, scratch, divisor)
    return dw


def affine_backward_bias(delta, reduction="mean", *, num_threads=None):
    """Bias gradient of an affine layer, eq (19).

    ``db[i] = (1/N) sum_n delta[n,i]``.

    Parameters
    ----------
    delta : ndarray of shape (N, I)
        ``dE_n/dZ(l+1)``.
    reduction : {"mean", "sum"}
        ``"mean"`` is the source's ``1/N`` (erratum E9); ``"sum"`` drops it.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (I,)
        ``dE/db``, same dtype as ``delta``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Wrong rank, unknown ``reduction``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> cnnprop.affine_backward_bias(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([2., 3.])
    """
    delta = _rows(delta, "delta", "(N, I)")
    divisor = check.reduction_divisor(reduction, delta.shape[0])
    threads = resolve_num_threads(num_threads, work=delta.size)
    db = np.empty(delta.shape[1], dtype=delta.dtype)
    affine_direct.affine_backward_bias(delta, db, divisor, threads)
    return db
