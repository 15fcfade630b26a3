"""Train an MLP on scikit-learn's handwritten digits (1,797 8x8 images, shipped with scikit-learn: no download).

    .venv/bin/python examples/digits_mlp.py [--device C|PYTHON|CUDA] [--epochs N]

Adam, a 64 -> 128 -> 10 MLP, a held-out 20% test split; prints `test accuracy: NN.N%` (>= 97% expected).
"""

import argparse
import time

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.datasets import load_digits

from shrimpgrad import Context, Tensor, nn
from shrimpgrad.nn.optim import Adam
from shrimpgrad.nn.state import get_parameters


class MLP:
    def __init__(self):
        self.l1, self.l2 = nn.Linear(64, 128), nn.Linear(128, 10)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l2(self.l1(x).relu())


def main() -> None:
    args = parse_args()
    with Context(DEVICE=args.device):  # every tensor below is created on args.device
        train_and_test(args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="C")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    return parser.parse_args()


def train_and_test(args: argparse.Namespace) -> None:
    X, y = load_digits(return_X_y=True)
    X, y = (X / 16.0).astype(np.float32), y.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(X))
    n_test = len(X) // 5
    test, train = order[:n_test], order[n_test:]

    Tensor.manual_seed(0)
    model = MLP()
    opt = Adam(get_parameters(model), lr=3e-3)
    rng = np.random.default_rng(1)
    steps = len(train) // args.batch_size

    start = time.perf_counter()
    stats = TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:5.1%}  {task.fields[rate]:5.1f} steps/s")
    with Progress(TextColumn("epoch {task.fields[epoch]:>2}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  stats, TimeElapsedColumn()) as progress:
        for epoch in range(1, args.epochs + 1):
            task = progress.add_task("", total=steps, epoch=epoch, loss=0.0, acc=0.0, rate=0.0)
            perm, t0, losses, hits = rng.permutation(train), time.perf_counter(), [], 0
            with Tensor.train():
                for i in range(steps):
                    idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
                    xb, yb = Tensor(X[idx]), Tensor(y[idx])
                    opt.zero_grad()
                    logits = model(xb)
                    loss = logits.sparse_categorical_crossentropy(yb)
                    loss.backward()
                    opt.step()  # realizes the update with the loss and logits, which read the old weights
                    losses.append(loss.item())
                    hits += int((logits.argmax(-1).numpy() == y[idx]).sum())
                    progress.update(task, advance=1, loss=float(np.mean(losses)), acc=hits / ((i + 1) * len(idx)),
                                    rate=(i + 1) / (time.perf_counter() - t0))
    train_s = time.perf_counter() - start
    predictions = model(Tensor(X[test])).argmax(-1).numpy()
    print(f"trained {args.epochs} epochs x {steps} steps in {train_s:.1f} s on {args.device}")
    print(f"test accuracy: {100 * (predictions == y[test]).mean():.1f}%")


if __name__ == "__main__":
    main()
