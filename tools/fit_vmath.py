"""Polynomial coefficients of src/cnnprop/_kernels/_vmath.h (run once; prints them).

Q(r) = (e^r - 1 - r) / r^2 on |r| <= ln2/2 (Cody-Waite remainder), so that
expm1(r) = r + r^2 Q(r) and exp(r) = 1 + expm1(r).
R(t) = (2 atanh(s)/s - 2) / t, t = s^2 <= 1/25 (|s| <= 1/5), so that
log((1+s)/(1-s)) = 2 s + s t R(t).
Chebyshev fits (mpmath.chebyfit, near-minimax) in 60-digit arithmetic, then
rounded to the data type; the script reports the error of the rounded
polynomial, relative to expm1(r) and to log((1+s)/(1-s)).
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 60
RMAX = mp.log(2) / 2 * mp.mpf("1.0001")
TMAX = mp.mpf(1) / 25


def q(r):
    return (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(1) / 2


def rr(t):
    if t == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(t)
    return (2 * mp.atanh(s) / s - 2) / t


def fit(f, lo, hi, degree, dtype):
    coeffs, _ = mp.chebyfit(f, [lo, hi], degree + 1, error=True)   # highest first
    return [dtype(float(c)) for c in coeffs]


def horner(coeffs, x):
    acc = mp.mpf(0)
    for c in coeffs:
        acc = acc * x + mp.mpf(float(c))
    return acc


def err_expm1(coeffs):
    worst = 0
    for r in mp.linspace(-RMAX, RMAX, 2001):
        if r == 0:
            continue
        approx = r + r * r * horner(coeffs, r)
        worst = max(worst, abs(approx / mp.expm1(r) - 1))
    return float(worst)


def err_log(coeffs):
    worst = 0
    for t in mp.linspace(0, TMAX, 2001)[1:]:
        s = mp.sqrt(t)
        approx = 2 * s + s * t * horner(coeffs, t)
        worst = max(worst, abs(approx / (2 * mp.atanh(s)) - 1))
    return float(worst)


if __name__ == "__main__":
    for dtype, degrees_q, degrees_r in ((np.float32, (3, 4, 5), (1, 2, 3)),
                                        (np.float64, (7, 8, 9, 10), (4, 5, 6, 7))):
        eps = float(np.finfo(dtype).eps) / 2
        for d in degrees_q:
            c = fit(q, -RMAX, RMAX, d, dtype)
            print(dtype.__name__, "Q degree", d, "rel err %.3g = %.3g u" % (err_expm1(c), err_expm1(c) / eps))
            print("   ", ", ".join(float(x).hex() for x in c))
        for d in degrees_r:
            c = fit(rr, 0, TMAX, d, dtype)
            print(dtype.__name__, "R degree", d, "rel err %.3g = %.3g u" % (err_log(c), err_log(c) / eps))
            print("   ", ", ".join(float(x).hex() for x in c))
