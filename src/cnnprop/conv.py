"""2-D convolution: eqs (4g)-(7g) of docs/spec-beyond.md (eqs (4)-(9) of docs/spec.md).

Each function validates its arguments, resolves the geometry and the thread
count, allocates the result, picks a kernel and runs it: the literal kernel
of the equation (``algorithm="direct"``, the reference) or its lowering to
matrix products (``algorithm="fast"``).

The general options (docs/spec-beyond.md): ``dilation``, ``groups``,
``padding`` in every form (int, pair, pair of pairs, ``"valid"``,
``"same"``) and ``padding_mode``. With all of them at their defaults every
result is bitwise the source kernels' (tests/test_conv_general.py).

Padding modes other than ``"zeros"`` run, on both paths, as the gather of
the padded input through the mode's index map (a padded copy of the input,
``Zp``) followed by the zero-padding-free convolution of eq (4g)/(5g); the
input delta is the delta of ``Zp`` (eq (7g) with the padding treated as
input) folded onto the input positions the padded ones read (a sum, in
float64, in a fixed order). The copy costs ``(H + p_t + p_b)(W + p_l + p_r)``
elements a plane.
"""
import numpy as np

from . import _conv_planes, _winograd
from . import _validate as check
from ._blas_threads import controller as blas_threads
from ._algorithm import resolve
from ._gemm_plan import AUTO_GEMM_WORK, fits_blas, plan_conv
from ._kernels import conv_direct, conv_gemm
from ._threads import resolve_num_threads
from .geometry import as_int, sliding_window

