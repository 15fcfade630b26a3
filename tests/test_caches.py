"""The three caches of docs/caches.md, and DEBUG=1, GlobalCounters and stage 04's compile_stats agreeing on
what a hit is: one kernel, walked through every way it can be found (or not)."""

import re

import numpy as np

import shrimpgrad.devices as devices
from shrimpgrad import Context, GlobalCounters, Tensor
from shrimpgrad.c import compile_stats
from shrimpgrad.c.runtime import clear_loaded


def realize_once(capsys, value: float, shape=(5, 7)) -> tuple[str, tuple, tuple]:
    """Realize `(x * value).exp()` with DEBUG=1; return (the kernel's DEBUG origin, counters, compile_stats deltas)."""
    x = Tensor(np.ones(shape, dtype=np.float32))
    y = (x * value).exp()
    GlobalCounters.reset()
    before = (compile_stats.compiled, compile_stats.cache_hits, compile_stats.memory_hits)
    capsys.readouterr()
    with Context(DEBUG=1):
        y.realize()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("***")]
    assert len(lines) == 1, lines
    origin = re.match(r"\*\*\*\s+\d+\s+\S+\s+\S+\s+(.+?)\s{2,}", lines[0]).group(1)
    after = (compile_stats.compiled, compile_stats.cache_hits, compile_stats.memory_hits)
    counters = (GlobalCounters.compile_count, GlobalCounters.cache_hits, GlobalCounters.schedule_hits)
    return origin, counters, tuple(a - b for a, b in zip(after, before))


def test_every_way_a_kernel_is_found(capsys):
    value = float(np.random.default_rng().integers(1, 10**9))  # a kernel no cache has seen: compiled
    assert realize_once(capsys, value) == ("compiled", (1, 0, 0), (1, 0, 0))
    # the same graph structure again: the schedule cache has the plan, nothing is looked up
    assert realize_once(capsys, value) == ("schedule cache", (0, 0, 1), (0, 0, 0))
    # the same kernel in a new graph structure (a new plan): its runner is found by AST
    import shrimpgrad.realize as realize

    realize.clear_schedule_cache()
    assert realize_once(capsys, value) == ("runner cache", (0, 1, 0), (0, 0, 0))
    # no runner: the CProgram is built again, its library is loaded already
    realize.clear_schedule_cache()
    devices._runners.clear()
    assert realize_once(capsys, value) == ("memory", (0, 1, 0), (0, 0, 1))
    # nothing in this process: the compiled file comes from the disk cache
    realize.clear_schedule_cache()
    devices._runners.clear()
    clear_loaded()
    assert realize_once(capsys, value) == ("disk cache", (0, 1, 0), (0, 1, 0))


def test_counters_count_lookups_not_runs():
    """A cached plan run 5 times counts one compile and no hits: hits are lookups, not kernel launches."""
    value = float(np.random.default_rng().integers(1, 10**9))
    x = Tensor(np.ones((3, 3), dtype=np.float32))
    GlobalCounters.reset()
    for _ in range(5):
        (x * value).exp().realize()
    assert (GlobalCounters.kernel_count, GlobalCounters.compile_count, GlobalCounters.cache_hits,
            GlobalCounters.schedule_misses, GlobalCounters.schedule_hits) == (5, 1, 0, 1, 4)
