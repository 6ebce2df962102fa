"""``cnnprop train``: a LeNet-style CNN trained on scikit-learn's 8x8 handwritten digits.

The digits ship with scikit-learn (no download): 1797 images of 8 x 8
pixels, values 0 to 16. A stratified 80/20 split from the seed gives 1437
training and 360 test images. Everything is seeded: the split, the
initialisation and the batch order.
"""
import sys
import time
from dataclasses import dataclass, field
from typing import List

import numpy as np

from .layers import Activation, Affine, Conv2D, Flatten, MaxPool2D
from .losses import SoftmaxCrossEntropy
from .model import Sequential
from .optim import SGD, Adam

__all__ = ["lenet", "load_digits_split", "fit", "History", "add_arguments", "main"]


def lenet(seed=0, dtype=np.float32):
    """conv 3x3 (16) - relu - pool 2 - conv 3x3 (32) - relu - pool 2 - affine 64 - relu - affine 10."""
    rng = np.random.default_rng(seed)
    kw = dict(seed=rng, dtype=dtype)
    return Sequential(
        Conv2D(1, 16, 3, padding=1, **kw), Activation("relu"), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, **kw), Activation("relu"), MaxPool2D(2),
        Flatten(), Affine(32 * 2 * 2, 64, **kw), Activation("relu"),
        Affine(64, 10, init="glorot", **kw),
    )


def load_digits_split(seed=0, dtype=np.float32, test_fraction=0.2):
    """(x_train, x_test, y_train, y_test): images (N, 1, 8, 8) scaled to [0, 1], labels 0-9."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits come with scikit-learn: pip install 'cnnprop[examples]'") from None
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 1, 8, 8).astype(dtype)
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


@dataclass
class History:
    """Per-epoch figures of a training run."""

    train_loss: List[float] = field(default_factory=list)
    train_accuracy: List[float] = field(default_factory=list)
    test_accuracy: List[float] = field(default_factory=list)
    samples_per_second: List[float] = field(default_factory=list)
    seconds: float = 0.0


class _ProgressBar:
    """One line per epoch; redrawn in place while the epoch runs when the output is a terminal."""

    def __init__(self, out, epochs, total, width=24):
        self.out, self.epochs, self.total, self.width = out, epochs, total, width
        self.live = hasattr(out, "isatty") and out.isatty()

    def line(self, epoch, done, loss, accuracy, rate, tail=""):
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        return (f"epoch {epoch:3d}/{self.epochs} [{bar}] loss {loss:.4f}  acc {100 * accuracy:5.1f}%  "
                f"{rate:7.0f} samples/s{tail}")

    def update(self, *args):
        if self.live:
            print("\r" + self.line(*args), end="", file=self.out, flush=True)

    def finish(self, *args, tail=""):
        print(("\r" if self.live else "") + self.line(*args, tail=tail), file=self.out, flush=True)


def fit(model, data, epochs=30, batch_size=32, optimiser="adam", lr=2e-3, seed=0, out=None):
    """Train ``model`` on ``data = (x_train, x_test, y_train, y_test)``; returns a :class:`History`."""
    x_train, x_test, y_train, y_test = data
    loss_fn = SoftmaxCrossEntropy()
    opt = Adam(model.parameters(), lr=lr) if optimiser == "adam" else SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    history, start = History(), time.perf_counter()
    bar = _ProgressBar(out, epochs, len(x_train)) if out is not None else None
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        seen = correct = 0
        loss_sum, t0 = 0.0, time.perf_counter()
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            outputs = model.forward(x_train[batch])
            loss, delta = loss_fn(outputs, y_train[batch])
            model.backward(delta)
            opt.step()
            seen += len(batch)
            loss_sum += loss * len(batch)
            correct += int((outputs.argmax(axis=1) == y_train[batch]).sum())
            if bar:
                bar.update(epoch, seen, loss_sum / seen, correct / seen, seen / (time.perf_counter() - t0))
        rate = seen / (time.perf_counter() - t0)
        test_acc = float((model.predict(x_test) == y_test).mean())
        history.train_loss.append(loss_sum / seen)
        history.train_accuracy.append(correct / seen)
        history.test_accuracy.append(test_acc)
        history.samples_per_second.append(rate)
        if bar:
            bar.finish(epoch, seen, loss_sum / seen, correct / seen, rate,
                       tail=f"  test acc {100 * test_acc:5.1f}%")
    history.seconds = time.perf_counter() - start
    return history


def plot_history(history, path):
    """Write the loss and accuracy curves to a PNG; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = range(1, len(history.train_loss) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, history.train_loss)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (cross-entropy)")
    ax1.set_yscale("log")
    ax2.plot(epochs, [100 * a for a in history.train_accuracy], label="training")
    ax2.plot(epochs, [100 * a for a in history.test_accuracy], label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.suptitle("cnnprop: LeNet-style CNN on scikit-learn's 8x8 digits")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def add_arguments(parser):
    """Options of the train subcommand."""
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training digits (default 30)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="digits per gradient step (default 32)")
    parser.add_argument("--optimiser", choices=("adam", "sgd"), default="adam",
                        help="Adam, or SGD with momentum 0.9 (default adam)")
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batches")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="precision of the weights and the data (default float32)")
    parser.add_argument("--plot", metavar="PNG",
                        help="also write the loss and accuracy curves to this PNG (needs matplotlib)")
    parser.add_argument("--save", metavar="NPZ",
                        help="save the trained parameters to this .npz file (read back with Sequential.load)")


def main(args, out=None):
    """Train, report the test accuracy; return the exit code."""
    out = out or sys.stdout
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        print("cnnprop train: error: --epochs, --batch-size and --lr must be positive", file=sys.stderr)
        return 2
    dtype = np.dtype(args.dtype).type
    try:
        data = load_digits_split(args.seed, dtype)
    except ImportError as exc:
        print(f"cnnprop train: error: {exc}", file=sys.stderr)
        return 2
    model = lenet(args.seed, dtype)
    print(f"cnnprop train: {len(data[0])} training and {len(data[1])} test digits (8x8), {args.dtype}, "
          f"{args.optimiser} lr {args.lr}, batch {args.batch_size}, seed {args.seed}", file=out)
    history = fit(model, data, args.epochs, args.batch_size, args.optimiser, args.lr, args.seed, out=out)
    print(f"test accuracy: {100 * history.test_accuracy[-1]:.2f}% ({len(data[1])} held-out digits) "
          f"after {args.epochs} epochs in {history.seconds:.1f}s", file=out)
    if args.save:
        model.save(args.save)
        print(f"parameters saved to {args.save}", file=out)
    if args.plot:
        if plot_history(history, args.plot):
            print(f"curves written to {args.plot}", file=out)
        else:
            print("note: matplotlib is not installed: no plot (pip install 'cnnprop[examples]')", file=out)
    return 0
