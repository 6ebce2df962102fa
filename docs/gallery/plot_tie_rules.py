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

# an 8x8 image of small integers: many 2x2 windows hold two or more equal maxima
image = np.random.default_rng(3).integers(0, 3, size=(1, 1, 8, 8)).astype(np.float64)
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
          (f'delta, ties="all" (source): sum {rules["all"].sum():.0f}', rules["all"], "magma"),
          (f'delta, ties="first" (PyTorch): sum {rules["first"].sum():.0f}', rules["first"], "magma")]
for ax, (title, data, cmap) in zip(axes, panels):
    ax.imshow(data, cmap=cmap, vmin=0, vmax=max(data.max(), 1))
    ax.set_title(title, fontsize=10)
    ax.set_xticks(np.arange(-0.5, 8, 2), minor=False)
    ax.set_yticks(np.arange(-0.5, 8, 2), minor=False)
    ax.grid(color="white", lw=1)
    ax.tick_params(labelbottom=False, labelleft=False, length=0)
    for (i, j), value in np.ndenumerate(data):
        light = value > 0.5 * max(data.max(), 1)
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", color="black" if light else "white")
fig.tight_layout()
