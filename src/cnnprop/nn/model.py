"""Sequential: a chain of layers, eqs (1)-(3), and saving its parameters."""
import json
import struct
import zipfile
import zlib

import numpy as np
from numpy.lib import format as _npy

from . import layers as _layers

__all__ = ["Sequential"]

_ARCHITECTURE_KEY = "__architecture__"
# The architecture is a few hundred bytes of JSON; refuse to read a huge one.
_MAX_ARCHITECTURE_BYTES = 1 << 20


def _npy_header(archive, info, path):
    """(shape, dtype) from the header of the ``.npy`` member ``info``, reading no data."""
    with archive.open(info) as f:
        version = _npy.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = _npy.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = _npy.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path}: {info.filename} has .npy format version {version}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise ValueError(f"{path}: {info.filename} holds Python objects (pickles are refused)")
    return tuple(shape), dtype


def _npy_data(archive, info, shape, dtype, path):
    """The array of the ``.npy`` member ``info`` whose header said ``shape`` and ``dtype``.

    Reads exactly the bytes the (already checked) header announces, so the
    allocation is bounded by the model, not by the file.
    """
    with archive.open(info) as f:
        array = _npy.read_array(f, allow_pickle=False)
    if array.shape != shape or array.dtype != dtype:
        raise ValueError(f"{path}: {info.filename} changed while it was read")
    return array


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

        The file is never trusted: the shape and dtype of every array are read
        from its ``.npy`` header and checked against the model before any data
        is read, so a small file claiming a huge array allocates nothing.
        Every array is checked before any is assigned, so a failed load
        leaves the model as it was. Pickled objects are refused.

        Raises
        ------
        ValueError
            When the file is not an ``.npz`` written by :meth:`save` (empty,
            truncated, garbled, or holding pickled objects); when it was
            saved from a different architecture, lacks a parameter or holds
            one the model does not have, or a parameter's shape or dtype
            differs (no silent casting: build the model with the dtype it
            was saved in), naming what does not match.
        OSError
            When the file cannot be opened (missing, unreadable).
        """
        named = dict(self.named_parameters())
        with open(path, "rb") as fh:
            try:
                values = self._read_checked(fh, path, named)
            except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError,
                    OSError, TypeError, KeyError, OverflowError) as exc:
                raise ValueError(f"{path} is not a parameter file written by Sequential.save "
                                 f"(unreadable: {type(exc).__name__}: {exc})") from exc
        for name, value in values.items():
            named[name].value[...] = value
        return self

    def _read_checked(self, fh, path, named):
        """Every parameter of ``named`` read from the open ``.npz`` ``fh``, checked from the headers first."""
        try:
            archive = zipfile.ZipFile(fh)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{path} is not a parameter file written by Sequential.save "
                             f"(not an .npz archive: {exc})") from exc
        with archive:
            members = {}
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{path}: unexpected member {info.filename!r} (not an .npy array)")
                members[info.filename[:-4]] = info
            if _ARCHITECTURE_KEY not in members:
                saved = None
            else:
                shape, dtype = _npy_header(archive, members[_ARCHITECTURE_KEY], path)
                if shape != () or dtype.kind != "U" or dtype.itemsize > _MAX_ARCHITECTURE_BYTES:
                    raise ValueError(f"{path}: {_ARCHITECTURE_KEY} is {dtype} {shape}, not a JSON string")
                text = str(_npy_data(archive, members[_ARCHITECTURE_KEY], shape, dtype, path)[()])
                try:
                    saved = json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"{path}: {_ARCHITECTURE_KEY} is not valid JSON ({exc})") from exc
            if saved != self.architecture():
                raise ValueError(f"{path} holds a different architecture:\n saved: {saved}\n model: "
                                 f"{self.architecture()}")
            stored = set(members) - {_ARCHITECTURE_KEY}
            if stored != set(named):
                raise ValueError(f"{path}: parameters missing {sorted(set(named) - stored)}, "
                                 f"unexpected {sorted(stored - set(named))}")
            # Every header first: nothing is read, or allocated, for a file
            # whose arrays do not all fit the model.
            for name, p in named.items():
                shape, dtype = _npy_header(archive, members[name], path)
                if shape != p.value.shape or dtype != p.value.dtype:
                    raise ValueError(f"{name}: saved {dtype} {shape} != model {p.value.dtype} "
                                     f"{p.value.shape}")
            return {name: _npy_data(archive, members[name], p.value.shape, p.value.dtype, path)
                    for name, p in named.items()}

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"
