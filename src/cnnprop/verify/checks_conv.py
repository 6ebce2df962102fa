"""Checks of the convolution equations (4)-(9), their general forms (4g), (5g), (7g)
and transposed convolution (T1)-(T3)."""
import numpy as np

import cnnprop

from . import fd, references as ref
from .bounds import sum_bound
from .geometries import CONV, GENERAL_CONV, random_conv, random_general_conv, select
from .data import conv_data, general_conv_data, uniform
from .registry import Outcome, check, compare

QUICK = select(CONV, quick=True, count=4)   # the 4th has C*R*S > 256
# groups + asymmetric padding; reflect; depthwise on the fast path's plane route
GENERAL_QUICK = (GENERAL_CONV[2], GENERAL_CONV[4], GENERAL_CONV[7])


def _as(dtype, *arrays):
    return [a.astype(dtype) for a in arrays]


@check("conv_forward", "(4)", "forward pass against scipy.signal.correlate",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv)
def conv_forward(case, dtype, rng):
    z, f, b, _ = conv_data(case, rng)
    out = cnnprop.conv2d_forward(*_as(dtype, z, f, b), case.stride, case.padding)
    truth = ref.conv_forward(z, f, b, case.stride, case.padding)
    magnitude = ref.conv_forward(abs(z), abs(f), abs(b), case.stride, case.padding)
    return compare(out, truth, magnitude, case.C * case.R * case.S + 1, dtype,
                   "scipy.signal.correlate")


@check("conv_input_grad_scipy", "(7)-(9)",
       "input delta against scipy.signal.convolve of the stride-dilated delta",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv)
def conv_input_grad_scipy(case, dtype, rng):
    z, f, _, delta = conv_data(case, rng)
    dz = cnnprop.conv2d_backward_input(*_as(dtype, delta, f), z.shape, case.stride, case.padding)
    truth = ref.conv_backward_input(delta, f, z.shape, case.stride, case.padding)
    magnitude = ref.conv_backward_input(abs(delta), abs(f), z.shape, case.stride, case.padding)
    return compare(dz, truth, magnitude, case.K * case.R * case.S, dtype, "scipy.signal.convolve")


@check("conv_input_grad_fd", "(7)-(9)", "input delta against central finite differences",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv)
def conv_input_grad_fd(case, dtype, rng):
    z, f, b, g = conv_data(case, rng)
    s, p = case.stride, case.padding
    if dtype == "float32":
        dz32 = cnnprop.conv2d_backward_input(*_as(np.float32, g, f), z.shape, s, p)
        return compare(dz32, cnnprop.conv2d_backward_input(g, f, z.shape, s, p),
                       ref.conv_backward_input(abs(g), abs(f), z.shape, s, p),
                       case.K * case.R * case.S, dtype, "float32 vs float64 result")
    grad = cnnprop.conv2d_backward_input(g, f, z.shape, s, p)
    error, bound = fd.linear_gradient_error(
        loss=lambda x: float(np.sum(g * cnnprop.conv2d_forward(x, f, b, s, p))),
        grad=grad, x=z, step=1.0,
        magnitude=lambda ax: float(np.sum(abs(g) * ref.conv_forward(ax, abs(f), abs(b), s, p))),
        loss_terms=case.C * case.R * case.S + 1 + g.size, grad_terms=case.K * case.R * case.S,
        rng=rng)
    return Outcome(error, bound, fd.method_name(z))


@check("conv_filter_grad_scipy", "(5)",
       "kernel gradient against scipy.signal.correlate with the stride-dilated delta",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv)
def conv_filter_grad_scipy(case, dtype, rng):
    z, f, _, delta = conv_data(case, rng)
    ks, s, p = (case.R, case.S), case.stride, case.padding
    df = cnnprop.conv2d_backward_filter(*_as(dtype, delta, z), ks, s, p)
    truth = ref.conv_backward_filter(delta, z, ks, s, p, 1 / case.N)
    magnitude = ref.conv_backward_filter(abs(delta), abs(z), ks, s, p, 1 / case.N)
    return compare(df, truth, magnitude, delta[:, 0].size + 1, dtype, "scipy.signal.correlate")


