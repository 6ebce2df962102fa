"""
Filters learned on the digits
=============================

``python -m cnnprop train`` trains a LeNet-style network on scikit-learn's 8x8
digits. Here the same network (:func:`cnnprop.nn.train.lenet`) trains for a
few epochs only, to keep the documentation build short, and its 16 first-layer
3x3 filters are drawn. The full run (30 epochs, about 99 % test accuracy) is
described in :doc:`/training`.
"""
import matplotlib.pyplot as plt
import numpy as np

from cnnprop.nn import train

data = train.load_digits_split(seed=0)
model = train.lenet(seed=0)
history = train.fit(model, data, epochs=3, batch_size=32, lr=3e-3, seed=0)
print("test accuracy per epoch:", [f"{a:.3f}" for a in history.test_accuracy])

filters = model.layers[0].params["weight"].value[:, 0]     # (16, 3, 3)
fig, axes = plt.subplots(2, 9, figsize=(9, 2.6), gridspec_kw={"width_ratios": [1] * 8 + [1.6]})
for ax, f in zip(axes[:, :8].ravel(), filters):
    ax.imshow(f, cmap="RdBu_r", vmin=-np.abs(f).max(), vmax=np.abs(f).max())
    ax.set_axis_off()
for ax, (image, label) in zip(axes[:, 8], zip(data[1][:2], data[3][:2])):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(f"digit {label}", fontsize=8)
    ax.set_axis_off()
fig.suptitle(f"first-layer filters after {len(history.test_accuracy)} epochs "
             f"(test accuracy {history.test_accuracy[-1]:.1%})", fontsize=10)
fig.tight_layout()
