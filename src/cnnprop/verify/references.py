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
    "pool_output_size",
    "maxpool_general",
    "avgpool_forward",
    "avgpool_divisor",
    "affine_forward",
    "general_conv_forward",
    "general_conv_backward_input",
    "general_conv_backward_filter",
    "pad_matrix",
    "winograd_magnitude",
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


def pool_output_size(size, extent, stride, before, after, ceil_mode):
    """Windows along one axis, counted one by one (0 when there are none).

    Floor mode counts the windows ``p`` that lie inside the padded input,
    ``p u + R_e <= size + before + after``. Ceil mode counts the windows that
    start before the end of the input (not in the bottom padding),
    ``p u < size + before``, and whose predecessor did not already reach the
    end of the padded input, ``(p - 1) u + R_e < size + before + after``.
    """
    length = size + before + after
    count, p = 0, 0
    while p * stride < length + stride:
        if ceil_mode:
            count += p * stride < size + before and (p - 1) * stride + extent < length
        else:
            count += p * stride + extent <= length
        p += 1
    return count


def _pool_taps(H, W, P, Q, window, stride, pads, dilation):
    """(P, Q, T) row and column of every window tap in row-major order, and whether it is inside."""
    (R, S), (u, v), ((pt, _), (pl, _)), (dh, dw) = window, stride, pads, dilation
    h = np.arange(P)[:, None] * u - pt + np.arange(R)[None, :] * dh        # (P, R)
    w = np.arange(Q)[:, None] * v - pl + np.arange(S)[None, :] * dw        # (Q, S)
    hh = np.broadcast_to(h[:, None, :, None], (P, Q, R, S)).reshape(P, Q, R * S)
    ww = np.broadcast_to(w[None, :, None, :], (P, Q, R, S)).reshape(P, Q, R * S)
    return hh, ww, (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)


def maxpool_general(z, window, stride, pads, dilation, out_hw):
    """Eq (13g) by brute force: every window's taps listed in row-major order,
    taps outside the input at -inf, the first maximum (``np.argmax``; a NaN
    counts as the maximum) and its flat index ``h W + w``."""
    z = np.asarray(z, dtype=np.float64)
    N, C, H, W = z.shape
    P, Q = out_hw
    hh, ww, inside = _pool_taps(H, W, P, Q, window, stride, pads, dilation)
    vals = z[:, :, np.clip(hh, 0, H - 1), np.clip(ww, 0, W - 1)]          # (N, C, P, Q, T)
    vals = np.where(inside, vals, -np.inf)
    k = np.argmax(vals, axis=-1)
    y = np.take_along_axis(vals, k[..., None], axis=-1)[..., 0]
    flat = (hh * W + ww)[None, None]
    idx = np.take_along_axis(np.broadcast_to(flat, vals.shape), k[..., None], axis=-1)[..., 0]
    return y, idx.astype(np.int64)


def avgpool_divisor(H, W, P, Q, window, stride, pads, count_include_pad, divisor_override):
    """The divisor map as a box correlation of an indicator image: of the
    padded input (``count_include_pad``) or of the input alone."""
    if divisor_override is not None:
        return np.full((P, Q), float(divisor_override))
    (R, S), (u, v), ((pt, pb), (pl, pr)) = window, stride, pads
    # room for ceil-mode windows that run past the bottom/right padding
    rows, cols = (P - 1) * u + R, (Q - 1) * v + S
    big = np.zeros((max(rows, H + pt + pb), max(cols, W + pl + pr)))
    if count_include_pad:
        big[:H + pt + pb, :W + pl + pr] = 1.0
    else:
        big[pt:pt + H, pl:pl + W] = 1.0
    box = np.ones((R, S))
    return signal.correlate(big, box, mode="valid", method="direct")[:rows:u, :cols:v][:P, :Q]


def avgpool_forward(z, window, stride, pads, out_hw, count_include_pad=True, divisor_override=None):
    """Eq (A1): a valid correlation of the zero-padded input with an all-ones
    box, sampled at the stride, divided by :func:`avgpool_divisor`."""
    z = np.asarray(z, dtype=np.float64)
    N, C, H, W = z.shape
    (R, S), (u, v), ((pt, pb), (pl, pr)) = window, stride, pads
    P, Q = out_hw
    rows, cols = max((P - 1) * u + R, H + pt + pb), max((Q - 1) * v + S, W + pl + pr)
    zp = np.zeros((N, C, rows, cols))
    zp[:, :, pt:pt + H, pl:pl + W] = z
    box = np.ones((R, S))
    sums = np.array([[signal.correlate(zp[n, c], box, mode="valid", method="direct")[::u, ::v][:P, :Q]
                      for c in range(C)] for n in range(N)]).reshape(N, C, P, Q)
    return sums / avgpool_divisor(H, W, P, Q, window, stride, pads, count_include_pad, divisor_override)


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


def winograd_magnitude(z, f, b, out_shape, pt, pl, m):
    """The magnitude of the Winograd computation (W1) of a stride-1 3x3 correlation.

    (W1) run in float64 on ``|z|``, ``|f|``, ``|b|`` with every transform
    matrix replaced by its absolute value: ``|A^T| [sum_c (|G||f_c||G^T|) .
    (|B^T||d_c||B|)] |A| + |b|``, element by element of ``out`` (shape
    ``(N, K, P, Q)``, ``out[p, q]`` reads ``z[p + r - pt, q + s - pl]``, 0 outside).
    Every rounding of the Winograd path (the transformed values, the sum over
    channels, the output) is relative to a term of this sum, so it is what
    its error bound (docs/winograd.md) scales with; it is at least the direct
    sum's magnitude ``sum |z||f| + |b|``. A NumPy implementation, independent
    of the Cython kernel.
    """
    from cnnprop._winograd import transforms

    AT, G, BT = (np.abs(a) for a in transforms(m))
    alpha = m + 2
    N, K, P, Q = out_shape
    z = np.abs(np.asarray(z, dtype=np.float64))
    f = np.abs(np.asarray(f, dtype=np.float64))
    TP, TQ = -(-P // m), -(-Q // m)
    H, W = z.shape[2:]
    # the input on the grid the tiles read: grid row i is input row i - pt
    rows, cols = TP * m + 2, TQ * m + 2
    grid = np.zeros((N, z.shape[1], rows, cols))
    h0, h1 = max(0, pt), min(rows, H + pt)
    w0, w1 = max(0, pl), min(cols, W + pl)
    if h1 > h0 and w1 > w0:
        grid[:, :, h0:h1, w0:w1] = z[:, :, h0 - pt:h1 - pt, w0 - pl:w1 - pl]
    tiles = np.lib.stride_tricks.sliding_window_view(grid, (alpha, alpha), axis=(2, 3))[:, :, ::m, ::m]
    V = np.einsum("ia,nctuab,jb->nctuij", BT, tiles, BT, optimize=True)
    U = np.einsum("ir,kcrs,js->kcij", G, f, G, optimize=True)
    M = np.einsum("kcij,nctuij->nktuij", U, V, optimize=True)
    Y = np.einsum("pi,nktuij,qj->nktupq", AT, M, AT, optimize=True)
    out = Y.transpose(0, 1, 2, 4, 3, 5).reshape(N, K, TP * m, TQ * m)[:, :, :P, :Q]
    if b is not None:
        out = out + np.abs(np.asarray(b, dtype=np.float64))[None, :, None, None]
    return out
