"""MLP training step: where the time goes (Python scheduling vs kernels), with and without the schedule cache.

    .venv/bin/python benchmarks/bench_step.py

One process; the same 2-layer MLP step (784 -> 128 -> 10, batch 64, manual SGD with assign) is timed with the
schedule cache off (every step scheduled and lowered again, as before) and on. Reported: median wall time of a
step, the part spent in kernels (GlobalCounters.time_sum_s), and the rest (Python)."""

import statistics
import time

import numpy as np

import shrimpgrad.realize as realize
from shrimpgrad import GlobalCounters, Tensor


def step_times(cache: bool, steps: int = 30) -> tuple[float, float, int]:
    realize.SCHEDULE_CACHE = int(cache)
    rng = np.random.default_rng(0)
    w1 = Tensor(rng.standard_normal((784, 128)).astype(np.float32) * 0.05, requires_grad=True)
    w2 = Tensor(rng.standard_normal((128, 10)).astype(np.float32) * 0.05, requires_grad=True)
    x = Tensor(rng.standard_normal((64, 784)).astype(np.float32))
    y = Tensor(rng.integers(0, 10, 64))
    walls, kernels, counts = [], [], []
    for _ in range(steps):
        GlobalCounters.reset()
        start = time.perf_counter()
        loss = (x @ w1).relu().matmul(w2).sparse_categorical_crossentropy(y)
        loss.backward()
        for w in (w1, w2):
            w.assign(w.detach() - 0.01 * w.grad)
            w.grad = None
        Tensor.realize(w1, w2, loss)
        walls.append(time.perf_counter() - start)
        kernels.append(GlobalCounters.time_sum_s)
        counts.append(GlobalCounters.kernel_count)
    return statistics.median(walls[5:]), statistics.median(kernels[5:]), counts[-1]


if __name__ == "__main__":
    step_times(True, 6)  # compile everything once
    print("| schedule cache | step (median) | in kernels | in Python | kernels per step |")
    print("|---|---|---|---|---|")
    for cache in (False, True):
        wall, kern, n = step_times(cache)
        row = [f"{v * 1e3:.2f} ms" for v in (wall, kern, wall - kern)]
        print(f"| {'on' if cache else 'off'} | {' | '.join(row)} | {n} |")
