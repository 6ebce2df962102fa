"""Independent references for the tests, in plain NumPy.

Written differently from the kernels on purpose: the kernels gather per
output element with window ranges; these pad explicitly and sweep one kernel
tap at a time over strided slices (forward, kernel gradient) or scatter into
the padded input (input delta). Everything is computed in float64. The
scipy.signal references live in cnnprop.verify.references and are used by
the tests too.
"""
import numpy as np


def _pad(z, ph, pw):
    return np.pad(z, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _tap(zp, r, s, u, v, P, Q):
    """zp[:, :, p*u + r, q*v + s] for all p < P, q < Q."""
    return zp[:, :, r:r + u * (P - 1) + 1:u, s:s + v * (Q - 1) + 1:v]


def out_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def conv_forward(z, f, b, u, v, ph, pw):
    z, f = np.float64(z), np.float64(f)
    N, C, H, W = z.shape
    K, _, R, S = f.shape
    P, Q = out_size(H, R, u, ph), out_size(W, S, v, pw)
    zp = _pad(z, ph, pw)
    out = np.zeros((N, K, P, Q))
    for r in range(R):
        for s in range(S):
            out += np.einsum("ncpq,kc->nkpq", _tap(zp, r, s, u, v, P, Q), f[:, :, r, s])
    if b is not None:
        out += np.float64(b)[None, :, None, None]
    return out


def conv_backward_input(delta, f, input_shape, u, v, ph, pw):
    delta, f = np.float64(delta), np.float64(f)
    N, C, H, W = input_shape
    _, K, P, Q = delta.shape
    R, S = f.shape[2:]
    dzp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for r in range(R):
        for s in range(S):
            dzp[:, :, r:r + u * (P - 1) + 1:u, s:s + v * (Q - 1) + 1:v] += np.einsum(
                "nkpq,kc->ncpq", delta, f[:, :, r, s])
    return dzp[:, :, ph:ph + H, pw:pw + W]


def conv_backward_filter(delta, z, R, S, u, v, ph, pw, scale):
    delta, z = np.float64(delta), np.float64(z)
    P, Q = delta.shape[2:]
    zp = _pad(z, ph, pw)
    df = np.zeros((delta.shape[1], z.shape[1], R, S))
    for r in range(R):
        for s in range(S):
            df[:, :, r, s] = np.einsum("nkpq,ncpq->kc", delta, _tap(zp, r, s, u, v, P, Q))
    return df * scale


def maxpool_forward(z, R, S, u, v, ph, pw):
    z = np.float64(z)
    N, C, H, W = z.shape
    P, Q = out_size(H, R, u, ph), out_size(W, S, v, pw)
    zp = np.pad(z, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    out = np.full((N, C, P, Q), -np.inf)
    for r in range(R):
        for s in range(S):
            out = np.maximum(out, _tap(zp, r, s, u, v, P, Q))
    return out


def maxpool_backward(delta, z, y, R, S, u, v, ph, pw, ties):
    """Scatter form of eq (14): each window hands its delta to its maximum(s)."""
    delta, z = np.float64(delta), np.float64(z)
    N, C, H, W = z.shape
    P, Q = delta.shape[2:]
    dz = np.zeros((N, C, H, W))
    for n in range(N):
        for c in range(C):
            for p in range(P):
                for q in range(Q):
                    h0, w0 = p * u - ph, q * v - pw
                    hs = range(max(h0, 0), min(h0 + R, H))
                    ws = range(max(w0, 0), min(w0 + S, W))
                    winners = [(h, w) for h in hs for w in ws if z[n, c, h, w] == y[n, c, p, q]]
                    if ties == "first":
                        winners = winners[:1]
                    for h, w in winners:
                        dz[n, c, h, w] += delta[n, c, p, q]
    return dz
