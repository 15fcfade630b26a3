"""Front-end helpers: environment switches (DEBUG, EMIT, ...), a `Context` to change them in code,
and `GlobalCounters`, which count what realizes ran (tinygrad's names and fields)."""

from __future__ import annotations

import contextlib
import os
from typing import Any


def getenv(key: str, default: Any = 0) -> Any:
    """An environment variable converted to the type of `default` (DEBUG=2 -> 2)."""
    raw = os.environ.get(key)
    if raw is None:
        return default
    return type(default)(raw) if not isinstance(default, bool) else raw not in ("", "0", "false", "False")


class ContextVar:
    """A named setting read from the environment once, changeable with `Context(NAME=value)`.

    Compare it like a number (`if DEBUG >= 2:`) or read `.value`."""

    _registry: dict[str, ContextVar] = {}

    def __init__(self, key: str, default: Any):
        self.key, self.value = key, getenv(key, default)
        ContextVar._registry[key] = self

    def __bool__(self) -> bool:
        return bool(self.value)

    def __ge__(self, x) -> bool:
        return self.value >= x

    def __gt__(self, x) -> bool:
        return self.value > x

    def __lt__(self, x) -> bool:
        return self.value < x

    def __le__(self, x) -> bool:
        return self.value <= x

    def __repr__(self) -> str:
        return f"{self.key}={self.value!r}"


DEBUG = ContextVar("DEBUG", 0)  # 1 kernels+timing, 2 schedule, 3 UOps, 4 source, 5 graph
EMIT = ContextVar("EMIT", "")  # comma-separated stage names to print: graph,schedule,uops,c
DEVICE = ContextVar("DEVICE", "")  # default device override ("C", "PYTHON", "CUDA")


@contextlib.contextmanager
def Context(**settings):  # noqa: N802 - tinygrad's name
    """Temporarily change settings: `with Context(DEBUG=2): t.realize()`."""
    old = {}
    for key, value in settings.items():
        if key not in ContextVar._registry:
            raise KeyError(f"unknown setting {key!r}; known: {sorted(ContextVar._registry)}")
        old[key] = ContextVar._registry[key].value
        ContextVar._registry[key].value = value
    try:
        yield
    finally:
        for key, value in old.items():
            ContextVar._registry[key].value = value


# the dumps, in DEBUG level order 1..5; then "cuda" (no DEBUG level: each kernel's CUDA, on any device)
EMIT_NAMES = ("kernels", "schedule", "uops", "c", "graph", "cuda")


def emit_enabled(stage: str, level: int | None) -> bool:
    """Whether to print `stage`'s dump: DEBUG >= level (level None: only by name), or the stage is named in EMIT."""
    names = {s.strip() for s in str(EMIT.value).split(",") if s.strip()}
    unknown = names - set(EMIT_NAMES)
    if unknown:
        raise ValueError(f"EMIT={EMIT.value!r}: unknown dump name(s) {sorted(unknown)}; valid names: "
                         f"{', '.join(EMIT_NAMES)}")
    return (level is not None and DEBUG.value >= level) or stage in names


def dump_console():
    """The rich Console the DEBUG/EMIT dumps print to: the terminal's width, but 160 columns when stdout is a file
    or a pipe (a CI log, `> out.txt`) and COLUMNS isn't set, where rich's default of 80 squeezes the schedule
    table's FLOPs, bytes and "why a kernel" columns down to "…"."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal or console.is_jupyter or "COLUMNS" in os.environ else Console(width=160)


class GlobalCounters:
    """What realizes ran since the last `reset()`: kernels launched, FLOPs, bytes moved, seconds."""

    kernel_count: int = 0  # kernels executed
    global_ops: int = 0  # estimated arithmetic operations
    global_mem: int = 0  # bytes read + written by kernels
    time_sum_s: float = 0.0  # seconds spent running kernels
    compile_count: int = 0  # kernels compiled (cache misses); 0 on a warm cache
    cache_hits: int = 0  # kernels loaded from the compile cache
    copy_count: int = 0  # buffer copies (between devices, and snapshots kept for lazy readers of an assign)
    schedule_hits: int = 0  # realizes whose graph structure was scheduled before (no scheduling, no linearizing)
    schedule_misses: int = 0  # realizes scheduled and lowered anew

    @staticmethod
    def reset() -> None:
        GlobalCounters.kernel_count = GlobalCounters.global_ops = GlobalCounters.global_mem = 0
        GlobalCounters.compile_count = GlobalCounters.cache_hits = GlobalCounters.copy_count = 0
        GlobalCounters.schedule_hits = GlobalCounters.schedule_misses = 0
        GlobalCounters.time_sum_s = 0.0
