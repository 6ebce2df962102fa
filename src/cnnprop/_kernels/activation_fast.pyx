"""Fast element-wise activation kernels: eqs (15) and (16).

Design
------
The literal kernels evaluate every element in float64 through one switch
over the activation. Here each activation has its own loop (the switch is
taken once per call), evaluated in the data type (float32 data through the
float32 libm functions), and the backward pass fuses delta * phi'(z) in the
same loop. The loops without transcendental functions (identity, relu,
leaky_relu) vectorise and run at memory speed.

The codes are those of activation_direct.CODES; NaN propagates as there.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, expm1, expm1f, fabs, log1p, log1pf, tanh, tanhf

from .activation_direct import CODES

cdef int IDENTITY = CODES["identity"], RELU = CODES["relu"], LEAKY_RELU = CODES["leaky_relu"]
cdef int SIGMOID = CODES["sigmoid"], TANH = CODES["tanh"], ELU = CODES["elu"]
cdef int SOFTPLUS = CODES["softplus"]


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log1p(floating x) noexcept nogil:
    if floating is float:
        return log1pf(x)
    else:
        return log1p(x)


cdef inline floating _tanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating _sigmoid(floating x) noexcept nogil:
    # both branches never overflow: e = exp(-|x|) <= 1
    cdef floating e = _exp(-fabs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


cdef void _forward_chunk(const floating* z, floating* out, Py_ssize_t n, int code,
                         floating a) noexcept nogil:
    # One plain loop per activation over raw pointers: with everything local
    # the compiler vectorises the loops that have no libm call. (GCC keeps
    # floating-point exceptions exact, so it will not speculate an operation
    # or a comparison out of a branch: the selects compute their arms first.)
    cdef Py_ssize_t i
    cdef floating x
    cdef bint positive, negative, nan, keep
    if code == RELU:
        for i in range(n):
            x = z[i]
            out[i] = 0 if x <= 0 else x
    elif code == LEAKY_RELU:
        for i in range(n):
            # max(x, 0) + a min(x, 0), NaN kept in the first part: every
            # comparison is made first and every product is of a select, so
            # the compiler has nothing to speculate out of a branch (which it
            # refuses to do while FP exceptions are exact) and vectorises
            x = z[i]
            positive = x > 0
            negative = x < 0
            nan = x != x
            keep = positive or nan
            out[i] = (x if keep else 0) + a * (x if negative else 0)
    elif code == SIGMOID:
        for i in range(n):
            out[i] = _sigmoid(z[i])
    elif code == TANH:
        for i in range(n):
            out[i] = _tanh(z[i])
    elif code == ELU:
        for i in range(n):
            x = z[i]
            out[i] = a * _expm1(x) if x <= 0 else x
    elif code == SOFTPLUS:
        for i in range(n):
            x = z[i]
            out[i] = (x if x > 0 else 0) + _log1p(_exp(-fabs(x)))
    else:
        for i in range(n):
            out[i] = z[i]


cdef void _backward_chunk(const floating* delta, const floating* z, floating* out, Py_ssize_t n,
                          int code, floating a) noexcept nogil:
    # delta * phi'(z), fused; NaN inputs give NaN. Every value and condition
    # of a select is computed first, so the select has no branch left.
    cdef Py_ssize_t i
    cdef floating x, t, d
    cdef bint positive, nan
    if code == RELU:
        for i in range(n):
            x = z[i]
            d = delta[i]
            positive = x > 0
            nan = x != x
            out[i] = x if nan else (d if positive else 0)     # phi'(0) = 0
    elif code == LEAKY_RELU:
        for i in range(n):
            x = z[i]
            positive = x > 0
            nan = x != x
            t = 1 if positive else a            # phi'(0) = a
            out[i] = delta[i] * (x if nan else t)
    elif code == SIGMOID:
        # s (1 - s) = e / (1 + e)^2, e = exp(-|x|): no cancellation in the tails
        for i in range(n):
            t = _exp(-fabs(z[i]))
            out[i] = delta[i] * (t / ((1 + t) * (1 + t)))
    elif code == TANH:
        # 1 - tanh^2 = 4 e / (1 + e)^2, e = exp(-2|x|): 1 - t*t would cancel
        for i in range(n):
            t = _exp(-2 * fabs(z[i]))
            out[i] = delta[i] * (4 * t / ((1 + t) * (1 + t)))
    elif code == ELU:
        for i in range(n):
            x = z[i]
            d = delta[i]
            t = d * (a * _exp(x))
            positive = x > 0
            nan = x != x
            out[i] = x if nan else (d if positive else t)
    elif code == SOFTPLUS:
        for i in range(n):
            out[i] = delta[i] * _sigmoid(z[i])
    else:
        for i in range(n):
            x = z[i]
            d = delta[i]
            out[i] = d if x == x else x      # phi'(NaN) = NaN


# Elements a task handles: enough to amortise the task, small enough to balance.
cdef Py_ssize_t CHUNK = 16384


def activation_forward(const floating[::1] z,   # IN  flat input
                       floating[::1] out,       # OUT flat output
                       int code, double param, int num_threads):
    """Eq (15): out[i] = phi(z[i]), in chunks of CHUNK elements."""
    cdef Py_ssize_t n = z.shape[0], ch, lo
    cdef floating a = <floating> param
    with nogil:
        for ch in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=num_threads):
            lo = ch * CHUNK
            _forward_chunk(&z[lo], &out[lo], min(CHUNK, n - lo), code, a)


def activation_backward(const floating[::1] delta,  # IN  flat upstream delta
                        const floating[::1] z,      # IN  flat layer input
                        floating[::1] out,          # OUT flat input delta
                        int code, double param, int num_threads):
    """Eq (16): out[i] = delta[i] * phi'(z[i]), fused, in chunks of CHUNK elements."""
    cdef Py_ssize_t n = z.shape[0], ch, lo
    cdef floating a = <floating> param
    with nogil:
        for ch in prange((n + CHUNK - 1) // CHUNK, schedule="static", num_threads=num_threads):
            lo = ch * CHUNK
            _backward_chunk(&delta[lo], &z[lo], &out[lo], min(CHUNK, n - lo), code, a)
