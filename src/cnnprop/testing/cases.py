"""The geometries an adapter is checked on: cnnprop.verify's, restricted to what it claims.

A :class:`Case` carries every option of a sliding window. The verification
geometries of :mod:`cnnprop.verify.geometries` (and their seeded random
draws) are converted to cases; options the adapter does not claim are
replaced by their defaults (stride 1, no padding), so a simple adapter is
still checked on every shape. Options that both the adapter claims and the
installed cnnprop supports (detected from its signatures) add random cases
of their own.
"""
import inspect
from typing import NamedTuple, Tuple, Union

import numpy as np

import cnnprop
from cnnprop.verify import geometries

__all__ = ["Case", "cases_for", "supports", "cnnprop_kwargs", "adapter_kwargs"]


class Case(NamedTuple):
    """One layer geometry (NCHW, kernels (K, C/groups, R, S))."""

    name: str
    N: int
    C: int
    H: int = 1
    W: int = 1
    K: int = 1
    R: int = 1
    S: int = 1
    stride: Tuple[int, int] = (1, 1)
    padding: Union[tuple, str] = ((0, 0), (0, 0))
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    padding_mode: str = "zeros"
    ceil_mode: bool = False
    output_padding: Tuple[int, int] = (0, 0)
    count_include_pad: bool = True
    input_shape: tuple = ()

    def describe(self):
        """``N=2 C=3 H=8 W=8 K=4 R=3 S=3 stride=(2, 2) padding=...`` (non-default options only)."""
        if self.input_shape:
            return f"input_shape={self.input_shape} I={self.K}"
        parts = [f"N={self.N}", f"C={self.C}", f"H={self.H}", f"W={self.W}", f"K={self.K}", f"R={self.R}",
                 f"S={self.S}", f"stride={self.stride}", f"padding={_padding_arg(self.padding)}"]
        for field, default in (("dilation", (1, 1)), ("groups", 1), ("padding_mode", "zeros"),
                               ("ceil_mode", False), ("output_padding", (0, 0)), ("count_include_pad", True)):
            if getattr(self, field) != default:
                parts.append(f"{field}={getattr(self, field)!r}")
        return " ".join(parts)


def _signature(name):
    fn = getattr(cnnprop, name, None)
    return inspect.signature(fn).parameters if fn is not None else {}


def supports(option, family="convolution"):
    """Whether the installed cnnprop supports ``option`` for ``family`` (from its signatures)."""
    fn = {"convolution": "conv2d_forward", "transposed_convolution": "conv_transpose2d_forward",
          "max_pooling": "maxpool2d_forward", "average_pooling": "avgpool2d_forward"}.get(family)
    params = _signature(fn) if fn else {}
    if option in ("stride", "padding"):
        return bool(params)
    if option in ("asymmetric_padding", "same_padding"):
        # the general padding forms arrive with dilation (issues 10 and 11)
        return "dilation" in params or "ceil_mode" in params
    return option in params


def _pairs(padding):
    ph, pw = padding
    return ((int(ph), int(ph)), (int(pw), int(pw)))


def _from_verify(case, family):
    extra = {k: getattr(case, k) for k in ("dilation", "groups", "padding_mode", "ceil_mode")
             if hasattr(case, k)}
    if "dilation" in extra and isinstance(extra["dilation"], int):
        extra["dilation"] = (extra["dilation"],) * 2
    padding = case.padding if isinstance(case.padding, str) or np.ndim(case.padding) == 2 else _pairs(case.padding)
    if family in ("max_pooling", "average_pooling"):
        R, S = case.window
        return Case(case.name, case.N, case.C, case.H, case.W, case.C, R, S, tuple(case.stride), padding, **extra)
    return Case(case.name, case.N, case.C, case.H, case.W, case.K, case.R, case.S, tuple(case.stride), padding,
                **extra)


