"""Optimisers: SGD with momentum and weight decay, and Adam (PyTorch's update rules)."""
import numpy as np

__all__ = ["SGD", "Adam"]


class _Optimiser:
    def __init__(self, parameters, lr):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("no parameters to optimise")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.lr = float(lr)

    def _grads(self):
        """(parameter, gradient) pairs, all checked before any parameter changes."""
        missing = sum(p.grad is None for p in self.parameters)
        if missing:
            raise RuntimeError(f"{missing} of {len(self.parameters)} parameters have no gradient: "
                               "call backward before step")
        return [(p, p.grad) for p in self.parameters]

    def zero_grad(self):
        """Forget the gradients (the next backward sets them anew anyway)."""
        for p in self.parameters:
            p.grad = None


class SGD(_Optimiser):
    """Stochastic gradient descent.

    ``g = grad + weight_decay * w``; ``v = momentum * v + g``; ``w -= lr * v``
    (PyTorch's SGD without dampening; plain SGD when momentum is 0).
    """

    def __init__(self, parameters, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(parameters, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError("momentum and weight_decay must be >= 0")
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self._velocity = [None] * len(self.parameters)

    def step(self):
        """Update every parameter in place from its gradient."""
        for i, (p, grad) in enumerate(self._grads()):
            g = grad + self.weight_decay * p.value if self.weight_decay else grad
            if self.momentum:
                v = self._velocity[i]
                self._velocity[i] = g.copy() if v is None else self.momentum * v + g
                g = self._velocity[i]
            p.value -= (self.lr * g).astype(p.value.dtype, copy=False)


class Adam(_Optimiser):
    """Adam (Kingma and Ba 2015), with L2 weight decay added to the gradient as PyTorch's Adam."""

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(parameters, lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self._m = [np.zeros_like(p.value) for p in self.parameters]
        self._v = [np.zeros_like(p.value) for p in self.parameters]
        self._t = 0

    def step(self):
        """Update every parameter in place from its gradient."""
        pairs = self._grads()
        self._t += 1
        c1, c2 = 1 - self.beta1 ** self._t, 1 - self.beta2 ** self._t
        for i, (p, grad) in enumerate(pairs):
            g = grad + self.weight_decay * p.value if self.weight_decay else grad
            self._m[i] = self.beta1 * self._m[i] + (1 - self.beta1) * g
            self._v[i] = self.beta2 * self._v[i] + (1 - self.beta2) * g * g
            # PyTorch's expression, so that float64 runs agree to rounding
            # (about 1e-16 relative over tens of steps; PyTorch updates m with lerp)
            denom = np.sqrt(self._v[i]) / np.sqrt(c2) + self.eps
            p.value -= ((self.lr / c1) * self._m[i] / denom).astype(p.value.dtype, copy=False)
