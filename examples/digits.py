"""What the two digits examples share: the data, the training loop (with TinyJit and a rich progress bar) and
the test accuracy. The models are in digits_mlp.py and digits_cnn.py.

The digits (1,797 8x8 grey images of 0..9) are in examples/data/digits.csv.gz (the file scikit-learn ships, see
examples/data/README.md): nothing is downloaded, and the examples need no more than numpy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from shrimpgrad import Tensor, TinyJit
from shrimpgrad.nn.optim import Optimizer

DIGITS_CSV = Path(__file__).parent / "data" / "digits.csv.gz"


@dataclass(frozen=True)
class Digits:
    X_train: np.ndarray  # (n, 64) float32 in [0, 1]
    y_train: np.ndarray  # (n,) int32
    X_test: np.ndarray
    y_test: np.ndarray


def load(test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """The digits, pixels scaled to [0, 1], split into a training set and a held-out test set."""
    data = np.loadtxt(DIGITS_CSV, delimiter=",")  # 64 pixel counts in 0..16, then the digit (as load_digits reads it)
    X, y = data[:, :-1], data[:, -1]
    X, y = (X / 16.0).astype(np.float32), y.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(len(X) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return Digits(X[train], y[train], X[test], y[test])


def parse_args(doc: str, epochs: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--device", default="C")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-jit", action="store_true", help="build and schedule the step's graph every step")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args()


def make_step(model: Callable[[Tensor], Tensor], opt: Optimizer, jit: bool = True) -> Callable:
    """One training step: loss and gradients, the optimizer's update; returns (loss, predicted labels).
    With jit=True the step is a TinyJit: captured on its second call and replayed from then on."""
    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        opt.zero_grad()
        logits = model(x)
        loss = logits.sparse_categorical_crossentropy(y)
        loss.backward()
        opt.step()  # realizes the update together with the loss and logits (they read the old weights)
        return loss, logits.argmax(-1)
    return TinyJit(step) if jit else step


def train(step: Callable, data: Digits, epochs: int, batch_size: int, quiet: bool = False,
          reshape: tuple[int, ...] = (-1, 64)) -> list[float]:
    """Run `epochs` passes over the training set in shuffled batches (the last partial batch is dropped, so
    every step has the same shapes: what a JIT replays). Returns the loss of every step."""
    rng = np.random.default_rng(1)
    steps = len(data.X_train) // batch_size
    losses: list[float] = []
    stats = TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:5.1%}  {task.fields[rate]:5.1f} steps/s")
    with Progress(TextColumn("epoch {task.fields[epoch]:>2}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  stats, TimeElapsedColumn(), disable=quiet) as progress, Tensor.train():
        for epoch in range(1, epochs + 1):
            task = progress.add_task("", total=steps, epoch=epoch, loss=0.0, acc=0.0, rate=0.0)
            perm, t0, hits, epoch_losses = rng.permutation(len(data.X_train)), time.perf_counter(), 0, []
            for i in range(steps):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                loss, predicted = step(Tensor(data.X_train[idx].reshape(reshape)), Tensor(data.y_train[idx]))
                epoch_losses.append(loss.item())
                hits += int((predicted.numpy() == data.y_train[idx]).sum())
                progress.update(task, advance=1, loss=float(np.mean(epoch_losses)), acc=hits / ((i + 1) * batch_size),
                                rate=(i + 1) / (time.perf_counter() - t0))
            losses += epoch_losses
    return losses


def test_accuracy(model: Callable[[Tensor], Tensor], data: Digits, reshape: tuple[int, ...] = (-1, 64)) -> float:
    with Tensor.test():
        predicted = model(Tensor(data.X_test.reshape(reshape))).argmax(-1).numpy()
    return float((predicted == data.y_test).mean())


def main(model_factory: Callable[[], Callable[[Tensor], Tensor]], make_opt: Callable, args: argparse.Namespace,
         reshape: tuple[int, ...] = (-1, 64)) -> float:
    """Train a fresh model on args.device and print `test accuracy: NN.N%`; returns the accuracy."""
    from shrimpgrad import Context
    from shrimpgrad.nn.state import get_parameters

    with Context(DEVICE=args.device):  # every tensor below is created on args.device
        data = load()
        Tensor.manual_seed(0)
        model = model_factory()
        step = make_step(model, make_opt(get_parameters(model)), jit=not args.no_jit)
        start = time.perf_counter()
        losses = train(step, data, args.epochs, args.batch_size, args.quiet, reshape)
        seconds = time.perf_counter() - start
        accuracy = test_accuracy(model, data, reshape)
    print(f"trained {args.epochs} epochs ({len(losses)} steps, {1e3 * seconds / len(losses):.1f} ms/step"
          f"{'' if args.no_jit else ' with TinyJit'}) in {seconds:.1f} s on {args.device}")
    print(f"test accuracy: {100 * accuracy:.1f}%")
    return accuracy
