"""Geometry of a sliding window: output sizes, window ranges, padding forms.

One place for the index arithmetic of docs/spec.md (Table 1, eqs (8), (9), (12))
and its generalisation in docs/spec-beyond.md (dilation, four paddings,
``"same"``/``"valid"``, ``ceil_mode``), used by every layer module and by the
verification module. :func:`sliding_window` resolves everything a layer call
needs once, into a :class:`Window`; both kernel paths read it. The Cython
kernels use the twin helpers of ``_kernels/_index.pxd``; the tests check both
against a brute-force search over small geometries.

With dilation 1, symmetric padding and ``ceil_mode=False`` every formula here
is the source's, bit for bit.
"""
import math
import operator
from typing import NamedTuple

import numpy as np

__all__ = ["output_size", "window_range", "as_pair", "padding_pairs", "same_padding",
           "sliding_window", "Window", "PADDING_STRINGS"]


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



# Largest window, stride, dilation or padding accepted: keeps every index
# expression of the kernels (sums of a few such values and an array size)
# far inside int64.
MAX_EXTENT = 2 ** 31 - 1

PADDING_STRINGS = ("valid", "same")


def padding_pairs(padding, name="padding"):
    """Normalise a padding argument to ``((p_t, p_b), (p_l, p_r))``, or a string.

    Parameters
    ----------
    padding : int, pair, pair of pairs, or {"valid", "same"}
        ``p`` (all four sides), ``(p_h, p_w)`` (top = bottom = p_h,
        left = right = p_w), or ``((p_t, p_b), (p_l, p_r))``. ``"valid"`` is
        returned as ``((0, 0), (0, 0))``; ``"same"`` is returned as the string
        (it depends on the input size, see :func:`same_padding`).
    name : str
        Argument name for error messages.

    Returns
    -------
    tuple of two pairs of int, or ``"same"``

    Raises
    ------
    TypeError
        A float, bool, or other non-integer entry, or a str other than the two.
    ValueError
        A negative entry, a string other than ``"valid"``/``"same"``, or a
        sequence of the wrong length (a flat 4-tuple is refused: libraries
        disagree on its order; write ``((top, bottom), (left, right))``).

    Examples
    --------
    >>> padding_pairs(1)
    ((1, 1), (1, 1))
    >>> padding_pairs((2, 0))
    ((2, 2), (0, 0))
    >>> padding_pairs(((0, 1), (2, 3)))
    ((0, 1), (2, 3))
    >>> padding_pairs("valid")
    ((0, 0), (0, 0))
    """
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(f"{name} must be an int, a pair, a pair of pairs or one of "
                             f"{PADDING_STRINGS}, got {padding!r}")
        return ((0, 0), (0, 0)) if padding == "valid" else "same"
    if isinstance(padding, bytes):
        raise TypeError(f"{name} must be an int, a pair, a pair of pairs or a str, got {padding!r}")
    if np.ndim(padding) == 0 and not isinstance(padding, (list, tuple)):
        p = as_int(padding, name)
        pairs = ((p, p), (p, p))
    else:
        items = list(padding)
        if len(items) != 2:
            raise ValueError(
                f"{name} must be an int, a pair (p_h, p_w) or a pair of pairs "
                f"((p_t, p_b), (p_l, p_r)), got {len(items)} values: {padding!r}")
        nested = [isinstance(x, (list, tuple)) or np.ndim(x) > 0 for x in items]
        if all(nested):
            pairs = tuple(_side_pair(x, name, axis) for x, axis in zip(items, ("height", "width")))
        elif not any(nested):
            ph, pw = as_int(items[0], name), as_int(items[1], name)
            pairs = ((ph, ph), (pw, pw))
        else:
            raise TypeError(f"{name} mixes ints and pairs: {padding!r}; give (p_h, p_w) or "
                            "((p_t, p_b), (p_l, p_r))")
    flat = [x for pair in pairs for x in pair]
    if min(flat) < 0:
        raise ValueError(f"{name} must be >= 0 on every side, got {pairs}")
    if max(flat) > MAX_EXTENT:
        raise ValueError(f"{name} must be <= {MAX_EXTENT} on every side, got {pairs}")
    return pairs


