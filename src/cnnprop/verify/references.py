"""Independent float64 references for the verification checks.

The convolution references are built on ``scipy.signal`` with
``method="direct"`` (the automatic choice may switch to FFTs and lose
accuracy). scipy has no stride: the forward pass and the kernel gradient
subsample or dilate, and the input delta convolves the stride-dilated delta.
Pooling and affine references are plain NumPy.
"""
import numpy as np
from scipy import signal

__all__ = [
    "pad",
    "dilate",
    "conv_forward",
    "conv_backward_input",
    "conv_backward_filter",
    "maxpool_forward",
    "affine_forward",
    "general_conv_forward",
    "general_conv_backward_input",
    "general_conv_backward_filter",
    "pad_matrix",
]


def pad(z, ph, pw, value=0.0):
    """Pad the last two axes of an (N, C, H, W) array on both sides."""
    return np.pad(np.asarray(z, dtype=np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                  constant_values=value)


def dilate(x, u, v):
    """Insert ``u - 1`` zero rows and ``v - 1`` zero columns between the entries."""
    P, Q = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (u * (P - 1) + 1, v * (Q - 1) + 1))
    out[..., ::u, ::v] = x
    return out


def conv_forward(z, f, b, stride, padding):
    """Eq (4): for each (n, k), the sum over c of valid correlations of the
    padded input with f[k, c], sampled at the stride, plus b[k]."""
    (u, v), (ph, pw) = stride, padding
    zp = pad(z, ph, pw)
    f = np.asarray(f, dtype=np.float64)
    N, C = zp.shape[:2]
    out = np.stack([
        np.stack([
            sum(signal.correlate(zp[n, c], f[k, c], mode="valid", method="direct")
                for c in range(C))[::u, ::v]
            for k in range(f.shape[0])])
        for n in range(N)])
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def conv_backward_input(delta, f, input_shape, stride, padding):
    """Eqs (7)-(9): full convolution of the stride-dilated delta with f[k, c],
    summed over k, placed in the padded input and cropped by the padding.
    Rows past the last window (left unused by the stride) stay 0."""
    (u, v), (ph, pw) = stride, padding
    N, C, H, W = input_shape
    f = np.asarray(f, dtype=np.float64)
    dil = dilate(np.asarray(delta, dtype=np.float64), u, v)
    dzp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for n in range(N):
        for c in range(C):
            full = sum(signal.convolve(dil[n, k], f[k, c], mode="full", method="direct")
                       for k in range(f.shape[0]))
            dzp[n, c, :full.shape[0], :full.shape[1]] = full
    return dzp[:, :, ph:ph + H, pw:pw + W]


def conv_backward_filter(delta, z, kernel_size, stride, padding, scale):
    """Eq (5): valid correlation of the padded input with the stride-dilated
    delta, summed over n, the first R x S lags kept, times ``scale``."""
    (u, v), (ph, pw), (R, S) = stride, padding, kernel_size
    zp = pad(z, ph, pw)
    dil = dilate(np.asarray(delta, dtype=np.float64), u, v)
    K, C = dil.shape[1], zp.shape[1]
    df = np.empty((K, C, R, S))
    for k in range(K):
        for c in range(C):
            df[k, c] = sum(signal.correlate(zp[n, c], dil[n, k], mode="valid", method="direct")
                           for n in range(zp.shape[0]))[:R, :S]
    return df * scale


def maxpool_forward(z, window, stride, padding):
    """Eq (13) with padding at minus infinity (erratum E8): a running maximum
    over the window taps, each tap a strided slice of the padded input."""
    (R, S), (u, v), (ph, pw) = window, stride, padding
    zp = pad(z, ph, pw, value=-np.inf)
    P = (zp.shape[2] - R) // u + 1
    Q = (zp.shape[3] - S) // v + 1
    out = np.full(zp.shape[:2] + (P, Q), -np.inf)
    for r in range(R):
        for s in range(S):
            out = np.maximum(out, zp[:, :, r:r + u * (P - 1) + 1:u, s:s + v * (Q - 1) + 1:v])
    return out


