"""Plain NumPy references of the general convolution (docs/spec-beyond.md, eqs (4g), (5g), (7g)).

Independent of cnnprop's kernels and index maps: the padded input is
``np.pad`` (modes constant/reflect/edge/wrap), and the input delta's fold is
the transpose of the padding written as a matrix (np.pad of an identity).
Everything in float64.
"""
import numpy as np

NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_matrix(size, before, after, mode):
    """The (size + before + after) x size matrix M with ``padded = M @ x`` along one axis."""
    return np.pad(np.eye(size), ((before, after), (0, 0)), mode=NP_MODES[mode])


def _windows(zp, R, S, P, Q, stride, dilation):
    (u, v), (dh, dw) = stride, dilation
    for r in range(R):
        for s in range(S):
            yield r, s, (slice(r * dh, r * dh + (P - 1) * u + 1, u),
                         slice(s * dw, s * dw + (Q - 1) * v + 1, v))


def out_size(H, R, u, before, after, d):
    return (H + before + after - d * (R - 1) - 1) // u + 1


def forward(z, f, b, stride, pads, dilation, groups, mode="zeros"):
    """Eq (4g) in float64; ``pads`` = ((pt, pb), (pl, pr))."""
    z, f = z.astype(np.float64), f.astype(np.float64)
    N, C, H, W = z.shape
    K, Cg, R, S = f.shape
    (pt, pb), (pl, pr) = pads
    P = out_size(H, R, stride[0], pt, pb, dilation[0])
    Q = out_size(W, S, stride[1], pl, pr, dilation[1])
    Ph, Pw = pad_matrix(H, pt, pb, mode), pad_matrix(W, pl, pr, mode)
    zp = np.einsum("ih,nchw,jw->ncij", Ph, z, Pw)
    out = np.zeros((N, K, P, Q))
    Kg = K // groups
    for r, s, (rows, cols) in _windows(zp, R, S, P, Q, stride, dilation):
        for g in range(groups):
            window = zp[:, g * Cg:(g + 1) * Cg, rows, cols]
            out[:, g * Kg:(g + 1) * Kg] += np.einsum("ncpq,kc->nkpq", window, f[g * Kg:(g + 1) * Kg, :, r, s])
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


def backward_input(delta, f, shape, stride, pads, dilation, groups, mode="zeros"):
    """Eq (7g) as the adjoint of :func:`forward` (scatter of the windows, then the fold)."""
    delta, f = delta.astype(np.float64), f.astype(np.float64)
    N, C, H, W = shape
    K, Cg, R, S = f.shape
    (pt, pb), (pl, pr) = pads
    P, Q = delta.shape[2:]
    Ph, Pw = pad_matrix(H, pt, pb, mode), pad_matrix(W, pl, pr, mode)
    dzp = np.zeros((N, C, Ph.shape[0], Pw.shape[0]))
    Kg = K // groups
    for r, s, (rows, cols) in _windows(dzp, R, S, P, Q, stride, dilation):
        for g in range(groups):
            dzp[:, g * Cg:(g + 1) * Cg, rows, cols] += np.einsum(
                "nkpq,kc->ncpq", delta[:, g * Kg:(g + 1) * Kg], f[g * Kg:(g + 1) * Kg, :, r, s])
    return np.einsum("ih,ncij,jw->nchw", Ph, dzp, Pw)


def backward_filter(delta, z, kernel, stride, pads, dilation, groups, mode="zeros", divisor=1.0):
    """Eq (5g) in float64."""
    delta, z = delta.astype(np.float64), z.astype(np.float64)
    N, C, H, W = z.shape
    K = delta.shape[1]
    R, S = kernel
    Cg, Kg = C // groups, K // groups
    (pt, pb), (pl, pr) = pads
    P, Q = delta.shape[2:]
    Ph, Pw = pad_matrix(H, pt, pb, mode), pad_matrix(W, pl, pr, mode)
    zp = np.einsum("ih,nchw,jw->ncij", Ph, z, Pw)
    df = np.zeros((K, Cg, R, S))
    for r, s, (rows, cols) in _windows(zp, R, S, P, Q, stride, dilation):
        for g in range(groups):
            df[g * Kg:(g + 1) * Kg, :, r, s] = np.einsum(
                "nkpq,ncpq->kc", delta[:, g * Kg:(g + 1) * Kg], zp[:, g * Cg:(g + 1) * Cg, rows, cols])
    return df / divisor
