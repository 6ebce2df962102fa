"""Losses that produce the top delta of a network.

Convention of the source (docs/spec.md): the loss is the mean over the batch,
``E = (1/N) sum_n E_n``; the delta handed to the network is per sample,
``Delta[n] = dE_n / dZ[n]`` (no 1/N), and the layers' parameter gradients
carry the 1/N. ``__call__`` returns ``(E, Delta)``.
"""
import numpy as np

__all__ = ["SoftmaxCrossEntropy", "MeanSquaredError"]


def _check(logits, name="logits"):
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.dtype.type not in (np.float32, np.float64):
        raise ValueError(f"{name} must be a float32 or float64 array of shape (N, I), "
                         f"got {logits.dtype} {logits.shape}")
    return logits


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy, ``E_n = -log softmax(z_n)[y_n]``.

    Computed through the log-sum-exp with the maximum subtracted, so large
    logits never overflow. ``Delta[n] = softmax(z_n) - onehot(y_n)``.
    """

    def __call__(self, logits, labels):
        """Mean loss and per-sample delta for ``logits`` (N, I) and integer ``labels`` (N,)."""
        logits = _check(logits)
        labels = np.asarray(labels)
        if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be integers of shape ({logits.shape[0]},), got {labels.dtype} "
                             f"{labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got {labels.min()}..{labels.max()}")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_z
        rows = np.arange(logits.shape[0])
        loss = -log_p[rows, labels].mean()
        delta = np.exp(log_p)
        delta[rows, labels] -= 1
        return float(loss), delta.astype(logits.dtype, copy=False)


class MeanSquaredError:
    """``E_n = (1/I) sum_i (z_ni - t_ni)^2`` (the mean over outputs, as PyTorch's MSELoss).

    ``Delta[n] = 2 (z_n - t_n) / I``.
    """

    def __call__(self, outputs, targets):
        """Mean loss and per-sample delta for ``outputs`` and ``targets`` of shape (N, I)."""
        outputs = _check(outputs, "outputs")
        targets = np.asarray(targets, dtype=outputs.dtype)
        if targets.shape != outputs.shape:
            raise ValueError(f"targets must have the shape of outputs {outputs.shape}, got {targets.shape}")
        diff = outputs - targets
        return float(np.mean(diff * diff)), (2 / outputs.shape[1]) * diff
