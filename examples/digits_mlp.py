"""Train an MLP on scikit-learn's handwritten digits (1,797 8x8 images, shipped with scikit-learn: no download).

    .venv/bin/python examples/digits_mlp.py [--device C|PYTHON|CUDA] [--epochs N] [--no-jit]

Adam, a 64 -> 128 -> 10 MLP, a held-out 20% test split; prints `test accuracy: NN.N%` (>= 97% expected).
The training step is a TinyJit (examples/digits.py): captured once, then replayed without building its graph.
"""

from digits import main, parse_args

from shrimpgrad import Tensor, nn
from shrimpgrad.nn.optim import Adam


class MLP:
    def __init__(self):
        self.l1, self.l2 = nn.Linear(64, 128), nn.Linear(128, 10)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l2(self.l1(x).relu())


if __name__ == "__main__":
    main(MLP, lambda params: Adam(params, lr=3e-3), parse_args(__doc__, epochs=12))