def _restrict(case, adapter):
    """The case with every option the adapter does not claim set to its default."""
    changes = {}
    if not adapter.claims("stride"):
        changes["stride"] = (1, 1)
    padding = case.padding
    if isinstance(padding, str):
        if not adapter.claims("same_padding"):
            padding = ((0, 0), (0, 0))
    elif not adapter.claims("padding"):
        padding = ((0, 0), (0, 0))
    elif padding[0][0] != padding[0][1] or padding[1][0] != padding[1][1]:
        if not adapter.claims("asymmetric_padding"):
            padding = ((padding[0][0],) * 2, (padding[1][0],) * 2)
    changes["padding"] = padding
    for option, default in (("dilation", (1, 1)), ("groups", 1), ("padding_mode", "zeros"),
                            ("ceil_mode", False), ("output_padding", (0, 0)), ("count_include_pad", True)):
        if not (adapter.claims(option) and supports(option, adapter.family)):
            changes[option] = default
    if adapter.family in ("max_pooling",):
        # padding at most half the window (PyTorch's rule, and cnnprop's)
        (pt, pb), (pl, pr) = changes["padding"] if not isinstance(changes["padding"], str) else ((0, 0), (0, 0))
        if not isinstance(changes["padding"], str):
            changes["padding"] = ((min(pt, case.R // 2), min(pb, case.R // 2)),
                                  (min(pl, case.S // 2), min(pr, case.S // 2)))
    return case._replace(**changes)


def _random_options(adapter, seed, base):
    """Cases drawing the general options the adapter claims and cnnprop supports."""
    claimed = [o for o in ("dilation", "groups", "asymmetric_padding", "same_padding", "padding_mode",
                           "ceil_mode", "count_include_pad", "output_padding")
               if adapter.claims(o) and supports(o, adapter.family)]
    if not claimed:
        return ()
    rng = np.random.default_rng([int(seed), 0x7E57])
    out = []
    for i, case in enumerate(base[:12]):
        c = case
        if "groups" in claimed:
            g = int(rng.integers(1, 4))
            c = c._replace(C=c.C * g if c.C % g else c.C, K=c.K * g if c.K % g else c.K, groups=g)
        if "dilation" in claimed:
            d = tuple(int(x) for x in rng.integers(1, 3, size=2))
            c = c._replace(dilation=d, H=c.H + (d[0] - 1) * (c.R - 1), W=c.W + (d[1] - 1) * (c.S - 1))
        if "asymmetric_padding" in claimed and not isinstance(c.padding, str):
            (pt, _), (pl, _) = c.padding
            c = c._replace(padding=((pt, int(rng.integers(0, max(pt, 1) + 1))),
                                    (pl, int(rng.integers(0, max(pl, 1) + 1)))))
        if "same_padding" in claimed and rng.random() < 0.3:
            c = c._replace(padding="same")
        if "padding_mode" in claimed and not isinstance(c.padding, str):
            mode = str(rng.choice(["zeros", "reflect", "replicate", "circular"]))
            (pt, pb), (pl, pr) = c.padding
            if mode in ("reflect", "circular"):
                c = c._replace(H=max(c.H, pt + 1, pb + 1), W=max(c.W, pl + 1, pr + 1))
            c = c._replace(padding_mode=mode)
        if "ceil_mode" in claimed:
            c = c._replace(ceil_mode=bool(rng.random() < 0.5))
        if "output_padding" in claimed:
            # below the stride (PyTorch's and the contract's rule for the extra rows)
            c = c._replace(output_padding=tuple(int(rng.integers(0, max(u, d))) for u, d in zip(c.stride, c.dilation)))
        if "count_include_pad" in claimed:
            c = c._replace(count_include_pad=bool(rng.random() < 0.5))
        out.append(c._replace(name=f"options{i}:{c.describe().replace(', ', ',').replace(' ', ';')}"))
    return tuple(out)


def _valid(case, family):
    """Whether cnnprop accepts the geometry (invalid draws are dropped, not failed)."""
    from .calls import cnnprop_forward_shape

    try:
        cnnprop_forward_shape(case, family)
    except (ValueError, TypeError):
        return False
    return True


def cases_for(adapter, quick=False, seed=0):
    """The geometries an adapter is checked on, restricted to its claims, without repeats."""
    family = adapter.family
    if family in ("activation", "affine"):
        if family == "affine":
            raw = geometries.AFFINE[:3] if quick else geometries.AFFINE
            return tuple(Case(c.name, c.input_shape[0], int(np.prod(c.input_shape[1:])), K=c.I,
                              input_shape=tuple(c.input_shape)) for c in raw)
        return (Case("2x3x6x7", 2, 3, 6, 7),) if quick else (Case("2x3x6x7", 2, 3, 6, 7), Case("1x1x1x5", 1, 1, 1, 5))
    if family in ("convolution", "transposed_convolution"):
        raw = geometries.CONV[:4] if quick else geometries.CONV + geometries.random_conv(seed)
    else:
        raw = geometries.POOL[:3] if quick else geometries.POOL + geometries.random_pool(seed)
    base = [_restrict(_from_verify(c, family), adapter) for c in raw]
    if family == "transposed_convolution":
        # the verify geometry read backwards: the transposed layer maps K channels of P x Q to C of H x W
        base = [c._replace(C=c.K, K=c.C) for c in base]
    extra = () if quick else _random_options(adapter, seed, base)
    seen, out = set(), []
    for c in list(base) + list(extra):
        key = c[1:]
        if key in seen or not _valid(c, family):
            continue
        seen.add(key)
        out.append(c)
    return tuple(out)


def _padding_arg(padding):
    """The simplest form of a padding: ``(p_h, p_w)`` when symmetric."""
    if isinstance(padding, str):
        return padding
    (pt, pb), (pl, pr) = padding
    return (pt, pl) if (pt, pl) == (pb, pr) else padding


def cnnprop_kwargs(case, family):
    """Keyword arguments of cnnprop's function for the case (defaults left out, so
    a cnnprop without the general options still takes them)."""
    kw = {"stride": case.stride, "padding": _padding_arg(case.padding)}
    if family in ("max_pooling", "average_pooling"):
        kw["window"] = (case.R, case.S)
    for field, default in (("dilation", (1, 1)), ("groups", 1), ("padding_mode", "zeros"),
                           ("ceil_mode", False), ("output_padding", (0, 0)), ("count_include_pad", True)):
        if getattr(case, field) != default:
            kw[field] = getattr(case, field)
    return kw


def adapter_kwargs(case, adapter):
    """Keyword arguments of the adapter's calls: every option it claims, by keyword."""
    kw = {"stride": case.stride, "padding": _padding_arg(case.padding)}
    if adapter.family in ("max_pooling", "average_pooling"):
        kw["window"] = (case.R, case.S)
    for option in ("dilation", "groups", "padding_mode", "ceil_mode", "output_padding", "count_include_pad"):
        if adapter.claims(option) and supports(option, adapter.family):
            kw[option] = getattr(case, option)
    return kw
