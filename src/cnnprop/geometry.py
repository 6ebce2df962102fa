"""Geometry of a sliding window: output sizes, window ranges, int-or-pair arguments.

One place for the index arithmetic of docs/spec.md (Table 1, eqs (8), (9), (12)),
used by every layer module and by the verification module. The Cython kernels
use the twin helpers of ``_kernels/_index.pxd``; the tests check both against a
brute-force search over small geometries.
"""
import operator
from typing import NamedTuple

import numpy as np

__all__ = ["output_size", "window_range", "as_pair", "sliding_window", "Window"]


def as_int(value, name):
    """``value`` as a Python int. Bools and floats are refused, not truncated."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an int, got {type(value).__name__} {value!r}"
        ) from None


def as_pair(value, name):
    """Turn an int or a pair of ints into a tuple ``(height, width)``.

    Parameters
    ----------
    value : int or sequence of two ints
        The same value for both axes, or ``(height, width)``.
    name : str
        Argument name, used in error messages.

    Returns
    -------
    tuple of int
        ``(value_h, value_w)``.

    Raises
    ------
    TypeError
        If ``value`` is not an int or a pair of ints.
    ValueError
        If a sequence does not have exactly two entries.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if np.ndim(value) > 0:
        items = list(value)
        if len(items) != 2:
            raise ValueError(
                f"{name} must be an int or a pair (height, width), got {len(items)} values: {value!r}"
            )
        return (as_int(items[0], name), as_int(items[1], name))
    both = as_int(value, name)
    return (both, both)


