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
- empty arrays are refused (ValueError): a batch with no sample has no mean.
"""
import numpy as np

from .geometry import as_int

__all__ = ["float_array", "same_dtype", "check_shape", "one_of", "reduction_divisor", "shape_tuple"]

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
    """What a parameter gradient's sum is divided by: N for ``"mean"`` (docs/spec.md, E9), 1 for ``"sum"``."""
    one_of(reduction, "reduction", ("mean", "sum"))
    return float(batch) if reduction == "mean" else 1.0


def shape_tuple(value, name, length):
    """A shape argument as a tuple of positive ints.

    ``length`` is the required number of entries, or a tuple of accepted counts.
    """
    counts = (length,) if isinstance(length, int) else tuple(length)
    expected = " or ".join(str(c) for c in counts)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a tuple of {expected} ints, got {value!r}")
    items = tuple(as_int(x, name) for x in value)
    if len(items) not in counts:
        raise ValueError(f"{name} must have {expected} entries, got {len(items)}: {items!r}")
    if any(x < 1 for x in items):
        raise ValueError(f"{name} entries must be >= 1, got {items}")
    return items