def _mean_loss_fd(case, dtype, rng, wrt):
    """Eq (5) or (6) against finite differences of the mean loss E = (1/N) sum_n E_n."""
    z, f, b, g = conv_data(case, rng)
    s, p, N = case.stride, case.padding, case.N
    if wrt == "f":
        backward = lambda d, x: cnnprop.conv2d_backward_filter(d, x, (case.R, case.S), s, p)  # noqa: E731
        length = g[:, 0].size + 1
        magnitude32 = ref.conv_backward_filter(abs(g), abs(z), (case.R, case.S), s, p, 1 / N)
    else:
        backward = lambda d, x: cnnprop.conv2d_backward_bias(d)  # noqa: E731
        length = g[:, 0].size + 1
        magnitude32 = np.abs(g).sum(axis=(0, 2, 3)) / N
    if dtype == "float32":
        return compare(backward(*_as(np.float32, g, z)), backward(g, z), magnitude32, length, dtype,
                       "float32 vs float64 result")

    def loss(x):
        args = (x, b) if wrt == "f" else (f, x)
        return float(np.sum(g * cnnprop.conv2d_forward(z, *args, s, p))) / N

    def magnitude(ax):
        args = (ax, abs(b)) if wrt == "f" else (abs(f), ax)
        return float(np.sum(abs(g) * ref.conv_forward(abs(z), *args, s, p))) / N

    x = f if wrt == "f" else b
    error, bound = fd.linear_gradient_error(
        loss, backward(g, z), x, 1.0, magnitude,
        loss_terms=case.C * case.R * case.S + 1 + g.size, grad_terms=length, rng=rng)
    return Outcome(error, bound, fd.method_name(x))


@check("conv_filter_grad_fd", "(5)", "kernel gradient (with 1/N) against finite differences",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv)
def conv_filter_grad_fd(case, dtype, rng):
    return _mean_loss_fd(case, dtype, rng, "f")


@check("conv_bias_grad_fd", "(6)", "bias gradient (with 1/N) against finite differences",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv)
def conv_bias_grad_fd(case, dtype, rng):
    return _mean_loss_fd(case, dtype, rng, "b")


@check("conv_fast_vs_direct", "(4), (5), (7)",
       "the fast path against the literal kernels, on the same data",
       cases=CONV, quick_cases=QUICK, random_cases=random_conv, paths=("-",))
def conv_fast_vs_direct(case, dtype, rng):
    z, f, b, delta = _as(dtype, *conv_data(case, rng))
    s, p, ks = case.stride, case.padding, (case.R, case.S)
    runs = {path: (cnnprop.conv2d_forward(z, f, b, s, p, algorithm=path),
                   cnnprop.conv2d_backward_input(delta, f, z.shape, s, p, algorithm=path),
                   cnnprop.conv2d_backward_filter(delta, z, ks, s, p, algorithm=path))
            for path in ("direct", "fast")}
    az, af, ab, ad = (abs(np.float64(a)) for a in (z, f, b, delta))
    magnitudes = (ref.conv_forward(az, af, ab, s, p), ref.conv_backward_input(ad, af, z.shape, s, p),
                  ref.conv_backward_filter(ad, az, ks, s, p, 1 / case.N))
    lengths = (case.C * case.R * case.S + 1, case.K * case.R * case.S, delta[:, 0].size + 1)
    # the literal result is the exact one rounded once; the fast one sums in dtype
    outcomes = [compare(fast, direct, m, length, dtype, "fast vs direct, eqs 4, 7, 5", accumulate=dtype)
                for fast, direct, m, length in zip(runs["fast"], runs["direct"], magnitudes, lengths)]
    return max(outcomes, key=lambda o: o.error / o.bound if o.bound else np.inf)


# ---------------------------------------------------------------- general convolution (issue 10)

def _general(case):
    return case.stride, case.pads, case.dilation, case.groups


def _kw(case):
    return dict(dilation=case.dilation, groups=case.groups, padding_mode=case.padding_mode)


@check("conv_general_forward", "(4g)",
       "forward with dilation, groups, four paddings and padding modes against scipy.signal "
       "(dilated kernel, np.pad in the mode)",
       cases=GENERAL_CONV, quick_cases=GENERAL_QUICK, random_cases=random_general_conv)
def conv_general_forward(case, dtype, rng):
    z, f, b, _ = general_conv_data(case, rng)
    s, p, d, G = _general(case)
    out = cnnprop.conv2d_forward(*_as(dtype, z, f, b), s, p, **_kw(case))
    truth = ref.general_conv_forward(z, f, b, s, p, d, G, case.padding_mode)
    magnitude = ref.general_conv_forward(abs(z), abs(f), abs(b), s, p, d, G, case.padding_mode)
    return compare(out, truth, magnitude, f[0].size + 1, dtype, "scipy.signal.correlate")


@check("conv_general_input_grad", "(7g)",
       "input delta (general window ranges, padding-mode fold) against scipy.signal.convolve",
       cases=GENERAL_CONV, quick_cases=GENERAL_QUICK, random_cases=random_general_conv)
