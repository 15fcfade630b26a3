"""The fuzzing loop: hypothesis draws programs, a worker checks them, new failures are shrunk and written out.

Hypothesis runs the loop in rounds. In a round every program is checked and counted; the first program
whose failure is of a kind not seen before (`Outcome.signature`) is raised as a failure, so hypothesis
shrinks it (fewer steps, smaller shapes, simpler values: whatever still fails *the same way*), and the
smallest one is written as a reproducer. The next round starts from the next seed with that kind known,
so one bug gives one reproducer while the count goes on. Shrinking has a time budget: a hang costs the
whole time limit per attempt.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky

from shrimpgrad.fuzz.check import CATEGORIES
from shrimpgrad.fuzz.programs import FAMILIES, Program, tensor_programs
from shrimpgrad.fuzz.reproducer import write_reproducer
from shrimpgrad.fuzz.worker import Worker


@dataclass
class Report:
    checked: int = 0  # programs drawn and checked (not counting shrinking)
    counts: Counter = field(default_factory=Counter)  # category -> programs
    found: dict = field(default_factory=dict)  # signature -> (smallest program, its outcome, reproducer path)
    shrink_checks: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    seen: set = field(default_factory=set)  # fingerprints of the programs checked

    def summary(self) -> str:
        lines = [f"{self.checked} programs checked in {self.seconds:.0f} s ({self.shrink_checks} more while shrinking; "
                 f"slowest {self.slowest:.1f} s)"]
        lines += [f"  {c:15} {self.counts[c]}" for c in CATEGORIES if self.counts[c]]
        for (category, kind), (_, outcome, path) in self.found.items():
            first = outcome.detail.splitlines()[0][:300] if outcome.detail else ""
            lines.append(f"  {category}: {kind}\n      {first}\n      reproducer: {path}")
        return "\n".join(lines)


class _NewFailure(Exception):
    pass


class _TimeUp(BaseException):
    pass


def _raise_new_failure() -> None:
    # One raise site: hypothesis tells failures apart by where they are raised, and the first failure
    # (while generating) and its shrunk versions must count as the same one.
    raise _NewFailure


def fuzz(n: int, seed: int, devices: tuple[str, ...], time_limit: float = 20.0, out: Path | None = None,
         families: tuple[str, ...] = FAMILIES, shrink_seconds: float = 120.0, total_seconds: float | None = None,
         progress=None, until: frozenset[str] = frozenset()) -> Report:
    """Check `n` random programs (or as many as fit in `total_seconds`, or until a failure of each category in
    `until` was found and shrunk); see the module docstring."""
    report, worker = Report(), Worker(devices, time_limit)
    start = time.perf_counter()
    try:
        round_seed = seed
        while report.checked < n and (total_seconds is None or time.perf_counter() - start < total_seconds):
            if until and until <= {category for category, _ in report.found}:
                break
            if not _round(report, worker, n - report.checked, round_seed, families, shrink_seconds, out, seed,
                          start, total_seconds, progress):
                break
            round_seed += 1
    finally:
        worker.close()
        report.seconds = time.perf_counter() - start
    return report


def _round(report, worker, budget, round_seed, families, shrink_seconds, out, seed, start, total_seconds,
           progress) -> bool:
    """One hypothesis run; True if it stopped at a new kind of failure (then another round follows)."""
    state: dict = {"target": None, "best": None, "shrink_until": None}

    @settings(max_examples=budget, database=None, deadline=None, derandomize=False, verbosity=Verbosity.quiet,
              phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False)
    @hypothesis_seed(round_seed)
    @given(tensor_programs(families))
    def body(program: Program) -> None:
        if state["target"] is None:  # generating: count everything, once
            if total_seconds is not None and time.perf_counter() - start > total_seconds:
                raise _TimeUp  # a BaseException: hypothesis stops at once instead of shrinking it
            if program.fingerprint() in report.seen:  # hypothesis mutates examples: some come back
                return
            report.seen.add(program.fingerprint())
            outcome = worker.check(program)
            report.checked += 1
            report.counts[outcome.category] += 1
            report.slowest = max(report.slowest, outcome.seconds)
            if progress is not None:
                progress(report, program, outcome)
            if outcome.failed and outcome.signature not in report.found:
                state.update(target=outcome.signature, best=(program, outcome),
                             shrink_until=time.perf_counter() + shrink_seconds)
                _raise_new_failure()
            return
        if time.perf_counter() > state["shrink_until"]:
            return  # out of shrinking time: hypothesis keeps the smallest failure it has
        outcome = worker.check(program)
        report.shrink_checks += 1
        if outcome.signature == state["target"]:
            if program.size() <= state["best"][0].size():
                state["best"] = (program, outcome)
            _raise_new_failure()

    try:
        body()
    except (_NewFailure, Flaky):
        pass
    except _TimeUp:
        return False
    if state["target"] is None:
        return False
    program, outcome = state["best"]
    path = write_reproducer(program, outcome, worker.devices, out, seed) if out is not None else None
    report.found[state["target"]] = (program, outcome, path)
    return True
