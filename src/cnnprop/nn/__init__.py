"""cnnprop.nn: the network view of eqs (1)-(3), built on the functional API.

Layers (:class:`Conv2D`, :class:`MaxPool2D`, :class:`AvgPool2D`,
:class:`GlobalAvgPool2D`, :class:`Activation`,
:class:`Affine` alias :class:`Linear`, :class:`Flatten`) each map forward and
back; :class:`Sequential` chains them; the losses produce the top delta
(per sample, with the mean over the batch in the loss, as docs/spec.md); the
optimisers update the parameters in place. No equation is implemented here:
every layer calls :mod:`cnnprop`'s functions.

>>> import numpy as np
>>> from cnnprop import nn
>>> model = nn.Sequential(nn.Flatten(), nn.Affine(4, 3, seed=0, dtype=np.float64))
>>> loss, delta = nn.SoftmaxCrossEntropy()(model.forward(np.ones((2, 1, 2, 2))), np.array([0, 2]))
>>> model.backward(delta)
>>> nn.SGD(model.parameters(), lr=0.1).step()
"""
from .layers import (Activation, Affine, AvgPool2D, Conv2D, ConvTranspose2D, Flatten, GlobalAvgPool2D,
                     Layer, Linear, MaxPool2D)
from .losses import MeanSquaredError, SoftmaxCrossEntropy
from .model import Sequential
from .optim import SGD, Adam
from .parameter import Parameter

__all__ = ["Layer", "Conv2D", "ConvTranspose2D", "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Activation",
           "Affine", "Linear", "Flatten", "Sequential",
           "SoftmaxCrossEntropy", "MeanSquaredError", "SGD", "Adam", "Parameter"]
