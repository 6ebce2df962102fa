"""Literal element-wise activation kernels: eqs (15) and (16).

Design
------
One flat loop over the elements (the tensor's shape does not matter to an
element-wise map), parallel with prange. Each function is evaluated in double
and rounded once to the data type, so float32 results are the correctly
rounded float64 values up to libm's accuracy.

The activation is chosen by an integer code; CODES maps the names to them
for cnnprop/activation.py, the only caller. NaN propagates: phi(NaN)
and phi'(NaN) are NaN for every activation.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expm1, fabs, log1p, tanh, NAN

cdef enum:
    IDENTITY = 0
    RELU = 1
    LEAKY_RELU = 2
    SIGMOID = 3
    TANH = 4
    ELU = 5
    SOFTPLUS = 6

# The one table of codes; cnnprop/activation.py reads it.
CODES = {"identity": IDENTITY, "relu": RELU, "leaky_relu": LEAKY_RELU, "sigmoid": SIGMOID,
         "tanh": TANH, "elu": ELU, "softplus": SOFTPLUS}


cdef inline double _sigmoid(double x) noexcept nogil:
    # Two branches so that exp never overflows.
    cdef double e
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)
    return e / (1.0 + e)


cdef inline double _phi(int code, double x, double a) noexcept nogil:
    if code == RELU:
        return 0.0 if x <= 0 else x          # NaN falls through to x
    if code == LEAKY_RELU:
        return a * x if x <= 0 else x
    if code == SIGMOID:
        return _sigmoid(x)
    if code == TANH:
        return tanh(x)
    if code == ELU:
        return a * expm1(x) if x <= 0 else x
    if code == SOFTPLUS:
        # log(1 + e^x) = max(x, 0) + log1p(e^-|x|), without overflow
        return (x if x > 0 else 0.0) + log1p(exp(-fabs(x)))
    return x


cdef inline double _dphi(int code, double x, double a) noexcept nogil:
    cdef double t
    if x != x:
        return NAN
    if code == RELU:
        return 1.0 if x > 0 else 0.0         # phi'(0) = 0
    if code == LEAKY_RELU:
        return 1.0 if x > 0 else a           # phi'(0) = a
    if code == SIGMOID:
        # s (1 - s) = e / (1 + e)^2 with e = exp(-|x|): no cancellation in the tails
        t = exp(-fabs(x))
        return t / ((1.0 + t) * (1.0 + t))
    if code == TANH:
        # 1 - tanh^2 = sech^2 = 4 e / (1 + e)^2 with e = exp(-2|x|): accurate
        # where 1 - t*t would cancel (|x| large)
        t = exp(-2.0 * fabs(x))
        return 4.0 * t / ((1.0 + t) * (1.0 + t))
    if code == ELU:
        return 1.0 if x > 0 else a * exp(x)  # phi'(0) = a
    if code == SOFTPLUS:
        return _sigmoid(x)
    return 1.0


def activation_forward(const floating[::1] z,   # IN  flat input
                       floating[::1] out,       # OUT flat output
                       int code, double a, int num_threads):
    """Eq (15): out[i] = phi(z[i])."""
    cdef Py_ssize_t i
    with nogil:
        for i in prange(z.shape[0], schedule="static", num_threads=num_threads):
            out[i] = <floating> _phi(code, z[i], a)


def activation_backward(const floating[::1] delta,  # IN  flat upstream delta
                        const floating[::1] z,      # IN  flat layer input
                        floating[::1] out,          # OUT flat input delta
                        int code, double a, int num_threads):
    """Eq (16): out[i] = delta[i] * phi'(z[i])."""
    cdef Py_ssize_t i
    with nogil:
        for i in prange(z.shape[0], schedule="static", num_threads=num_threads):
            out[i] = <floating> (delta[i] * _dphi(code, z[i], a))