def _check_axis(kernel, stride, padding):
    """Validated ints (kernel >= 1, stride >= 1, padding >= 0) of one axis."""
    kernel = as_int(kernel, "kernel")
    stride = as_int(stride, "stride")
    padding = as_int(padding, "padding")
    if kernel < 1:
        raise ValueError(f"kernel must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return kernel, stride, padding


def output_size(size, kernel, stride, padding):
    """Number of window positions along one axis (docs/spec.md Table 1, erratum E1).

    ``P = floor((H + 2*p_h - R) / u) + 1``, which equals the source's
    ``ceil((H - R + 1 + 2*p_h) / u)`` with the height stride ``u``.

    Parameters
    ----------
    size : int
        Input length along the axis (``H`` or ``W``), at least 1.
    kernel : int
        Window length (``R`` or ``S``), at least 1.
    stride : int
        Step between windows (``u`` or ``v``), at least 1.
    padding : int
        Zero padding on each side (``p_h`` or ``p_w``), at least 0.

    Returns
    -------
    int
        The output length (``P`` or ``Q``), at least 1.

    Raises
    ------
    TypeError
        If an argument is not an int.
    ValueError
        If an argument is out of range, or the window does not fit in the
        padded input (``size + 2*padding < kernel``): such a geometry has no
        output.

    Examples
    --------
    >>> output_size(28, 5, 1, 0)
    24
    >>> output_size(227, 11, 4, 0)
    55
    """
    size = as_int(size, "size")
    kernel, stride, padding = _check_axis(kernel, stride, padding)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if size + 2 * padding < kernel:
        raise ValueError(
            f"kernel {kernel} does not fit in the padded input: "
            f"size {size} + 2*padding {padding} = {size + 2 * padding} < {kernel}; "
            "this geometry has no output"
        )
    return (size + 2 * padding - kernel) // stride + 1


def window_range(index, out_size, kernel, stride, padding):
    """Output positions whose window covers input position ``index`` (eqs (8), (9), (12)).

    In 0-based form, ``Pmin = max(0, ceil((h + p_h - R + 1) / u))`` and
    ``Pmax = min(P - 1, floor((h + p_h) / u))``; the result is
    ``range(Pmin, Pmax + 1)``, empty for rows the stride skips.

    Parameters
    ----------
    index : int
        Input position ``h`` (or ``w``), ``0 <= index``.
    out_size : int
        Output length ``P`` (or ``Q``), as given by :func:`output_size`.
    kernel : int
        Window length ``R`` (or ``S``).
    stride : int
        Stride ``u`` (or ``v``), at least 1.
    padding : int
        Padding ``p_h`` (or ``p_w``), at least 0.

    Returns
    -------
    range
        ``range(Pmin, Pmax + 1)``: exactly the ``p`` in ``[0, P)`` with
        ``p*u - p_h <= index <= p*u - p_h + R - 1``.

    Examples
    --------
    >>> window_range(4, out_size=3, kernel=3, stride=2, padding=0)
    range(1, 3)
    >>> list(window_range(0, out_size=2, kernel=1, stride=2, padding=0))
    [0]
    >>> list(window_range(1, out_size=2, kernel=1, stride=2, padding=0))
    []
    """
    index = as_int(index, "index")
    out_size = as_int(out_size, "out_size")
    kernel, stride, padding = _check_axis(kernel, stride, padding)
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    if out_size < 0:
        raise ValueError(f"out_size must be >= 0, got {out_size}")
    # Python's // is a floor division, and -(-a // b) a ceiling, for any sign.
    p_min = max(0, -(-(index + padding - kernel + 1) // stride))
    p_max = min(out_size - 1, (index + padding) // stride)
    return range(p_min, max(p_min, p_max + 1))


# Largest window, stride or padding accepted: keeps every index expression of
# the kernels (sums of a few such values and an array size) far inside int64.
MAX_EXTENT = 2 ** 31 - 1


class Window(NamedTuple):
    """The 2-D geometry of one sliding-window layer, all sizes resolved.

    Names follow docs/spec.md: input ``H x W``, window ``R x S``, strides
    ``u, v``, paddings ``ph, pw``, output ``P x Q``.
    """

    H: int
    W: int
    R: int
    S: int
    u: int
    v: int
    ph: int
    pw: int
    P: int
    Q: int


def sliding_window(input_hw, window_hw, stride, padding, *, window_name="kernel"):
    """Validate and resolve the geometry of a convolution or pooling layer.

    Parameters
    ----------
    input_hw : tuple of int
        ``(H, W)``, both at least 1.
    window_hw : int or tuple of int
        ``(R, S)``, both at least 1.
    stride, padding : int or tuple of int
        As the public functions take them.
    window_name : str
        What the window is called in error messages (``"kernel"``, ``"window"``).

    Returns
    -------
    Window

    Raises
    ------
    TypeError, ValueError
        With a message naming ``stride``, ``padding`` or the window, when a
        value is out of range or the window does not fit the padded input.
    """
    H, W = (int(x) for x in input_hw)
    R, S = as_pair(window_hw, window_name)
    u, v = as_pair(stride, "stride")
    ph, pw = as_pair(padding, "padding")
    if R < 1 or S < 1:
        raise ValueError(f"{window_name} must be >= 1 in both axes, got ({R}, {S})")
    for label, pair in ((window_name, (R, S)), ("stride", (u, v)), ("padding", (ph, pw))):
        if max(pair) > MAX_EXTENT:
            # the kernels' 64-bit index arithmetic sums a few of these values
            raise ValueError(f"{label} must be <= {MAX_EXTENT} in both axes, got {pair}")
    if u < 1 or v < 1:
        raise ValueError(f"stride must be >= 1 in both axes, got ({u}, {v})")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0 in both axes, got ({ph}, {pw})")
    for axis, size, pad, extent in (("height", H, ph, R), ("width", W, pw, S)):
        if size + 2 * pad < extent:
            raise ValueError(
                f"{window_name} {axis} {extent} does not fit in the padded input: "
                f"input {axis} {size} + 2*padding {pad} = {size + 2 * pad} < {extent}; "
                "this geometry has no output"
            )
    return Window(H, W, R, S, u, v, ph, pw,
                  output_size(H, R, u, ph), output_size(W, S, v, pw))