def _side_pair(value, name, axis):
    items = list(value)
    if len(items) != 2:
        raise ValueError(f"{name} for the {axis} must be a pair (before, after), got {value!r}")
    return (as_int(items[0], name), as_int(items[1], name))


def same_padding(size, extent, stride):
    """``(before, after)`` padding of ``"same"`` along one axis: ``P = ceil(size / stride)``.

    The total padding ``T = max((P - 1) * stride + extent - size, 0)`` is
    split with the extra row or column after (TensorFlow's rule; PyTorch's
    for stride 1).

    Parameters
    ----------
    size : int
        Input length ``H``.
    extent : int
        Window extent on the input, ``d (R - 1) + 1``.
    stride : int
        Stride ``u``.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> same_padding(5, 3, 1)
    (1, 1)
    >>> same_padding(6, 4, 1)
    (1, 2)
    >>> same_padding(7, 3, 2)
    (1, 1)
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return (total // 2, total - total // 2)


def _check_axis(kernel, stride, padding, dilation=1):
    """Validated ints (kernel >= 1, stride >= 1, padding >= 0, dilation >= 1) of one axis."""
    kernel = as_int(kernel, "kernel")
    stride = as_int(stride, "stride")
    dilation = as_int(dilation, "dilation")
    if kernel < 1:
        raise ValueError(f"kernel must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    return kernel, stride, dilation


def _axis_padding(padding, size=None, extent=None, stride=None):
    """``(before, after)`` of one axis from an int, a pair or ``"same"``/``"valid"``."""
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(f"padding must be an int, a pair or one of {PADDING_STRINGS}, got {padding!r}")
        if padding == "valid":
            return (0, 0)
        return same_padding(size, extent, stride)
    if np.ndim(padding) == 0 and not isinstance(padding, (list, tuple)):
        p = as_int(padding, "padding")
        before, after = p, p
    else:
        before, after = _side_pair(padding, "padding", "axis")
    if before < 0 or after < 0:
        raise ValueError(f"padding must be >= 0, got ({before}, {after})")
    return before, after


def _axis_output(size, extent, stride, before, after, ceil_mode):
    """Output length of one axis, or 0 when the geometry has none."""
    span = size + before + after - extent
    if span < 0 and not ceil_mode:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    # no window may start in the bottom/right padding (PyTorch's rule)
    if out > 0 and (out - 1) * stride >= size + before:
        out -= 1
    return max(out, 0)


def output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Number of window positions along one axis (docs/spec.md Table 1, erratum E1; general form).

    ``P = floor((H + p_t + p_b - R_e) / u) + 1`` with the kernel extent
    ``R_e = d (R - 1) + 1``; with ``p_t = p_b = p_h`` and ``d = 1`` this is the
    source's ``ceil((H - R + 1 + 2 p_h) / u)`` with the height stride ``u``.
    ``ceil_mode=True`` (pooling) rounds up instead, without letting a window
    start in the bottom padding.

    Parameters
    ----------
    size : int
        Input length along the axis (``H`` or ``W``), at least 1.
    kernel : int
        Window length (``R`` or ``S``), at least 1.
    stride : int
        Step between windows (``u`` or ``v``), at least 1.
    padding : int, pair of int, or {"valid", "same"}
        Padding on each side, or ``(before, after)``; ``"same"`` gives
        ``ceil(size / stride)`` outputs.
    dilation : int
        Distance between window taps (``d_h`` or ``d_w``), at least 1.
    ceil_mode : bool
        Round the window count up (pooling's ``ceil_mode``).

    Returns
    -------
    int
        The output length (``P`` or ``Q``), at least 1.

    Raises
    ------
    TypeError
        If an argument is not an int (or a padding form).
    ValueError
        If an argument is out of range, or the geometry has no output (the
        window's extent does not fit in the padded input).

    Examples
    --------
    >>> output_size(28, 5, 1, 0)
    24
    >>> output_size(227, 11, 4, 0)
    55
    >>> output_size(33, 3, 1, 2, dilation=2)
    33
    >>> output_size(5, 2, 2, 0, ceil_mode=True)
    3
    >>> output_size(10, 3, 2, "same")
    5
    """
    size = as_int(size, "size")
    kernel, stride, dilation = _check_axis(kernel, stride, padding, dilation)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    extent = dilation * (kernel - 1) + 1
    before, after = _axis_padding(padding, size, extent, stride)
    out = _axis_output(size, extent, stride, before, after, bool(ceil_mode))
    if out < 1:
        raise ValueError(
            f"kernel extent {extent} does not fit in the padded input: "
            f"size {size} + padding {before} + {after} = {size + before + after} < {extent}; "
            "this geometry has no output"
        )
    return out


