"""Sequential: a chain of layers, eqs (1)-(3), and saving its parameters."""
import json

import numpy as np

from . import layers as _layers

__all__ = ["Sequential"]

_ARCHITECTURE_KEY = "__architecture__"


class Sequential:
    """Layers applied in order: forward by eq (1), backward by eqs (2)-(3) from the top.

    Parameters
    ----------
    *layers : Layer
        The layers, input side first.

    Examples
    --------
    >>> import numpy as np
    >>> from cnnprop import nn
    >>> model = nn.Sequential(nn.Conv2D(1, 2, 3, seed=0, dtype=np.float64), nn.Activation("relu"),
    ...                       nn.Flatten(), nn.Affine(2 * 6 * 6, 3, seed=1, dtype=np.float64))
    >>> model.forward(np.ones((4, 1, 8, 8))).shape
    (4, 3)
    """

    def __init__(self, *layers):
        for layer in layers:
            if not isinstance(layer, _layers.Layer):
                raise TypeError(f"Sequential takes Layer objects, got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, z):
        """Eq (1) layer after layer: the network output for input ``z``."""
        for layer in self.layers:
            z = layer.forward(z)
        return z

    __call__ = forward

    def backward(self, delta):
        """Eqs (2)-(3) from the top: every parameter gradient from the loss delta ``dE_n/dZ``.

        The first layer's input delta is not computed (nothing consumes it).
        """
        for i, layer in enumerate(reversed(self.layers)):
            delta = layer.backward(delta, input_delta=i < len(self.layers) - 1)

    def parameters(self):
        """Every :class:`Parameter`, in layer order."""
        return [p for layer in self.layers for p in layer.params.values()]

    def named_parameters(self):
        """``("<index>.<name>", Parameter)`` pairs, in layer order."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.params.items()]

    def architecture(self):
        """The layer types and their configurations, as saved with the parameters."""
        return [{"type": type(layer).__name__, **layer.config()} for layer in self.layers]

    def predict(self, z, batch_size=256):
        """Class indices (argmax of the output) for ``z``, in batches."""
        return np.concatenate([self.forward(z[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(z), batch_size)])

    def save(self, path):
        """Write the parameters and the architecture to an ``.npz`` file."""
        arrays = {name: p.value for name, p in self.named_parameters()}
        arrays[_ARCHITECTURE_KEY] = np.array(json.dumps(self.architecture()))
        np.savez(path, **arrays)

    def load(self, path):
        """Read parameters saved by :meth:`save` into this model, in place.

        Every array is checked before any is assigned, so a failed load
        leaves the model as it was.

        Raises
        ------
        ValueError
            When the file was saved from a different architecture, lacks a
            parameter or holds one the model does not have, or a parameter's
            shape or dtype differs (no silent casting: build the model with
            the dtype it was saved in), naming what does not match.
        """
        with np.load(path, allow_pickle=False) as data:
            saved = json.loads(str(data[_ARCHITECTURE_KEY])) if _ARCHITECTURE_KEY in data else None
            if saved != self.architecture():
                raise ValueError(f"{path} holds a different architecture:\n saved: {saved}\n model: "
                                 f"{self.architecture()}")
            named = dict(self.named_parameters())
            stored = set(data.files) - {_ARCHITECTURE_KEY}
            if stored != set(named):
                raise ValueError(f"{path}: parameters missing {sorted(set(named) - stored)}, "
                                 f"unexpected {sorted(stored - set(named))}")
            values = {name: data[name] for name in named}
        for name, value in values.items():
            p = named[name]
            if value.shape != p.value.shape or value.dtype != p.value.dtype:
                raise ValueError(f"{name}: saved {value.dtype} {value.shape} != model {p.value.dtype} "
                                 f"{p.value.shape}")
        for name, value in values.items():
            named[name].value[...] = value
        return self

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"
