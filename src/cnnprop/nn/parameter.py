"""A trainable array and its gradient."""
import numpy as np

__all__ = ["Parameter"]


class Parameter:
    """A trainable array, updated in place by the optimisers.

    Attributes
    ----------
    value : ndarray
        The parameter (its array object never changes, only its contents).
    grad : ndarray or None
        dE/d(value) from the last backward pass, with the source's 1/N
        (gradient of the mean loss); None before the first one.
    """

    def __init__(self, value):
        self.value = np.ascontiguousarray(value)
        self.grad = None

    @property
    def shape(self):
        return self.value.shape

    def __repr__(self):
        return f"Parameter(shape={self.value.shape}, dtype={self.value.dtype})"