def window_range(index, out_size, kernel, stride=1, padding=0, dilation=1):
    """Output positions whose window holds input position ``index`` (eqs (8), (9), (12); general form).

    In 0-based form, ``Pmin = max(0, ceil((h + p_t - (R - 1) d) / u))`` and
    ``Pmax = min(P - 1, floor((h + p_t) / u))``. With dilation ``d`` a window
    ``p`` in that span holds ``h`` exactly when ``d`` divides
    ``h + p_t - p u`` (its tap is then ``r = (h + p_t - p u) / d``); those
    ``p`` form an arithmetic progression with step ``d / gcd(u, d)``, so the
    result is again a ``range``. With ``d = 1`` it is
    ``range(Pmin, Pmax + 1)``, eqs (8)-(9) as the source states them.

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
    padding : int or pair of int
        Padding ``p_h``, or ``(p_t, p_b)``: only the padding before the
        input (top or left) moves the windows.
    dilation : int
        Dilation ``d``, at least 1.

    Returns
    -------
    range
        Exactly the ``p`` in ``[0, P)`` with ``p u - p_t + r d == index`` for
        some tap ``0 <= r < R``, in increasing order; empty for rows no
        window holds.

    Examples
    --------
    >>> window_range(4, out_size=3, kernel=3, stride=2, padding=0)
    range(1, 3)
    >>> list(window_range(0, out_size=2, kernel=1, stride=2, padding=0))
    [0]
    >>> list(window_range(1, out_size=2, kernel=1, stride=2, padding=0))
    []
    >>> list(window_range(4, out_size=5, kernel=3, stride=1, padding=0, dilation=2))
    [0, 2, 4]
    """
    index = as_int(index, "index")
    out_size = as_int(out_size, "out_size")
    kernel, stride, dilation = _check_axis(kernel, stride, padding, dilation)
    before, _ = _axis_padding(padding)
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    if out_size < 0:
        raise ValueError(f"out_size must be >= 0, got {out_size}")
    # Python's // is a floor division, and -(-a // b) a ceiling, for any sign.
    a = index + before
    p_min = max(0, -(-(a - (kernel - 1) * dilation) // stride))
    p_max = min(out_size - 1, a // stride)
    if dilation == 1:
        return range(p_min, max(p_min, p_max + 1))
    step = dilation // math.gcd(stride, dilation)
    for p in range(p_min, min(p_max, p_min + step - 1) + 1):
        if (a - p * stride) % dilation == 0:
            return range(p, p_max + 1, step)
    return range(p_min, p_min)


class Window(NamedTuple):
    """The 2-D geometry of one sliding-window layer, all sizes resolved.

    Names follow docs/spec.md and docs/spec-beyond.md: input ``H x W``, window
    ``R x S``, strides ``u, v``, dilations ``dh, dw``, paddings ``pt, pb``
    (top, bottom) and ``pl, pr`` (left, right), output ``P x Q``.
    ``ph``/``pw`` are the top and left paddings (the only ones that move
    windows; with symmetric padding, the source's ``p_h``, ``p_w``).
    """

    H: int
    W: int
    R: int
    S: int
    u: int
    v: int
    pt: int
    pb: int
    pl: int
    pr: int
    P: int
    Q: int
    dh: int = 1
    dw: int = 1
    ceil_mode: bool = False

    @property
    def ph(self):
        """Top padding ``p_t``: the source's ``p_h`` when the padding is symmetric."""
        return self.pt

    @property
    def pw(self):
        """Left padding ``p_l``: the source's ``p_w`` when the padding is symmetric."""
        return self.pl

    @property
    def Re(self):
        """Extent of the window on the input along the height: ``dh (R - 1) + 1``."""
        return self.dh * (self.R - 1) + 1

    @property
    def Se(self):
        """Extent of the window on the input along the width: ``dw (S - 1) + 1``."""
        return self.dw * (self.S - 1) + 1

    @property
    def symmetric(self):
        """True when top equals bottom and left equals right padding."""
        return self.pt == self.pb and self.pl == self.pr

    def describe(self):
        """A short text of the geometry for error messages."""
        text = f"window ({self.R}, {self.S}), stride ({self.u}, {self.v}), padding "
        text += (f"({self.pt}, {self.pl})" if self.symmetric
                 else f"(({self.pt}, {self.pb}), ({self.pl}, {self.pr}))")
        if (self.dh, self.dw) != (1, 1):
            text += f", dilation ({self.dh}, {self.dw})"
        if self.ceil_mode:
            text += ", ceil_mode"
        return text


def sliding_window(input_hw, window_hw, stride, padding, dilation=1, ceil_mode=False, *,
                   window_name="kernel"):
    """Validate and resolve the geometry of a convolution or pooling layer.

    Parameters
    ----------
    input_hw : tuple of int
        ``(H, W)``, both at least 1.
    window_hw : int or tuple of int
        ``(R, S)``, both at least 1.
    stride : int or tuple of int
        ``(u, v)``, at least 1.
    padding : int, pair, pair of pairs, or {"valid", "same"}
        As :func:`padding_pairs` takes it.
    dilation : int or tuple of int
        ``(d_h, d_w)``, at least 1.
    ceil_mode : bool
        Round the output size up (pooling only).
    window_name : str
        What the window is called in error messages (``"kernel"``, ``"window"``).

    Returns
    -------
    Window

    Raises
    ------
    TypeError, ValueError
        With a message naming ``stride``, ``padding``, ``dilation`` or the
        window, when a value is out of range or the geometry has no output.
    """
    H, W = (int(x) for x in input_hw)
    R, S = as_pair(window_hw, window_name)
    u, v = as_pair(stride, "stride")
    dh, dw = as_pair(dilation, "dilation")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    if R < 1 or S < 1:
        raise ValueError(f"{window_name} must be >= 1 in both axes, got ({R}, {S})")
    for label, pair in ((window_name, (R, S)), ("stride", (u, v)), ("dilation", (dh, dw))):
        if max(pair) > MAX_EXTENT:
            # the kernels' 64-bit index arithmetic sums a few of these values
            raise ValueError(f"{label} must be <= {MAX_EXTENT} in both axes, got {pair}")
    if u < 1 or v < 1:
        raise ValueError(f"stride must be >= 1 in both axes, got ({u}, {v})")
    if dh < 1 or dw < 1:
        raise ValueError(f"dilation must be >= 1 in both axes, got ({dh}, {dw})")
    Re, Se = dh * (R - 1) + 1, dw * (S - 1) + 1
    if max(Re, Se) > MAX_EXTENT:
        raise ValueError(f"the dilated {window_name} extent ({Re}, {Se}) must be <= {MAX_EXTENT}")
    pairs = padding_pairs(padding)
    if pairs == "same":
        pairs = (same_padding(H, Re, u), same_padding(W, Se, v))
    (pt, pb), (pl, pr) = pairs
    sizes = []
    for axis, size, before, after, extent, step in (("height", H, pt, pb, Re, u),
                                                     ("width", W, pl, pr, Se, v)):
        out = _axis_output(size, extent, step, before, after, bool(ceil_mode))
        if out < 1:
            what = (f"{window_name} {axis} {extent}" if extent == (R if axis == "height" else S)
                    else f"dilated {window_name} {axis} extent {extent}")
            raise ValueError(
                f"{what} does not fit in the padded input: input {axis} {size} + padding "
                f"{before} + {after} = {size + before + after} < {extent}; "
                "this geometry has no output"
            )
        sizes.append(out)
    return Window(H, W, R, S, u, v, pt, pb, pl, pr, sizes[0], sizes[1], dh, dw, bool(ceil_mode))
