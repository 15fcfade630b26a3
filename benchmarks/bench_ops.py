"""ShrimpGrad's compiled C path side by side with numpy (and torch / tinygrad when installed), in one run.

    .venv/bin/python benchmarks/bench_ops.py [--quick]

For each workload it reports the median wall time of a whole realize (build the lazy graph, schedule,
look up the compiled kernels, run them) and of the kernels alone (GlobalCounters.time_sum_s), and the
ratio to numpy (>1 means slower than numpy). Compilation is excluded: each workload runs once first.
Timings on a shared VM vary by 10-30% between runs; compare within one run only.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from shrimpgrad import GlobalCounters, Tensor


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _shrimp_times(make, repeat: int) -> tuple[float, float]:
    make().realize()  # compile once
    walls, kernels = [], []
    for _ in range(repeat):
        GlobalCounters.reset()
        start = time.perf_counter()
        make().realize()
        walls.append(time.perf_counter() - start)
        kernels.append(GlobalCounters.time_sum_s)
    return statistics.median(walls), statistics.median(kernels)


def workloads(n: int):
    """(name, shrimpgrad builder, numpy function, torch function or None) for each workload."""
    try:
        import torch  # optional: a third column when installed
        torch.set_num_threads(2)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(3))
    m = min(n, 512)
    x, w = rng.standard_normal((m, m)).astype(np.float32), rng.standard_normal((m, m)).astype(np.float32)
    img = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    ker = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    ta, tb, tc, tx, tw = (Tensor(v).realize() for v in (a, b, c, x, w))
    timg, tker = Tensor(img).realize(), Tensor(ker).realize()

    def np_softmax(v):
        e = np.exp(v - v.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def np_conv(i, k):
        win = np.lib.stride_tricks.sliding_window_view(i, (3, 3), axis=(2, 3))  # (8,16,30,30,3,3)
        return np.einsum("bchwij,ocij->bohw", win, k, optimize=True)

    if torch is not None:
        pa, pb, pc, px, pw, pimg, pker = (torch.from_numpy(v) for v in (a, b, c, x, w, img, ker))
    no = torch is None
    yield f"add {n}x{n}", lambda: ta + tb, lambda: a + b, None if no else lambda: pa + pb
    yield (f"relu(a*b+c) {n}x{n}", lambda: (ta * tb + tc).relu(), lambda: np.maximum(a * b + c, 0),
           None if no else lambda: torch.relu(pa * pb + pc))
    yield f"sum {n}x{n}", lambda: ta.sum(), lambda: a.sum(), None if no else lambda: pa.sum()
    yield (f"softmax {n}x{n}", lambda: ta.softmax(-1), lambda: np_softmax(a),
           None if no else lambda: torch.softmax(pa, -1))
    yield f"matmul {m}x{m}", lambda: tx @ tw, lambda: x @ w, None if no else lambda: px @ pw
    yield ("conv2d 8x16x32x32 * 32x16x3x3", lambda: timg.conv2d(tker), lambda: np_conv(img, ker),
           None if no else lambda: torch.nn.functional.conv2d(pimg, pker))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke test)")
    args = parser.parse_args()
    n, repeat = (256, 3) if args.quick else (1024, 10)
    print(f"# ShrimpGrad C vs numpy — {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print("| workload | shrimpgrad realize (ms) | kernels only (ms) | numpy (ms) | realize / numpy | torch (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, shrimp, ref, torch_fn in workloads(n):
        wall, kern = _shrimp_times(shrimp, repeat)
        base = _median_time(ref, repeat)
        torch_ms = "-" if torch_fn is None else f"{_median_time(torch_fn, repeat) * 1e3:.2f}"
        print(f"| {name} | {wall * 1e3:.2f} | {kern * 1e3:.2f} | {base * 1e3:.2f} | {wall / base:.1f}x | {torch_ms} |")


if __name__ == "__main__":
    main()
