"""Front-end helpers: environment switches (DEBUG, EMIT, ...), a `Context` to change them in code,
and `GlobalCounters`, which count what realizes ran (tinygrad's names and fields)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Any


def getenv(key: str, default: Any = 0) -> Any:
    """An environment variable converted to the type of `default` (DEBUG=2 -> 2, tinygrad's getenv); the default
    when it isn't set. For a bool default, "", "0", "false" and "False" mean False."""
    raw = os.environ.get(key)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw not in ("", "0", "false", "False")
    try:
        return type(default)(raw)
    except ValueError:  # DEBUG=off: int()'s own error would name neither the variable nor what it takes
        kind = "an integer" if isinstance(default, int) else f"a {type(default).__name__}"
        raise ValueError(f"shrimpgrad: {key}={raw!r} is not {kind}; set it to {kind} (e.g. {key}={default!r}, "
                         "the default) or unset it") from None


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

    def __eq__(self, x) -> bool:  # `if DEBUG == 2:` (tinygrad's ContextVar compares its value too)
        return self.value == (x.value if isinstance(x, ContextVar) else x)

    __hash__ = object.__hash__  # still usable as a dict key / set member (by identity)

    def __repr__(self) -> str:
        return f"{self.key}={self.value!r}"


DEBUG = ContextVar("DEBUG", 0)  # 1 kernels+timing, 2 schedule, 3 UOps, 4 source, 5 graph
EMIT = ContextVar("EMIT", "")  # comma-separated stage names to print: graph,schedule,uops,c
DEVICE = ContextVar("DEVICE", "")  # default device override ("C", "PYTHON", "CUDA")

# ---- tinygrad's switches ---------------------------------------------------------------------------------------
# tinygrad's test files import these and branch on them (`if CI:`, `skipIf(IMAGE > 0)`, `with Context(NOOPT=1):`),
# so they run unchanged after `tinygrad` -> `shrimpgrad`. They are ordinary settings (the environment, then
# Context), with tinygrad's defaults. ShrimpGrad has none of the features behind BEAM and the ones after it, so
# they only answer tinygrad's tests (which skip or adjust cases on them) and change nothing here:
#
#   CI, OSX                 facts: the CI environment variable is set / we run on macOS
#   NOOPT                   1 = "linearize without kernel optimizations": every device runs the plain loop nest
#                           (shrimpgrad/devices.py); values equal the optimized ones within float rounding
#   BEAM, JIT (tinygrad's)  kernel search / tinygrad's JIT switch: ShrimpGrad searches nothing; TinyJit is explicit
#   IMAGE                   tinygrad's image dtypes (Qualcomm GPUs): none here
#   TRANSCENDENTAL          tinygrad's software exp2/log2/sin (1 = where the device lacks them): on C, exp2/log2
#                           are stage 04's vectorizable 1-ulp helpers (SHRIMPGRAD_C_VECTOR_MATH=0: the C library's)
#                           and sin is the C library's; numpy's on PYTHON; CUDA's own
#   DEVECTORIZE, AMD_LLVM   tinygrad renderer switches: ShrimpGrad leaves vectorizing to gcc (and float4 loads to
#                           stage 05's VECTORIZE); no AMD backend
#   DISABLE_COMPILER_CACHE  tinygrad's compile-cache switch (ShrimpGrad's cache: SHRIMPGRAD_CACHE_DIR, stage 04)
CI = os.environ.get("CI", "") != ""
OSX = sys.platform == "darwin"
NOOPT = ContextVar("NOOPT", 0)
BEAM = ContextVar("BEAM", 0)
JIT = ContextVar("JIT", 1)
IMAGE = ContextVar("IMAGE", 0)
TRANSCENDENTAL = ContextVar("TRANSCENDENTAL", 1)
DEVECTORIZE = ContextVar("DEVECTORIZE", 1)
AMD_LLVM = ContextVar("AMD_LLVM", 0)
DISABLE_COMPILER_CACHE = ContextVar("DISABLE_COMPILER_CACHE", 0)


@contextlib.contextmanager
def Context(**settings):  # noqa: N802 - tinygrad's name
    """Temporarily change settings: `with Context(DEBUG=2): t.realize()`, or as a decorator
    (`@Context(NOOPT=1)`), as in tinygrad. An unknown name is a KeyError listing the known ones."""
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
    names = _emit_names(str(EMIT.value))  # first: a wrong EMIT is an error whatever DEBUG says
    return (level is not None and DEBUG.value >= level) or stage in names


@functools.lru_cache(maxsize=16)
def _emit_names(value: str) -> frozenset[str]:
    """The dump names in an EMIT value, checked; parsed once per value (each kernel a realize runs asks)."""
    names = frozenset(s.strip() for s in value.split(",") if s.strip())
    unknown = names - set(EMIT_NAMES)
    if unknown:
        raise ValueError(f"EMIT={value!r}: unknown dump name(s) {sorted(unknown)}; valid names: "
                         f"{', '.join(EMIT_NAMES)}")
    return names


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
    # Each kernel a realize looks up (not one served by the schedule cache) is one of these (docs/caches.md):
    compile_count: int = 0  # kernels compiled (a miss in all three caches); 0 on a warm cache
    cache_hits: int = 0  # kernels found in a cache: the disk cache, a library already loaded, or the runner cache
    copy_count: int = 0  # buffer copies (between devices, and snapshots kept for lazy readers of an assign)
    schedule_hits: int = 0  # realizes whose graph structure was scheduled before (no scheduling, no linearizing)
    schedule_misses: int = 0  # realizes scheduled and lowered anew

    @staticmethod
    def reset() -> None:
        GlobalCounters.kernel_count = GlobalCounters.global_ops = GlobalCounters.global_mem = 0
        GlobalCounters.compile_count = GlobalCounters.cache_hits = GlobalCounters.copy_count = 0
        GlobalCounters.schedule_hits = GlobalCounters.schedule_misses = 0
        GlobalCounters.time_sum_s = 0.0
