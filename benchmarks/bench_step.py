"""The lazy MLP training step (the suite's W6): where its time goes, what the schedule cache saves, what provenance
costs.

    .venv/bin/python benchmarks/bench_step.py [--steps 60] [--rounds 6]

One process; the W6 step (bench_ops.py: 64 -> 128 -> 10 MLP, batch 128, SGD, `opt.step()` realizes the update and
the loss together) is run in rounds of `--steps` steps after a warm-up, and three tables are printed:

1. phases: the CPU time of this thread in each part of a step (mean per step in the fastest round): building the
   graph (forward, loss, backward), the autograd pass inside backward, the in-place bookkeeping of a realize
   (shrimpgrad/inplace.py), the schedule cache's walk, lookup and bind, and running the kernels (launch included);
2. the schedule cache off vs on (off: every step scheduled and lowered again);
3. provenance on vs off (off: no Tensor method records its caller's line, autograd's rules make nodes without one).

Medians of a round's steps, then the fastest round (the machine is shared: a busy neighbour only adds time).
Thread CPU time (`time.thread_time`) is reported beside wall time: it leaves out time spent waiting for a core.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time

import numpy as np

import shrimpgrad.graph.autograd as autograd
import shrimpgrad.inplace as inplace
import shrimpgrad.lifecycle as lifecycle
import shrimpgrad.realize as realize
from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.nn.optim import SGD


def w6_step(batch: int = 128):
    """bench_ops.py's W6 step on fresh weights: returns `step()` (one SGD step on the same batch)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, 64)).astype(np.float32), rng.integers(0, 10, batch).astype(np.int32)
    w1 = Tensor(rng.standard_normal((64, 128)).astype(np.float32), requires_grad=True)
    w2 = Tensor(rng.standard_normal((128, 10)).astype(np.float32) * 0.1, requires_grad=True)
    opt = SGD([w1, w2], lr=0.01)

    def step() -> Tensor:
        opt.zero_grad()
        loss = (Tensor(x) @ w1).relu().matmul(w2).sparse_categorical_crossentropy(Tensor(y))
        loss.backward()
        opt.step()
        return loss

    return step


def timed_round(steps: int, on_warm=None) -> tuple[float, float, float]:
    """(wall, thread CPU, kernels) medians of `steps` steps, in seconds, after 5 warm-up steps."""
    step = w6_step()
    with Tensor.train():
        for _ in range(5):
            step()
        if on_warm is not None:
            on_warm()
        walls, cpus, kernels = [], [], []
        for _ in range(steps):
            GlobalCounters.reset()
            wall, cpu = time.perf_counter(), time.thread_time()
            step()
            cpus.append(time.thread_time() - cpu)
            walls.append(time.perf_counter() - wall)
            kernels.append(GlobalCounters.time_sum_s)
    return statistics.median(walls), statistics.median(cpus), statistics.median(kernels)


# ---- 1. phases ------------------------------------------------------------------------------------------------

PHASES = [  # (label, module or class, function): each is timed where it is called, nested ones inside their parent
    ("forward: x @ w1, relu, matmul", Tensor, "matmul"),
    ("forward: the loss", Tensor, "sparse_categorical_crossentropy"),
    ("backward (graph building)", Tensor, "backward"),
    ("  the autograd pass (graph.gradient)", lifecycle, "graph_gradient"),
    ("realize (opt.step's Tensor.realize)", lifecycle, "_realize_locked"),
    ("  in-place bookkeeping (plan_realize)", inplace, "plan_realize"),
    ("  schedule cache: walk + key (_structure)", realize, "_structure"),
    ("  schedule cache: lookup (_plan)", realize, "_plan"),
    ("  schedule cache: bind (_bind)", realize, "_bind"),
    ("  run the kernels (run_items)", realize, "run_items"),
]


def phases(steps: int, rounds: int) -> list[tuple[str, float]]:
    """(label, ms per step) for each PHASES entry (thread CPU, mean per step of the fastest round) and the step."""
    spent: collections.Counter = collections.Counter()
    originals = [(owner, name, getattr(owner, name)) for _, owner, name in PHASES]

    def timed(label, fn):
        def wrapper(*args, **kwargs):
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - start
        return wrapper

    best = None
    try:
        for (label, owner, name), (_, _, fn) in zip(PHASES, originals):
            setattr(owner, name, timed(label, fn))
        for _ in range(rounds):
            spent.clear()
            _, cpu, _ = timed_round(steps, on_warm=spent.clear)
            if best is None or cpu < best[0]:
                best = (cpu, dict(spent))
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
    per_step = [(label, best[1].get(label, 0.0) / steps * 1e3) for label, _, _ in PHASES]
    return [("step (median)", best[0] * 1e3), *per_step]


# ---- 2. and 3.: A/B in one process ------------------------------------------------------------------------------

def ab(steps: int, rounds: int, switch) -> dict[bool, tuple[float, float, float]]:
    """The fastest round's (wall, CPU, kernels) with `switch(True)` and `switch(False)`, rounds alternating."""
    out: dict[bool, list] = {True: [], False: []}
    try:
        for _ in range(rounds):
            for on in (True, False):
                switch(on)
                out[on].append(timed_round(steps))
    finally:
        switch(True)
    return {on: min(results, key=lambda r: r[1]) for on, results in out.items()}


def schedule_cache(on: bool) -> None:
    realize.SCHEDULE_CACHE = int(on)


_with_provenance = [m for name, m in sys.modules.items()
                    if name.startswith("shrimpgrad") and hasattr(m, "_provenance")]
_provenance = {m: m._provenance for m in _with_provenance}
_autograd_provenance = {name: getattr(autograd, name) for name in ("_backward_provenance", "_accumulate_provenance")}


def provenance(on: bool) -> None:
    """On: as shipped. Off: every module's _provenance returns None, and so does autograd's provenance of a rule
    (its builders then make nodes without meta)."""
    for m in _with_provenance:
        m._provenance = _provenance[m] if on else (lambda: None)
    for name, fn in _autograd_provenance.items():
        setattr(autograd, name, fn if on else (lambda node: None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    print("| part of the W6 step (thread CPU, mean per step) | ms |\n|---|---:|")
    for label, ms in phases(args.steps, args.rounds):
        print(f"| {label} | {ms:.2f} |")
    for title, switch in (("schedule cache", schedule_cache), ("provenance", provenance)):
        result = ab(args.steps, args.rounds, switch)
        print(f"\n| {title} | step wall (ms) | step CPU (ms) | in kernels (ms) |\n|---|---:|---:|---:|")
        for on in (True, False):
            wall, cpu, kern = result[on]
            print(f"| {'on' if on else 'off'} | {wall * 1e3:.2f} | {cpu * 1e3:.2f} | {kern * 1e3:.2f} |")


if __name__ == "__main__":
    main()
