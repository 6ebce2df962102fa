"""Every check of user input, in one place, with messages that name the argument.

The kernels run without bounds checks, so nothing reaches them unvalidated:
each public function passes its arrays through :func:`float_array` and its
options through the helpers below before it allocates an output.

Conventions decided here (documented in docs/conventions.md):

- dtypes: float32 or float64 only, the same for every operand; integer,
  boolean, complex and half-precision arrays are refused (TypeError), never
  cast silently.
- layout: arrays that are not C-contiguous (views, transposes, slices with a
  step), unaligned and non-native byte orders are copied into a C-contiguous
  aligned native array; read-only arrays are used as they are (the kernels
  take them const). Masked arrays are refused: dropping a mask silently
  would compute on the masked values.
- empty arrays are refused (ValueError), except an empty batch (N = 0) where
  :func:`nchw` allows it (docs/spec-beyond.md, "Shapes"); a parameter
  gradient with ``reduction="mean"`` over an empty batch is refused (the mean
  over no samples is undefined), with ``reduction="sum"`` it is zeros.
- unbatched ``(C, H, W)`` arrays are accepted where :func:`nchw` is used, and
  the result is returned unbatched (PyTorch's convention).
"""
import numpy as np

from .geometry import as_int

__all__ = ["float_array", "nchw", "same_dtype", "check_shape", "one_of", "reduction_divisor",
           "shape_tuple", "batched_shape"]

_FLOAT_TYPES = (np.float32, np.float64)


def float_array(value, name, ndim=None, what=None, allow_empty=False):
    """``value`` as a C-contiguous, native-order float32 or float64 ndarray.

    Parameters
    ----------
    value : array_like
        The user's argument.
    name : str
        Its name, for error messages.
    ndim : int or tuple of int, optional
        Accepted ranks.
    what : str, optional
        A description of the expected layout for the rank error, e.g.
        ``"(N, C, H, W)"``.
    allow_empty : bool
        Accept arrays with no element.

    Returns
    -------
    ndarray
        ``value`` itself when it already qualifies, otherwise a copy.

    Raises
    ------
    TypeError
        Not an array of float32 or float64.
    ValueError
        Wrong rank, or empty.
    """
    if value is None:
        raise TypeError(f"{name} must be a float32 or float64 array, got None")
    if isinstance(value, np.ma.MaskedArray):
        # np.asarray would drop the mask silently
        raise TypeError(f"{name} is a masked array; cnnprop has no masks: pass {name}.filled(value)")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be a float32 or float64 array: {exc}") from None
    if array.dtype.type not in _FLOAT_TYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {array.dtype}; "
            f"convert it explicitly (e.g. {name}.astype(np.float64)), "
            "cnnprop never casts silently"
        )
    if ndim is not None:
        ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in ranks:
            layout = f" {what}" if what else ""
            expected = " or ".join(f"{r}-D" for r in ranks)
            raise ValueError(
                f"{name} must be a {expected} array{layout}, got {array.ndim}-D with shape {array.shape}"
            )
    if array.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if not (array.flags.c_contiguous and array.flags.aligned):
        # not np.ascontiguousarray: it turns a 0-d array into a 1-d one
        array = array.copy(order="C")
    return array


def same_dtype(**arrays):
    """The common dtype of the named arrays (None entries are skipped).

    Raises
    ------
    TypeError
        If two arrays differ in dtype, naming both.
    """
    named = [(name, a) for name, a in arrays.items() if a is not None]
    first_name, first = named[0]
    for name, array in named[1:]:
        if array.dtype != first.dtype:
            raise TypeError(
                f"{name} has dtype {array.dtype} but {first_name} has dtype {first.dtype}; "
                "all operands must share one dtype (float32 or float64)"
            )
    return first.dtype


def check_shape(array, name, expected, why=""):
    """Raise ValueError unless ``array.shape == expected``."""
    expected = tuple(int(x) for x in expected)
    if array.shape != expected:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must have shape {expected}{reason}, got {array.shape}")


def one_of(value, name, options):
    """``value`` if it is one of the strings ``options``, else a clear error."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {sorted(options)}, got {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def reduction_divisor(reduction, batch):
    """What a parameter gradient's sum is divided by: N for ``"mean"`` (docs/spec.md, E9), 1 for ``"sum"``.

    Raises
    ------
    ValueError
        Unknown ``reduction``, or ``"mean"`` over an empty batch (N = 0).
    """
    one_of(reduction, "reduction", ("mean", "sum"))
    if reduction == "sum":
        return 1.0
    if batch == 0:
        raise ValueError("reduction='mean' over an empty batch (N = 0) is undefined: the mean "
                         "over no samples has no value; use reduction='sum' (which gives zeros)")
    return float(batch)


def nchw(value, name, what="(N, C, H, W)"):
    """An ``(N, C, H, W)`` array from a batched or unbatched ``(C, H, W)`` argument.

    N = 0 is accepted (an empty batch); every other axis must be at least 1.

    Returns
    -------
    array : ndarray of shape (N, C, H, W)
        As :func:`float_array` makes it; an unbatched input gains a leading
        axis of 1 (a view).
    unbatched : bool
        True when ``value`` was 3-D: the caller returns its result with
        ``result[0]``.
    """
    array = float_array(value, name, ndim=(3, 4), what=f"{what} or unbatched {'(' + what[4:]}",
                        allow_empty=True)
    unbatched = array.ndim == 3
    if unbatched:
        array = array[None]
    if min(array.shape[1:]) < 1:
        raise ValueError(f"{name} must have at least one entry along every axis but the batch, "
                         f"got shape {array.shape[1:] if unbatched else array.shape}")
    return array, unbatched


def batched_shape(value, name, unbatched):
    """An ``input_shape`` argument as 4 ints, following the input's batching.

    ``(C, H, W)`` when the delta given with it is unbatched, else
    ``(N, C, H, W)``; N may be 0, the other entries must be at least 1.
    """
    if unbatched:
        return (1,) + shape_tuple(value, name, 3)
    items = _int_tuple(value, name, 4)
    if items[0] < 0 or min(items[1:]) < 1:
        raise ValueError(f"{name} must be (N, C, H, W) with N >= 0 and the rest >= 1, got {items}")
    return items


def shape_tuple(value, name, length):
    """A shape argument as a tuple of positive ints.

    ``length`` is the required number of entries, or a tuple of accepted counts.
    """
    items = _int_tuple(value, name, length)
    if any(x < 1 for x in items):
        raise ValueError(f"{name} entries must be >= 1, got {items}")
    return items


def _int_tuple(value, name, length):
    counts = (length,) if isinstance(length, int) else tuple(length)
    expected = " or ".join(str(c) for c in counts)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a tuple of {expected} ints, got {value!r}")
    items = tuple(as_int(x, name) for x in value)
    if len(items) not in counts:
        raise ValueError(f"{name} must have {expected} entries, got {len(items)}: {items!r}")
    return items
