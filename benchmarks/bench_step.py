"""The lazy MLP training step (the suite's W6): where its time goes, what the schedule cache saves, what provenance
costs.

    .venv/bin/python benchmarks/bench_step.py [--steps 60] [--rounds 6]

One process; the W6 step (bench_ops.py: 64 -> 128 -> 10 MLP, batch 128, SGD, `opt.step()` realizes the update and
the loss together) is run in rounds of `--steps` steps after a warm-up, and three tables are printed:

1. phases: the CPU time of this thread in each part of a step (mean per step in the fastest round): building the
   graph (forward, loss, backward), the autograd pass inside backward, the in-place bookkeeping of a realize
   (shrimpgrad/inplace.py), the schedule cache's walk and lookup, and running the plan's kernels by slot (binding
   its fresh buffers and launching included);
2. the schedule cache off vs on (off: every step scheduled and lowered again);
3. provenance on vs off (off: no Tensor method records its caller's line, autograd's rules make nodes without one);
4. the per-call overhead (issue 16's G6, on device C): `(x * 2).realize()` of 1024 floats, the TinyJit replay of
   the same, and the W6 step under TinyJit, beside the time inside its kernels (GlobalCounters) and the time the
   same kernels take called straight through ctypes (what is left when every line of Python is gone).

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
    x, y, step_on = w6_parts(batch)
    return lambda: step_on(Tensor(x), Tensor(y))


def w6_parts(batch: int = 128):
    """(x, y, step_on): a batch as numpy arrays and `step_on(x, y)`, one SGD step of the W6 MLP (fresh weights) on
    Tensors x and y: the function a TinyJit captures."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, 64)).astype(np.float32), rng.integers(0, 10, batch).astype(np.int32)
    w1 = Tensor(rng.standard_normal((64, 128)).astype(np.float32), requires_grad=True)
    w2 = Tensor(rng.standard_normal((128, 10)).astype(np.float32) * 0.1, requires_grad=True)
    opt = SGD([w1, w2], lr=0.01)

    def step_on(xs: Tensor, ys: Tensor) -> Tensor:
        opt.zero_grad()
        loss = (xs @ w1).relu().matmul(w2).sparse_categorical_crossentropy(ys)
        loss.backward()
        opt.step()
        return loss

    return x, y, step_on


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
    ("  bind the plan's slots and run its kernels (_run_plan)", realize, "_run_plan"),
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


# ---- 4. per-call overhead ----------------------------------------------------------------------------------------

def _mean_us(fn, calls: int, rounds: int) -> float:
    """The fastest round's mean time per call of `fn`, in microseconds (after calls // 10 warm-up calls)."""
    for _ in range(max(calls // 10, 1)):
        fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def overhead(calls: int, rounds: int) -> list[tuple[str, float]]:
    """(label, us) for a 1-kernel realize and replay on device C, and the W6 TinyJit step: its wall time, the time in
    its kernels (each timed by its runner) and the same kernels called straight through ctypes."""
    from shrimpgrad import TinyJit

    x = Tensor(np.arange(1024, dtype=np.float32), device="C").realize()
    double = TinyJit(lambda a: a * 2)
    rows = [("(x * 2).realize(), 1024 floats", _mean_us(lambda: (x * 2).realize(), calls, rounds)),
            ("its TinyJit replay", _mean_us(lambda: double(x), calls * 4, rounds))]
    xs, ys, step_on = w6_parts()
    step = TinyJit(step_on)
    with Tensor.train():
        rows.append(("W6 step, TinyJit", _mean_us(lambda: step(Tensor(xs), Tensor(ys)), calls // 10, rounds)))
        GlobalCounters.reset()
        step(Tensor(xs), Tensor(ys))
    rows.append((f"  in its {GlobalCounters.kernel_count} kernels (GlobalCounters)", GlobalCounters.time_sum_s * 1e6))
    rows.append(("  the same kernels through ctypes alone", _raw_kernels_us(step, calls // 10, rounds)))
    return rows


def _raw_kernels_us(step, calls: int, rounds: int) -> float:
    """The captured kernels called through their C functions on buffers of their own (no checks, no Python per
    kernel but the call): a floor for the step on this device. Reads stage 04's CProgram._fn (a benchmark may)."""
    handles: dict = {}
    calls_of = []
    for item in step.kernels:
        arrays = [handles.setdefault(b, np.zeros(b.size, b.dtype.np)) for b in item.bufs]
        program = item.runner.run
        calls_of.append((program._fn, program.check(arrays)))

    def run_all():
        for fn, pointers in calls_of:
            fn(*pointers)

    return _mean_us(run_all, calls, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    print("| part of the W6 step (thread CPU, mean per step) | ms |\n|---|---:|")
    for label, ms in phases(args.steps, args.rounds):
        print(f"| {label} | {ms:.2f} |")
    print("\n| per-call overhead, device C (fastest round's mean) | us |\n|---|---:|")
    for label, us in overhead(calls=2000, rounds=args.rounds):
        print(f"| {label} | {us:.1f} |")
    for title, switch in (("schedule cache", schedule_cache), ("provenance", provenance)):
        result = ab(args.steps, args.rounds, switch)
        print(f"\n| {title} | step wall (ms) | step CPU (ms) | in kernels (ms) |\n|---|---:|---:|---:|")
        for on in (True, False):
            wall, cpu, kern = result[on]
            print(f"| {'on' if on else 'off'} | {wall * 1e3:.2f} | {cpu * 1e3:.2f} | {kern * 1e3:.2f} |")


if __name__ == "__main__":
    main()
