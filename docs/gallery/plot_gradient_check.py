"""
A conv-pool-affine network's gradients, checked by finite differences
=====================================================================

A small network of :mod:`cnnprop.nn` (convolution, ReLU, max pooling, affine)
computes its parameter gradients by eqs (4)-(20). Here every one of them is
compared with central finite differences of the mean loss in float64,
:math:`(E(\\theta + \\epsilon) - E(\\theta - \\epsilon)) / 2\\epsilon`.
Ties in max pooling and ReLU kinks make the loss non-differentiable, so the
input is random (no ties) and the step is small.
"""
import matplotlib.pyplot as plt
import numpy as np

from cnnprop import nn

rng = np.random.default_rng(0)
model = nn.Sequential(
    nn.Conv2D(2, 3, 3, padding=1, seed=1, dtype=np.float64), nn.Activation("tanh"), nn.MaxPool2D(2),
    nn.Flatten(), nn.Affine(3 * 3 * 3, 4, seed=2, dtype=np.float64),
)
x = rng.standard_normal((5, 2, 6, 6))
labels = rng.integers(0, 4, size=5)
loss_fn = nn.SoftmaxCrossEntropy()


def loss():
    return loss_fn(model.forward(x), labels)[0]


# the analytic gradients: one backward pass
_, delta = loss_fn(model.forward(x), labels)
model.backward(delta)
analytic = {name: p.grad.copy() for name, p in model.named_parameters()}

# central finite differences, one parameter at a time
eps = 1e-6
numeric = {}
for name, p in model.named_parameters():
    g = np.zeros_like(p.value)
    for i in np.ndindex(p.value.shape):
        old = p.value[i]
        p.value[i] = old + eps
        up = loss()
        p.value[i] = old - eps
        down = loss()
        p.value[i] = old
        g[i] = (up - down) / (2 * eps)
    numeric[name] = g

worst = max(np.max(np.abs(analytic[k] - numeric[k])) for k in analytic)
print(f"largest |analytic - finite difference| over {sum(g.size for g in numeric.values())} "
      f"parameters: {worst:.2e}")
assert worst < 1e-7

fig, ax = plt.subplots(figsize=(5, 5))
for name in analytic:
    ax.scatter(numeric[name].ravel(), analytic[name].ravel(), s=12, label=name)
lim = max(np.abs(g).max() for g in numeric.values())
ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.8, zorder=0)
ax.set_xlabel("central finite difference")
ax.set_ylabel("cnnprop backward")
ax.set_title(f"every parameter gradient (largest difference {worst:.1e})")
ax.legend(fontsize=8)
fig.tight_layout()