def conv_general_input_grad(case, dtype, rng):
    z, f, _, delta = general_conv_data(case, rng)
    s, p, d, G = _general(case)
    dz = cnnprop.conv2d_backward_input(*_as(dtype, delta, f), z.shape, s, p, **_kw(case))
    truth = ref.general_conv_backward_input(delta, f, z.shape, s, p, d, G, case.padding_mode)
    magnitude = ref.general_conv_backward_input(abs(delta), abs(f), z.shape, s, p, d, G,
                                                case.padding_mode)
    # the fold adds at most 9 padded positions' sums into one input position
    return compare(dz, truth, magnitude, 9 * (case.K // G) * case.R * case.S + 2, dtype,
                   "scipy.signal.convolve")


@check("conv_general_input_grad_fd", "(7g)",
       "input delta (padding-mode fold) against central finite differences",
       cases=GENERAL_CONV, quick_cases=GENERAL_QUICK, random_cases=random_general_conv,
       dtypes=("float64",))
def conv_general_input_grad_fd(case, dtype, rng):
    z, f, b, g = general_conv_data(case, rng)
    s, p, d, G = _general(case)
    grad = cnnprop.conv2d_backward_input(g, f, z.shape, s, p, **_kw(case))
    mode = case.padding_mode
    error, bound = fd.linear_gradient_error(
        loss=lambda x: float(np.sum(g * cnnprop.conv2d_forward(x, f, b, s, p, **_kw(case)))),
        grad=grad, x=z, step=1.0,
        magnitude=lambda ax: float(np.sum(abs(g) * ref.general_conv_forward(
            ax, abs(f), abs(b), s, p, d, G, mode))),
        loss_terms=f[0].size + 1 + g.size, grad_terms=9 * (case.K // G) * case.R * case.S + 2,
        rng=rng)
    return Outcome(error, bound, fd.method_name(z))


@check("conv_general_filter_grad", "(5g)",
       "kernel gradient (dilated taps, groups, padded input in the mode) against scipy.signal",
       cases=GENERAL_CONV, quick_cases=GENERAL_QUICK, random_cases=random_general_conv)
def conv_general_filter_grad(case, dtype, rng):
    z, f, _, delta = general_conv_data(case, rng)
    s, p, d, G = _general(case)
    df = cnnprop.conv2d_backward_filter(*_as(dtype, delta, z), (case.R, case.S), s, p, **_kw(case))
    truth = ref.general_conv_backward_filter(delta, z, (case.R, case.S), s, p, d, G,
                                             case.padding_mode, 1 / case.N)
    magnitude = ref.general_conv_backward_filter(abs(delta), abs(z), (case.R, case.S), s, p, d, G,
                                                 case.padding_mode, 1 / case.N)
    return compare(df, truth, magnitude, delta[:, 0].size + 1, dtype, "scipy.signal.correlate")


@check("conv_transpose_adjoint", "(T1)-(T2)",
       "transposed convolution as the exact adjoint of eq (4g): <conv(y), x> = <y, conv_T(x)>",
       cases=GENERAL_CONV, quick_cases=GENERAL_QUICK, random_cases=random_general_conv)
def conv_transpose_adjoint(case, dtype, rng):
    # the case's convolution maps (H, W) to (P, Q); its transposed one maps back
    # (output_padding recovers the rows the stride leaves unused)
    z, f, _, x = general_conv_data(case, rng)
    s, p, d, G = _general(case)
    y_shape = z.shape
    from cnnprop.geometry import sliding_window
    g = sliding_window((case.H, case.W), (case.R, case.S), s, p, d)
    extra = ((case.H + g.pt + g.pb - g.Re) % s[0], (case.W + g.pl + g.pr - g.Se) % s[1])
    x, f = _as(dtype, x, f)
    y = cnnprop.conv_transpose2d_forward(x, f, None, s, p, extra, G, d)
    w = uniform(rng, y_shape).astype(dtype)
    cw = cnnprop.conv_transpose2d_backward_input(w, f, x.shape, s, p, extra, G, d)
    left = float(np.sum(np.float64(cw) * x))
    right = float(np.sum(np.float64(w) * y))
    magnitude = float(np.sum(abs(np.float64(w)) * cnnprop.conv_transpose2d_forward(
        abs(np.float64(x)), abs(np.float64(f)), None, s, p, extra, G, d)))
    terms = f[0].size * f.shape[0] + w.size + x.size
    return Outcome(abs(left - right), 2 * sum_bound(terms, np.dtype(dtype).type) * magnitude,
                   "adjoint identity")