__all__ = [
    "conv2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_filter",
    "conv2d_backward_bias",
    "PADDING_MODES",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


# ------------------------------------------------------------ validation

def _check_channels(count, name, expected, expected_name):
    if count != expected:
        raise ValueError(
            f"{name} does not match {expected_name}: {count} != {expected}"
        )


def check_groups(groups, C, K, kernel_channels, C_name="C", K_name="K"):
    """Validated ``groups``: C and K divisible by it, and ``f.shape[1] == C / groups``."""
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if C % groups:
        raise ValueError(f"groups={groups} must divide the input channels {C_name}={C}")
    if K % groups:
        raise ValueError(f"groups={groups} must divide the output channels {K_name}={K}")
    if kernel_channels != C // groups and groups == 1:
        raise ValueError(f"input channels of f (f.shape[1]) does not match {C_name}: "
                         f"{kernel_channels} != {C}")
    if kernel_channels != C // groups:
        raise ValueError(
            f"kernel shape disagrees with groups: f.shape[1] must be {C_name} / groups = "
            f"{C} / {groups} = {C // groups}, got {kernel_channels}")
    return groups


def check_padding_mode(padding_mode, g):
    """Validated ``padding_mode`` for the resolved geometry ``g``."""
    check.one_of(padding_mode, "padding_mode", PADDING_MODES)
    for axis, size, pads in (("height", g.H, (g.pt, g.pb)), ("width", g.W, (g.pl, g.pr))):
        if padding_mode == "reflect" and max(pads) >= size:
            raise ValueError(
                f"padding_mode='reflect' needs each padding < the input {axis} {size}, "
                f"got padding {pads}")
        if padding_mode == "circular" and max(pads) > size:
            raise ValueError(
                f"padding_mode='circular' needs each padding <= the input {axis} {size}, "
                f"got padding {pads}")
    return padding_mode


def _geometry(input_hw, kernel_hw, stride, padding, dilation, padding_mode,
              window_name="kernel"):
    g = sliding_window(input_hw, kernel_hw, stride, padding, dilation, window_name=window_name)
    check_padding_mode(padding_mode, g)
    return g


def _describe(g, groups, padding_mode):
    text = g.describe()
    if groups != 1:
        text += f", groups {groups}"
    if padding_mode != "zeros":
        text += f", padding_mode {padding_mode!r}"
    return text


# ------------------------------------------------------------ padding modes

def index_map(size, before, after, mode):
    """Input index read by each padded position ``-before .. size + after - 1`` (-1: a zero)."""
    i = np.arange(-before, size + after)
    if mode == "zeros":
        return np.where((i >= 0) & (i < size), i, -1)
    if mode == "reflect":
        i = np.abs(i)
        return np.where(i >= size, 2 * (size - 1) - i, i)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    return i % size                                  # circular


def _pad(z, g, mode):
    """``Zp``: the gather of z through the index maps of ``mode``."""
    rows = index_map(g.H, g.pt, g.pb, mode)
    cols = index_map(g.W, g.pl, g.pr, mode)
    return np.ascontiguousarray(z[:, :, rows][:, :, :, cols])


def _fold(dzp, g, mode):
    """The adjoint of :func:`_pad`: each padded position's delta added to what it reads."""
    rows = index_map(g.H, g.pt, g.pb, mode)
    cols = index_map(g.W, g.pl, g.pr, mode)
    N, C = dzp.shape[:2]
    by_rows = np.zeros((N, C, g.H, dzp.shape[3]))
    np.add.at(by_rows, (slice(None), slice(None), rows), dzp)      # fixed order: ascending rows
    dz = np.zeros((N, C, g.H, g.W))
    np.add.at(dz, (slice(None), slice(None), slice(None), cols), by_rows)
    return dz.astype(dzp.dtype, copy=False)


def _unpadded(g):
    """The geometry on the padded input: no padding left."""
    return g._replace(H=g.H + g.pt + g.pb, W=g.W + g.pl + g.pr, pt=0, pb=0, pl=0, pr=0)


# ------------------------------------------------------------ cores (zero padding, resolved geometry)

def _gemm_setup(N, C, K, g, groups, dtype, num_threads, work, tasks):
    """Plan, thread count (at most one thread a task) and scratch of a fast-path call."""
    plan = plan_conv(N, C, K, g.P, g.Q, g.R, g.S, (g.u, g.v), (g.pt, g.pb, g.pl, g.pr),
                     dtype.itemsize, groups)
    threads = min(resolve_num_threads(num_threads, work=work), tasks(plan))
    return plan, threads


def _strided_1x1(g):
    """True for a 1x1 kernel with a stride and no padding: a subsample, then a plain GEMM."""
    return g.R == g.S == 1 and (g.u, g.v) != (1, 1) and not any((g.pt, g.pb, g.pl, g.pr))


def _subsampled(g):
    """The stride-1 geometry on the subsampled input ``z[:, :, ::u, ::v]`` (P x Q)."""
    return g._replace(H=g.P, W=g.Q, u=1, v=1)


def _scratch(threads, size, dtype):
    # never empty: a bounds-checked build checks even untaken pointers' rows
    return np.empty((threads, max(1, size)), dtype=dtype)


# Depthwise-like layers (one input channel a group) have GEMMs far too thin
# for BLAS: measured on mobilenet_dw (N=8, C=K=128, 56x56, 3x3, float32, 2
# threads) the literal kernels take 0.09 s forward and 0.16 s for the kernel
# gradient against 0.18 s and 0.26 s on the GEMM path, so "auto" keeps them
# literal there, unless the fast path's plane route (_conv_planes.py) takes them.
def _auto_min_work(groups, f_channels, C, K, plane_route=None):
    if (plane_route or _conv_planes.applies)(C, K, groups, f_channels):
        return AUTO_GEMM_WORK
    return float("inf") if groups > 1 and f_channels == 1 else AUTO_GEMM_WORK


def _forward_core(z, f, b, g, groups, algorithm, num_threads):
    N, C = z.shape[:2]
    K = f.shape[0]
    dtype = z.dtype
    out = np.empty((N, K, g.P, g.Q), dtype=dtype)
    if N == 0:
        return out
    work = N * K * g.P * g.Q * f[0].size
    if _winograd.wants(algorithm, g, groups, N, C, K, dtype, "forward"):
        return _winograd.forward(z, f, b, g, num_threads)
    fits = fits_blas(K, f[0].size, N * g.P * g.Q, g.H * g.W)
    if resolve(algorithm, work, _auto_min_work(groups, f.shape[1], C, K), fits) == "direct":
        threads = resolve_num_threads(num_threads, work=work)
        scratch = np.empty((threads, g.P * g.Q))     # one float64 accumulator plane a thread
        conv_direct.conv2d_forward(z, f, b, out, scratch, g.u, g.v, g.dh, g.dw, g.pt, g.pl, groups)
        return out
    if _conv_planes.applies(C, K, groups, f.shape[1], dtype.itemsize):
        return _conv_planes.forward(z, f, b, out, g, groups,
                                    min(resolve_num_threads(num_threads, work=work), N * groups))
    if _strided_1x1(g):
        # the columns of the GEMM are the subsampled input planes: no im2col
        z, g = np.ascontiguousarray(z[:, :, ::g.u, ::g.v]), _subsampled(g)
    plan, threads = _gemm_setup(N, C, K, g, groups, dtype, num_threads, work, lambda p: len(p.blocks))
    multi = bool(np.any(plan.blocks[:, 1] - plan.blocks[:, 0] > 1))
    cols = _scratch(threads, 0 if plan.direct_cols else plan.chunk_rows * plan.max_cols, dtype)
    block_out = _scratch(threads, K * plan.max_cols if multi else 0, dtype)
    with blas_threads().limit(1):
        conv_gemm.conv2d_forward(z, f, b, out, plan.blocks, cols, block_out,
                                 g.u, g.v, g.dh, g.dw, g.pt, g.pl, groups, plan.direct_cols,
                                 plan.chunk_rows)
    return out


def _input_core(delta, f, shape, g, groups, algorithm, num_threads):
    N, C, H, W = shape
    K = f.shape[0]
    dtype = delta.dtype
    dz = np.empty((N, C, H, W), dtype=dtype)
    if N == 0:
        return dz
    work = delta.size * f[0].size
    if _winograd.wants(algorithm, g, groups, N, C, K, dtype, "input"):
        return _winograd.backward_input(delta, f, shape, g, num_threads)
    fits = fits_blas(K, C * g.R * g.S, N * g.P * g.Q, H * W)
    if resolve(algorithm, work, AUTO_GEMM_WORK, fits) == "direct":
        threads = resolve_num_threads(num_threads, work=work)
        conv_direct.conv2d_backward_input(delta, f, dz, g.u, g.v, g.dh, g.dw, g.pt, g.pl, groups,
                                          threads)
        return dz
    # the plane route multiplies the stride's zeros too: finite kernels only
    if (_conv_planes.applies_input(C, K, groups, f.shape[1], g, dtype.itemsize)
            and np.isfinite(f).all()):
        return _conv_planes.backward_input(delta, f, dz, g, groups,
                                           min(resolve_num_threads(num_threads, work=work),
                                               N * groups))
    if _strided_1x1(g):
        # the input delta of the subsampled input, spread back (no window holds the rest: 0)
        dz[...] = 0
        dz[:, :, ::g.u, ::g.v] = _input_core(delta, f, (N, C, g.P, g.Q), _subsampled(g), groups,
                                             "fast", num_threads)
        return dz
    plan, threads = _gemm_setup(N, C, K, g, groups, dtype, num_threads, work,
                                lambda p: len(p.groups) * len(p.channels))
    rows = int(np.max(plan.channels[:, 1] - plan.channels[:, 0])) * g.R * g.S
    cols = _scratch(threads, 0 if plan.direct_cols else rows * plan.max_cols, dtype)
    block_delta = _scratch(threads, (K // groups) * plan.max_cols, dtype)
    with blas_threads().limit(1):
        conv_gemm.conv2d_backward_input(delta, f, dz, plan.blocks, plan.groups, plan.channels,
                                        cols, block_delta, g.u, g.v, g.dh, g.dw, g.pt, g.pl,
                                        groups, plan.direct_cols)
    return dz


def _filter_core(delta, z, g, groups, divisor, algorithm, num_threads):
    N, C, H, W = z.shape
    K = delta.shape[1]
    dtype = z.dtype
    Cg = C // groups
    df = np.empty((K, Cg, g.R, g.S), dtype=dtype)
    if N == 0:
        df[...] = 0
        return df
    work = delta.size * Cg * g.R * g.S
    fits = fits_blas(K, C * g.R * g.S, N * g.P * g.Q, H * W)
    if resolve(algorithm, work, _auto_min_work(groups, Cg, C, K, _conv_planes.applies_filter),
               fits) == "direct":
        threads = resolve_num_threads(num_threads, work=work)
        nonfinite = not bool(np.isfinite(delta).all())
        conv_direct.conv2d_backward_filter(delta, z, df, g.u, g.v, g.dh, g.dw, g.pt, g.pl, groups,
                                           divisor, nonfinite, threads)
        return df
    if _conv_planes.applies_filter(C, K, groups, Cg, g.R * g.S, dtype.itemsize):
        tasks = len(_conv_planes.spans(N, groups)) * groups
        return _conv_planes.backward_filter(delta, z, df, g, groups, divisor,
                                            min(resolve_num_threads(num_threads, work=work), tasks))
    if _strided_1x1(g):
        z, g = np.ascontiguousarray(z[:, :, ::g.u, ::g.v]), _subsampled(g)
    plan, threads = _gemm_setup(N, C, K, g, groups, dtype, num_threads, work,
                                lambda p: max(len(p.spans) * groups * len(p.rows), 2))
    rows = int(np.max(plan.rows[:, 1] - plan.rows[:, 0]))
    cols = _scratch(threads, 0 if plan.direct_cols else rows * plan.max_cols, dtype)
    block_delta = _scratch(threads, (K // groups) * plan.max_cols, dtype)
    # one partial sum: dF itself (bounded scratch for a large dF)
    partials = (df.reshape(1, -1) if len(plan.spans) == 1
                else np.empty((len(plan.spans), df.size), dtype=dtype))
    with blas_threads().limit(1):
        conv_gemm.conv2d_backward_filter(delta, z, df, plan.blocks, plan.spans, plan.rows, partials,
                                         cols, block_delta, g.u, g.v, g.dh, g.dw, g.pt, g.pl,
                                         groups, plan.direct_cols, divisor)
    return df


# padding modes on top of the cores

def forward_resolved(z, f, b, g, groups, padding_mode, algorithm, num_threads):
    """Eq (4g) for validated arrays and a resolved geometry (also transposed conv's input delta)."""
    if padding_mode != "zeros":
        z, g = _pad(z, g, padding_mode), _unpadded(g)
    return _forward_core(z, f, b, g, groups, algorithm, num_threads)


def input_resolved(delta, f, shape, g, groups, padding_mode, algorithm, num_threads):
    """Eq (7g) for validated arrays and a resolved geometry (also transposed conv's forward)."""
    if padding_mode == "zeros":
        return _input_core(delta, f, shape, g, groups, algorithm, num_threads)
    gp = _unpadded(g)
    N, C = shape[:2]
    work = delta.size * f[0].size
    if _winograd.wants(algorithm, gp, groups, N, C, f.shape[0], delta.dtype, "input"):
        path = "winograd"
    else:
        path = resolve(algorithm, work, AUTO_GEMM_WORK,
                       fits_blas(f.shape[0], C * g.R * g.S, N * g.P * g.Q, gp.H * gp.W))
    dtype = delta.dtype
    if path == "direct":
        # the reference sums in float64 and rounds once: fold before rounding
        delta, f = delta.astype(np.float64), f.astype(np.float64)
    dzp = _input_core(delta, f, (N, C, gp.H, gp.W), gp, groups, path, num_threads)
    return _fold(dzp, g, padding_mode).astype(dtype, copy=False)


def filter_resolved(delta, z, g, groups, padding_mode, divisor, algorithm, num_threads):
    """Eq (5g) for validated arrays and a resolved geometry (also transposed conv's kernel gradient)."""
    if padding_mode != "zeros":
        z, g = _pad(z, g, padding_mode), _unpadded(g)
    return _filter_core(delta, z, g, groups, divisor, algorithm, num_threads)


# ------------------------------------------------------------ public API



def conv2d_forward(z, f, b=None, stride=1, padding=0, dilation=1, groups=1, *,
                   padding_mode="zeros", algorithm="auto", num_threads=None):
    """Convolution forward pass, eq (4g) (eq (4) with the defaults).

    ``out[n,k,p,q] = sum_{c',r,s} Zp[n,gamma(k) C_g + c',h,w] * f[k,c',r,s] + b[k]`` with
    ``h = p*u + r*d_h - p_t`` and ``w = q*v + s*d_w - p_l``; ``Zp`` is the input
    padded as ``padding_mode`` says (zeros by default).

    Parameters
    ----------
    z : ndarray of shape (N, C, H, W) or (C, H, W)
        Layer input, float32 or float64. N may be 0.
    f : ndarray of shape (K, C / groups, R, S)
        Kernels, same dtype as ``z``.
    b : ndarray of shape (K,), optional
        One bias per output channel (erratum E6). None means no bias.
    stride : int or (int, int)
        ``(u, v)``, at least 1.
    padding : int, (int, int), ((int, int), (int, int)), "valid" or "same"
        ``p`` on all sides, ``(p_h, p_w)``, ``((p_t, p_b), (p_l, p_r))``;
        ``"same"`` gives ``P = ceil(H / u)`` with the extra row at the bottom
        (TensorFlow's split, any stride and dilation).
    dilation : int or (int, int)
        ``(d_h, d_w)``, the distance between kernel taps, at least 1.
    groups : int
        ``G``; C and K divisible by G. ``groups == C`` is depthwise.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
        What the padded positions read (docs/spec-beyond.md).
    algorithm : {"auto", "direct", "fast", "winograd"}
        ``"direct"``: the literal kernel of the equation, summing in float64
        (the reference path). ``"fast"``: lowered to BLAS matrix products,
        summing in the data type. ``"winograd"``: Winograd minimal filtering,
        eq (W1) of docs/winograd.md (3x3, stride 1, dilation 1, groups 1
        only). ``"auto"`` (default): the choice of :func:`use_algorithm`,
        else Winograd where docs/winograd.md's rule picks it, else ``"fast"``
        for calls of at least 200k multiply-adds.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (N, K, P, Q), or (K, P, Q) for an unbatched ``z``
        ``P = (H + p_t + p_b - d_h (R - 1) - 1) // u + 1``, Q likewise; same
        dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, non-int options.
    ValueError
        Wrong ranks, channel or groups mismatch, bad stride, padding,
        dilation or padding_mode, or a kernel that does not fit in the
        padded input.

    Notes
    -----
    The literal kernel sums in float64 and rounds once to the output dtype;
    the fast path sums in the data type. Either way the result is bitwise the
    same for any ``num_threads``. Zero padding is multiplied like any input:
    a non-finite kernel weight facing the padding gives NaN on both paths
    (docs/conventions.md). Non-contiguous inputs are copied first.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> f = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv2d_forward(z, f, stride=2)[0, 0]
    array([[10., 18.],
           [42., 50.]])
    >>> cnnprop.conv2d_forward(z, f, dilation=2)[0, 0]
    array([[20., 24.],
           [36., 40.]])
    """
    z, unbatched = check.nchw(z, "z")
    f = check.float_array(f, "f", ndim=4, what="(K, C / groups, R, S)")
    if b is not None:
        b = check.float_array(b, "b", ndim=1, what="(K,)")
    dtype = check.same_dtype(z=z, f=f, b=b)
    C, K = z.shape[1], f.shape[0]
    groups = check_groups(groups, C, K, f.shape[1], C_name="input channels of z (z.shape[1])")
    if b is None:
        b = np.zeros(K, dtype=dtype)
    check.check_shape(b, "b", (K,), "one bias per output channel of f")
    g = _geometry(z.shape[2:], f.shape[2:], stride, padding, dilation, padding_mode)
    out = forward_resolved(z, f, b, g, groups, padding_mode, algorithm, num_threads)
    return out[0] if unbatched else out


def conv2d_backward_input(delta, f, input_shape, stride=1, padding=0, dilation=1, groups=1, *,
                          padding_mode="zeros", algorithm="auto", num_threads=None):
    """Input delta of a convolution, eq (7g) (eqs (7)-(9) with the defaults).

    ``dz[n,c,h,w] = sum_{k : gamma(k) = c // C_g} sum_{(p,r),(q,s)} delta[n,k,p,q] * f[k,c - gamma(k) C_g,r,s]``
    over the windows that hold ``(h, w)``: ``Pmin <= p <= Pmax`` with
    ``Pmin = max(0, ceil((h + p_t - (R - 1) d_h) / u))``,
    ``Pmax = min(P - 1, floor((h + p_t) / u))``, and ``d_h`` dividing
    ``h + p_t - p u`` (tap ``r = (h + p_t - p u) / d_h``); q alike. With a
    non-zero ``padding_mode`` the delta of the padded input is folded onto
    the positions it reads.

    Parameters
    ----------
    delta : ndarray of shape (N, K, P, Q) or (K, P, Q)
        ``dE_n/dZ(l+1)``, the delta of the layer output.
    f : ndarray of shape (K, C / groups, R, S)
        Kernels, same dtype as ``delta``.
    input_shape : tuple of ints
        ``(N, C, H, W)`` of the layer input (``(C, H, W)`` for an unbatched
        ``delta``). Needed because a stride can leave trailing rows or
        columns of the input unused.
    stride, padding, dilation, groups, padding_mode
        Of the forward pass, as :func:`conv2d_forward` takes them.
    algorithm : {"auto", "direct", "fast", "winograd"}
        ``"direct"``: the literal gather of eq (7g), summing in float64.
        ``"fast"``: ``F^T delta`` by BLAS, then col2im. ``"winograd"``:
        eq (W2) of docs/winograd.md (3x3, stride 1, dilation 1, groups 1
        only). ``"auto"``: see :func:`use_algorithm` and :func:`conv2d_forward`.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape ``input_shape``
        ``dE_n/dZ(l)``, same dtype as ``delta``. Input positions that no
        window covers get 0.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, or a malformed ``input_shape``.
    ValueError
        Wrong ranks, or ``delta``/``f`` not matching ``input_shape``, groups
        and the geometry.

    Notes
    -----
    The literal kernel computes a gather over the general window ranges, as
    eq (7g) reads, with sums in float64; the fast path computes ``F^T delta``
    and scatters it back (col2im). Either way bitwise independent of
    ``num_threads``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> delta = np.ones((1, 1, 2, 2))
    >>> f = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv2d_backward_input(delta, f, (1, 1, 5, 5), stride=2)[0, 0]
    array([[1., 1., 1., 1., 0.],
           [1., 1., 1., 1., 0.],
           [1., 1., 1., 1., 0.],
           [1., 1., 1., 1., 0.],
           [0., 0., 0., 0., 0.]])
    """
    delta, unbatched = check.nchw(delta, "delta", "(N, K, P, Q)")
    f = check.float_array(f, "f", ndim=4, what="(K, C / groups, R, S)")
    check.same_dtype(delta=delta, f=f)
    N, C, H, W = check.batched_shape(input_shape, "input_shape", unbatched)
    K = f.shape[0]
    groups = check_groups(groups, C, K, f.shape[1], C_name="input_shape[1]")
    g = _geometry((H, W), f.shape[2:], stride, padding, dilation, padding_mode)
    check.check_shape(delta, "delta", (N, K, g.P, g.Q),
                      f"(N, K, P, Q) for input_shape {(N, C, H, W)}, {K} kernels, "
                      + _describe(g, groups, padding_mode))
    dz = input_resolved(delta, f, (N, C, H, W), g, groups, padding_mode, algorithm, num_threads)
    return dz[0] if unbatched else dz


def conv2d_backward_filter(delta, z, kernel_size, stride=1, padding=0, dilation=1, groups=1, *,
                           padding_mode="zeros", reduction="mean", algorithm="auto",
                           num_threads=None):
    """Kernel gradient of a convolution, eq (5g) (eq (5) with the defaults).

    ``df[k,c',r,s] = (1/N) sum_{n,p,q} delta[n,k,p,q] * Zp[n,gamma(k) C_g + c',h,w]`` with
    ``h = p*u + r*d_h - p_t``, ``w = q*v + s*d_w - p_l``; ``Zp`` the padded
    input as in the forward pass.

    Parameters
    ----------
    delta : ndarray of shape (N, K, P, Q) or (K, P, Q)
        ``dE_n/dZ(l+1)``.
    z : ndarray of shape (N, C, H, W) or (C, H, W)
        Layer input of the forward pass, same dtype as ``delta``.
    kernel_size : int or (int, int)
        ``(R, S)``.
    stride, padding, dilation, groups, padding_mode
        Of the forward pass, as :func:`conv2d_forward` takes them.
    reduction : {"mean", "sum"}
        ``"mean"`` is the source's ``1/N`` (gradient of the mean loss,
        erratum E9); ``"sum"`` drops it. ``"mean"`` over N = 0 is refused.
    algorithm : {"auto", "direct", "fast"}
        ``"direct"``: the literal kernel, summing in float64. ``"fast"``:
        BLAS products. ``"auto"``: see :func:`use_algorithm`. (No
        ``"winograd"``: a ValueError.)
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (K, C / groups, R, S)
        ``dE/dF``, same dtype as ``z``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Wrong ranks, ``delta`` not matching the geometry, groups not dividing
        the channels, unknown ``reduction``.

    Notes
    -----
    The sum over ``n, p, q`` runs in a fixed order (float64 in the literal
    kernel, the data type on the fast path): the result is bitwise the same
    for any ``num_threads``. A non-finite delta facing zero padding gives
    NaN on both paths (docs/conventions.md).

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> z = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> delta = np.ones((1, 1, 2, 2))
    >>> cnnprop.conv2d_backward_filter(delta, z, (2, 2))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    delta, unbatched = check.nchw(delta, "delta", "(N, K, P, Q)")
    z, z_unbatched = check.nchw(z, "z")
    if unbatched != z_unbatched:
        raise ValueError(f"delta and z must both be batched or both unbatched, got shapes "
                         f"{delta.shape[int(unbatched):]} and {z.shape[int(z_unbatched):]}")
    check.same_dtype(delta=delta, z=z)
    N, C, H, W = z.shape
    K = delta.shape[1]
    divisor = check.reduction_divisor(reduction, N)
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    groups = check_groups(groups, C, K, C // groups)
    g = _geometry((H, W), kernel_size, stride, padding, dilation, padding_mode,
                  window_name="kernel_size")
    check.check_shape(delta, "delta", (N, K, g.P, g.Q),
                      f"(N, K, P, Q) for z of shape {z.shape}, " + _describe(g, groups, padding_mode))
    return filter_resolved(delta, z, g, groups, padding_mode, divisor, algorithm, num_threads)


def conv2d_backward_bias(delta, reduction="mean", *, num_threads=None):
    """Bias gradient of a convolution, eq (6).

    ``db[k] = (1/N) sum_{n,p,q} delta[n,k,p,q]``.

    Parameters
    ----------
    delta : ndarray of shape (N, K, P, Q) or (K, P, Q)
        ``dE_n/dZ(l+1)``.
    reduction : {"mean", "sum"}
        ``"mean"`` is the source's ``1/N`` (erratum E9); ``"sum"`` drops it.
    num_threads : int, optional
        OpenMP threads; None means what OpenMP and the CPU quota allow.

    Returns
    -------
    ndarray of shape (K,)
        ``dE/db``, same dtype as ``delta``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Wrong rank or unknown ``reduction``.

    Notes
    -----
    Summed in float64 in a fixed order, independent of ``num_threads``.

    Examples
    --------
    >>> import numpy as np, cnnprop
    >>> cnnprop.conv2d_backward_bias(np.ones((2, 3, 4, 4)))
    array([16., 16., 16.])
    """
    delta, _ = check.nchw(delta, "delta", "(N, K, P, Q)")
    divisor = check.reduction_divisor(reduction, delta.shape[0])
    threads = resolve_num_threads(num_threads, work=delta.size)
    db = np.zeros(delta.shape[1], dtype=delta.dtype)
    if delta.shape[0]:
        conv_direct.conv2d_backward_bias(delta, db, divisor, threads)
    return db
