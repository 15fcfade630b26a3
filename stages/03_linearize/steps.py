"""Watching the lowering: the step-through and a one-page explanation of one kernel's lowering.

* `steps(kernel, opts, gpu)` -> `[(pass: step, uops so far), ...]`, one entry after every step of every
  pass of lower.py: watch the AST turn into UOps node by node. The UOps of each step are a valid,
  properly nested program (what `place_uops` would make of the UOps made so far), printable with
  `format_uops`.
* `explain(kernel, opts, gpu)` -> str: the loop plan, how often each simplification rule fired, and the
  program.

They drive `lower` (its `trace` argument) and print with viz.py; neither of those imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from .lower import Lowering, lower, placed
from .symbolic import rules_fired
from .uops import UOp
from .viz import format_program


def steps(kernel, opts: Sequence = (), gpu: bool = False) -> list[tuple[str, tuple[UOp, ...]]]:
    """`(pass: step, uops so far)` for every step of every pass while one kernel is lowered."""
    out: list[tuple[str, tuple[UOp, ...]]] = []

    def watch(line: str, record: Lowering) -> None:
        out.append((line, tuple(placed(record)) if record.make is not None else ()))

    lower(kernel, opts, gpu, trace=watch)
    return out


def explain(kernel, opts: Sequence = (), gpu: bool = False) -> str:
    """Everything about one lowering as text: the loop plan, how often each simplification rule fired,
    and the program."""
    record = lower(kernel, opts, gpu)
    fired = ", ".join(f"{name} x{n}" for name, n in rules_fired(record.log).items()) or "none"
    return "\n".join([f"loops: {record.plan.describe()}", f"rules fired: {fired}", format_program(record.program)])