def affine_forward(z, w, b):
    """Eq (17) as a float64 matrix product of the C-order flattened input."""
    z = np.asarray(z, dtype=np.float64)
    out = z.reshape(z.shape[0], -1) @ np.asarray(w, dtype=np.float64).T
    return out if b is None else out + np.asarray(b, dtype=np.float64)


# ---------------------------------------------------------------- general convolution (eqs 4g, 5g, 7g)

NP_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_matrix(size, before, after, mode):
    """The matrix M of one axis's padding, ``padded = M @ x``: np.pad of an identity."""
    return np.pad(np.eye(size), ((before, after), (0, 0)), mode=NP_PAD_MODES[mode])


def _padded(z, pads, mode):
    (pt, pb), (pl, pr) = pads
    return np.pad(np.asarray(z, dtype=np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)),
                  mode=NP_PAD_MODES[mode])


def general_conv_forward(z, f, b, stride, pads, dilation, groups, mode):
    """Eq (4g): valid correlations of the padded input (np.pad in the mode) with the
    dilated kernel (zeros inserted between the taps), over each group's channels."""
    (u, v), (dh, dw) = stride, dilation
    zp = _padded(z, pads, mode)
    fd = dilate(np.asarray(f, dtype=np.float64), dh, dw)
    N = zp.shape[0]
    K, Cg = fd.shape[:2]
    Kg = K // groups
    out = np.stack([
        np.stack([
            sum(signal.correlate(zp[n, (k // Kg) * Cg + c], fd[k, c], mode="valid", method="direct")
                for c in range(Cg))[::u, ::v]
            for k in range(K)])
        for n in range(N)]) if N else np.zeros((0, K, 1, 1))
    if b is not None:
        out = out + np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def general_conv_backward_input(delta, f, input_shape, stride, pads, dilation, groups, mode):
    """Eq (7g): full convolutions of the stride-dilated delta with the dilated kernels,
    summed over the group's outputs, in the padded input; then the fold (the
    transpose of the padding matrices)."""
    (u, v), (dh, dw) = stride, dilation
    (pt, pb), (pl, pr) = pads
    N, C, H, W = input_shape
    fd = dilate(np.asarray(f, dtype=np.float64), dh, dw)
    K, Cg = fd.shape[:2]
    Kg = K // groups
    dzp = np.zeros((N, C, H + pt + pb, W + pl + pr))
    for n in range(N):
        for c in range(C):
            g = c // Cg
            full = sum(signal.convolve(dilate(np.asarray(delta[n, k], dtype=np.float64), u, v),
                                       fd[k, c - g * Cg], mode="full", method="direct")
                       for k in range(g * Kg, (g + 1) * Kg))
            dzp[n, c, :full.shape[0], :full.shape[1]] = full
    Ph, Pw = pad_matrix(H, pt, pb, mode), pad_matrix(W, pl, pr, mode)
    return np.einsum("ih,ncij,jw->nchw", Ph, dzp, Pw)


def general_conv_backward_filter(delta, z, kernel_size, stride, pads, dilation, groups, mode,
                                 scale):
    """Eq (5g): valid correlations of the padded input with the stride-dilated delta,
    read at the dilated taps, over the group's channels, times ``scale``."""
    (u, v), (dh, dw) = stride, dilation
    R, S = kernel_size
    zp = _padded(z, pads, mode)
    N, C = zp.shape[:2]
    K = delta.shape[1]
    Cg, Kg = C // groups, K // groups
    df = np.zeros((K, Cg, R, S))
    for k in range(K):
        for c in range(Cg):
            for n in range(N):
                corr = signal.correlate(zp[n, (k // Kg) * Cg + c],
                                        dilate(np.asarray(delta[n, k], dtype=np.float64), u, v),
                                        mode="valid", method="direct")
                df[k, c] += corr[::dh, ::dw][:R, :S]
    return df * scale
