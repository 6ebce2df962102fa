"""Fast element-wise activation kernels: eqs (15) and (16).

Design
------
The literal kernels evaluate every element in float64 through one switch
over the activation. Here each activation has its own loop (the switch is
taken once per call, and once more per chunk), evaluated in the data type,
and the backward pass fuses delta * phi'(z) in the same loop. The loops
without transcendental functions (identity, relu, leaky_relu) are written
here and vectorise. Those with exp, expm1 or log1p (sigmoid, tanh, elu,
softplus, both directions) are the loops of _vmath.h: polynomial
approximations with no libm call, which the C compiler vectorises, with an
AVX2+FMA copy chosen at run time where the CPU has it (see isa()). Their
ulp bounds are stated in docs/performance.md and checked by
cnnprop.verify (check activation_fast_ulp).

The codes are those of activation_direct.CODES; NaN propagates as there.
"""
import os
import warnings

from cython cimport floating
from cython.parallel cimport prange

from .activation_direct import CODES

cdef extern from "_vmath.h" nogil:
    int cnnp_vmath_select(int want)
    int cnnp_vmath_avx2_available()
    void cnnp_sigmoid_forward_f(const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_sigmoid_forward_d(const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_tanh_forward_f(const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_tanh_forward_d(const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_elu_forward_f(const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_elu_forward_d(const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_softplus_forward_f(const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_softplus_forward_d(const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_sigmoid_backward_f(const float* d, const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_sigmoid_backward_d(const double* d, const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_tanh_backward_f(const float* d, const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_tanh_backward_d(const double* d, const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_elu_backward_f(const float* d, const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_elu_backward_d(const double* d, const double* z, double* out, Py_ssize_t n, double a)
    void cnnp_softplus_backward_f(const float* d, const float* z, float* out, Py_ssize_t n, float a)
    void cnnp_softplus_backward_d(const double* d, const double* z, double* out, Py_ssize_t n, double a)

cdef int IDENTITY = CODES["identity"], RELU = CODES["relu"], LEAKY_RELU = CODES["leaky_relu"]
cdef int SIGMOID = CODES["sigmoid"], TANH = CODES["tanh"], ELU = CODES["elu"]
cdef int SOFTPLUS = CODES["softplus"]

# The loops of _vmath.h that run: "avx2" (AVX2+FMA) where the CPU has both,
# else "generic" (what the build's flags vectorise for, SSE2 on x86_64).
ISAS = ("generic", "avx2")


def _initial_choice():
    # CNNPROP_VMATH=generic pins the generic loops, for results that do not
    # depend on the CPU (the AVX2 copy contracts a*b + c into FMAs)
    wanted = os.environ.get("CNNPROP_VMATH", "").strip().lower()
    if wanted in ("", "auto", "best"):
        return -1
    if wanted not in ISAS:
        warnings.warn(f"CNNPROP_VMATH={wanted!r} is not one of {ISAS} or 'auto': ignored", RuntimeWarning)
        return -1
    return ISAS.index(wanted)


_current = ISAS[cnnp_vmath_select(_initial_choice())]


def isa():
    """Instruction set of the transcendental loops in use: "generic" or "avx2"."""
    return _current


def select_isa(name=None):
    """Run the transcendental loops for ``name`` ("generic", "avx2"; None: the best).

    At import the choice is the best, or what the environment variable
    ``CNNPROP_VMATH`` names ("generic", "avx2", "auto").

    For tests and benchmarks: "avx2" on a CPU without it falls back to
    "generic". Not thread-safe: call it while no kernel runs. Returns the
    instruction set now in use.
    """
    global _current
    _current = ISAS[cnnp_vmath_select(-1 if name is None else ISAS.index(name))]
    return _current


def avx2_available():
    """Whether this CPU and build can run the AVX2+FMA loops."""
    return bool(cnnp_vmath_avx2_available())


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
        if floating is float:
            cnnp_sigmoid_forward_f(z, out, n, a)
        else:
            cnnp_sigmoid_forward_d(z, out, n, a)
    elif code == TANH:
        if floating is float:
            cnnp_tanh_forward_f(z, out, n, a)
        else:
            cnnp_tanh_forward_d(z, out, n, a)
    elif code == ELU:
        if floating is float:
            cnnp_elu_forward_f(z, out, n, a)
        else:
            cnnp_elu_forward_d(z, out, n, a)
    elif code == SOFTPLUS:
        if floating is float:
            cnnp_softplus_forward_f(z, out, n, a)
        else:
            cnnp_softplus_forward_d(z, out, n, a)
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
        if floating is float:
            cnnp_sigmoid_backward_f(delta, z, out, n, a)
        else:
            cnnp_sigmoid_backward_d(delta, z, out, n, a)
    elif code == TANH:
        if floating is float:
            cnnp_tanh_backward_f(delta, z, out, n, a)
        else:
            cnnp_tanh_backward_d(delta, z, out, n, a)
    elif code == ELU:
        if floating is float:
            cnnp_elu_backward_f(delta, z, out, n, a)
        else:
            cnnp_elu_backward_d(delta, z, out, n, a)
    elif code == SOFTPLUS:
        if floating is float:
            cnnp_softplus_backward_f(delta, z, out, n, a)
        else:
            cnnp_softplus_backward_d(delta, z, out, n, a)
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
