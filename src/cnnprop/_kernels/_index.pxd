# Integer helpers shared by every kernel: floor and ceil division that are
# correct for negative numerators (the directive cdivision=True makes `//`
# truncate toward zero, as C does), and the output-index ranges of the
# equations. The Python twins live in cnnprop/geometry.py; the tests check
# both against a brute-force search.

cdef inline Py_ssize_t floor_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """floor(a / b) for b > 0."""
    cdef Py_ssize_t q = a // b
    if (a % b != 0) and (a < 0):
        q -= 1
    return q


cdef inline Py_ssize_t ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """ceil(a / b) for b > 0."""
    return -floor_div(-a, b)


cdef inline Py_ssize_t window_first(Py_ssize_t i, Py_ssize_t kernel, Py_ssize_t stride,
                                    Py_ssize_t pad) noexcept nogil:
    """Pmin of eq (8): the first output index whose window covers input i."""
    cdef Py_ssize_t lo = ceil_div(i + pad - kernel + 1, stride)
    return lo if lo > 0 else 0


cdef inline Py_ssize_t window_last(Py_ssize_t i, Py_ssize_t out_size, Py_ssize_t stride,
                                   Py_ssize_t pad) noexcept nogil:
    """Pmax of eq (8): the last output index whose window covers input i.

    Below window_first(...) when no window covers i (rows the stride skips).
    """
    cdef Py_ssize_t hi = floor_div(i + pad, stride)
    return hi if hi < out_size - 1 else out_size - 1


cdef inline Py_ssize_t tap_first(Py_ssize_t r, Py_ssize_t stride, Py_ssize_t pad) noexcept nogil:
    """First output index p whose input h = p*stride + r - pad is inside [0, in_size)."""
    cdef Py_ssize_t lo = ceil_div(pad - r, stride)
    return lo if lo > 0 else 0


cdef inline Py_ssize_t tap_stop(Py_ssize_t r, Py_ssize_t in_size,
                                Py_ssize_t out_size, Py_ssize_t stride,
                                Py_ssize_t pad) noexcept nogil:
    """One past the last output index p with h = p*stride + r - pad inside [0, in_size)."""
    cdef Py_ssize_t hi = floor_div(in_size - 1 + pad - r, stride) + 1
    return hi if hi < out_size else out_size


cdef inline Py_ssize_t span_start(Py_ssize_t p, Py_ssize_t stride, Py_ssize_t pad) noexcept nogil:
    """First input index of window p that lies inside the input: max(p*stride - pad, 0)."""
    cdef Py_ssize_t lo = p * stride - pad
    return lo if lo > 0 else 0


cdef inline Py_ssize_t span_stop(Py_ssize_t p, Py_ssize_t stride, Py_ssize_t pad,
                                 Py_ssize_t kernel, Py_ssize_t size) noexcept nogil:
    """One past the last input index of window p inside the input: min(p*stride - pad + kernel, size)."""
    cdef Py_ssize_t hi = p * stride - pad + kernel
    return hi if hi < size else size


# Dilation (docs/spec-beyond.md, window ranges): window p holds input i
# exactly when Pmin <= p <= Pmax and dil divides i + pad - p*stride, with
# Pmin = max(0, ceil((i + pad - (kernel - 1)*dil) / stride)) and Pmax as
# window_last. Those p step by dil / gcd(stride, dil). For tap arithmetic
# (tap_first, tap_stop, span_*), pass r*dil as the tap offset.

cdef inline Py_ssize_t gcd(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """Greatest common divisor of two positive ints."""
    cdef Py_ssize_t t
    while b != 0:
        t = a % b
        a = b
        b = t
    return a


cdef inline Py_ssize_t window_step(Py_ssize_t stride, Py_ssize_t dil) noexcept nogil:
    """Step between the windows that hold one input: dil / gcd(stride, dil)."""
    return dil // gcd(stride, dil)


cdef inline Py_ssize_t window_first_dilated(Py_ssize_t i, Py_ssize_t kernel, Py_ssize_t stride,
                                            Py_ssize_t pad, Py_ssize_t dil,
                                            Py_ssize_t out_size) noexcept nogil:
    """The first window p holding input i; out_size when none does.

    The windows holding i are range(first, window_last(...) + 1, window_step(...)),
    each with tap r = (i + pad - p*stride) / dil.
    """
    cdef Py_ssize_t lo = ceil_div(i + pad - (kernel - 1) * dil, stride)
    cdef Py_ssize_t hi = window_last(i, out_size, stride, pad)
    cdef Py_ssize_t step = window_step(stride, dil)
    cdef Py_ssize_t p
    if lo < 0:
        lo = 0
    for p in range(lo, lo + step):
        if p > hi:
            break
        if (i + pad - p * stride) % dil == 0:
            return p
    return out_size
