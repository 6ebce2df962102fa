"""A check of an adapter: one equation, one direction, one comparison."""
from typing import Callable, NamedTuple, Tuple

__all__ = ["Spec"]


class Spec(NamedTuple):
    """One check of a family.

    ``run(adapter, case, dtype, rng) -> Finding``; ``needs`` are the
    adapter's directions it calls; ``fd`` checks run in float64 only
    (central differences of the adapter's own forward pass need its sums
    to be exact to float64 rounding).
    """

    name: str
    equation: str
    summary: str
    needs: Tuple[str, ...]
    run: Callable
    fd: bool = False
