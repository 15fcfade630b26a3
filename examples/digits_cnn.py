"""Train a small convolutional network on scikit-learn's handwritten digits (8x8 images, no download).

    .venv/bin/python examples/digits_cnn.py [--device C|PYTHON|CUDA] [--epochs N] [--no-jit]

conv 3x3 (1 -> 8 channels, padding 1) -> relu -> 2x2 max-pool -> conv 3x3 (8 -> 16) -> relu -> 2x2 max-pool ->
linear (16*2*2 -> 10), Adam, a held-out 20% test split; prints `test accuracy: NN.N%` (>= 97% expected).
"""

from digits import main, parse_args

from shrimpgrad import Tensor, nn
from shrimpgrad.nn.optim import Adam


class CNN:
    def __init__(self):
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def __call__(self, x: Tensor) -> Tensor:  # x: (batch, 1, 8, 8)
        x = self.c1(x).relu().max_pool2d(2)  # (batch, 8, 4, 4)
        x = self.c2(x).relu().max_pool2d(2)  # (batch, 16, 2, 2)
        return self.fc(x.flatten(1))


if __name__ == "__main__":
    main(CNN, lambda params: Adam(params, lr=1e-2), parse_args(__doc__, epochs=20), reshape=(-1, 1, 8, 8))
