"""Element-wise activations: forward (eq 15) and backward (eq 16)."""
from .common import ACTIVATION, ALGORITHMS, DTYPES, THREADS, _Bandwidth, cnnprop, data, kernel_options

NAMES = ["relu", "leaky_relu", "sigmoid", "tanh", "elu", "softplus"]


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


class ActivationInstructionSet(_Bandwidth):
    """Eqs (15)-(16) on the fast path's polynomial loops: generic (SSE2 on
    x86_64) against AVX2+FMA, chosen at run time. Skipped on commits before
    the run-time choice, and for "avx2" on CPUs without it."""

    params = [DTYPES, ["sigmoid", "tanh", "elu", "softplus"], ["forward", "backward"],
              ["generic", "avx2"], THREADS]
    param_names = ["dtype", "name", "direction", "isa", "threads"]

    def setup(self, dtype, name, direction, isa, threads):
        from cnnprop._kernels import activation_fast
        if not hasattr(activation_fast, "select_isa"):
            raise NotImplementedError("this commit has no run-time choice of instruction set")
        if isa == "avx2" and not activation_fast.avx2_available():
            raise NotImplementedError("this CPU has no AVX2+FMA")
        activation_fast.select_isa(isa)
        self.z = data(ACTIVATION["vgg3x3"], dtype)
        self.delta = data(ACTIVATION["vgg3x3"], dtype, seed=1)
        self.name = name
        self.nbytes = self.z.nbytes
        self.direction = direction
        self.options = {"algorithm": "fast", "num_threads": threads}

    def teardown(self, *params):
        from cnnprop._kernels import activation_fast
        activation_fast.select_isa(None)

    def call_with(self, **options):
        if self.direction == "forward":
            return cnnprop.activation_forward(self.z, self.name, **options)
        return cnnprop.activation_backward(self.delta, self.z, self.name, **options)
