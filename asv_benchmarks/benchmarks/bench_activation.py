"""Element-wise activations: forward (eq 15) and backward (eq 16)."""
from .common import ACTIVATION, ALGORITHMS, DTYPES, THREADS, _Bandwidth, cnnprop, data, kernel_options

NAMES = ["relu", "leaky_relu", "sigmoid", "tanh"]


class _Activation(_Bandwidth):
    params = [DTYPES, ALGORITHMS, NAMES, list(ACTIVATION), THREADS]
    param_names = ["dtype", "algorithm", "name", "geometry", "threads"]

    def setup(self, dtype, algorithm, name, geometry, threads):
        self.z = data(ACTIVATION[geometry], dtype)
        self.delta = data(ACTIVATION[geometry], dtype, seed=1)
        self.name = name
        self.nbytes = self.z.nbytes
        self.options = kernel_options(self.call_with, algorithm, threads)


class ActivationForward(_Activation):
    """Eq (15)."""

    def call_with(self, **options):
        return cnnprop.activation_forward(self.z, self.name, **options)


class ActivationBackward(_Activation):
    """Eq (16)."""

    def call_with(self, **options):
        return cnnprop.activation_backward(self.delta, self.z, self.name, **options)
