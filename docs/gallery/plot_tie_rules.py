"""
The two tie rules of max pooling, side by side
==============================================

Eq (14) of the source gives the upstream delta to *every* input equal to the
window maximum (``ties="all"``), so tied maxima each receive the full delta and
the sum of the deltas grows. Frameworks give it to the first maximum in
row-major order (``ties="first"``). On an image with plateaus (erratum E7)
the two rules differ exactly at the ties.
"""
import matplotlib.pyplot as plt
import numpy as np

import cnnprop

# an 8x8 image of flat blocks: many windows hold several equal maxima
image = np.kron(np.array([[1.0, 2.0, 0.0, 3.0], [2.0, 2.0, 1.0, 0.0]]), np.ones((4, 2)))[None, None]
y = cnnprop.maxpool2d_forward(image, window=2)
delta = np.ones_like(y)
rules = {rule: cnnprop.maxpool2d_backward(delta, image, y, window=2, ties=rule)[0, 0]
         for rule in ("all", "first")}

print("sum of the upstream deltas:", delta.sum())
for rule, d in rules.items():
    print(f'ties="{rule}": sum of the input deltas {d.sum():.0f}')
assert rules["first"].sum() == delta.sum()

fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
panels = [("input (2x2 windows)", image[0, 0], "viridis"),
          ('delta, ties="all" (source)', rules["all"], "magma"),
          ('delta, ties="first" (PyTorch)', rules["first"], "magma")]
for ax, (title, data, cmap) in zip(axes, panels):
    ax.imshow(data, cmap=cmap, vmin=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks(np.arange(-0.5, 8, 2), minor=False)
    ax.set_yticks(np.arange(-0.5, 4, 2), minor=False)
    ax.grid(color="white", lw=1)
    ax.tick_params(labelbottom=False, labelleft=False, length=0)
    for (i, j), value in np.ndenumerate(data):
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", color="white" if value < 2 else "black")
fig.tight_layout()
