"""A child process that runs checks, so a hang or a crash is an outcome instead of the end of the run.

The parent only draws programs (lazy Tensors, nothing computed); the child compiles and runs them. It is
forked, so it starts in milliseconds with everything already imported, and the parent never touches a
device (a CUDA context doesn't survive a fork, so the child is the first to create one). A check that
runs past the time limit gets the child killed and a fresh one forked: "hang". A child that dies (a
segfault in a kernel, say) is "crash".
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import signal
import time

from shrimpgrad.fuzz.check import Outcome, check_program
from shrimpgrad.fuzz.programs import Program


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies, so a worker stuck in a hanging kernel doesn't outlive a
    fuzzer that was killed (a timeout, ^C twice) and burn a core forever."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _serve(conn, devices: tuple[str, ...]) -> None:
    _die_with_parent()
    while True:
        try:
            program = conn.recv()
        except EOFError:
            return
        start = time.perf_counter()
        outcome = check_program(program, devices)
        outcome.seconds = time.perf_counter() - start
        conn.send(outcome)


class Worker:
    """`check(program)` in a child process, at most `time_limit` seconds each."""

    def __init__(self, devices: tuple[str, ...], time_limit: float):
        self.devices, self.time_limit = devices, time_limit
        self._ctx = mp.get_context("fork")
        self._proc = None
        self._start()

    def _start(self) -> None:
        self._conn, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, self.devices), daemon=True)
        self._proc.start()
        child.close()

    def _restart(self) -> None:
        self.close()
        self._start()

    def check(self, program: Program) -> Outcome:
        start = time.perf_counter()
        self._conn.send(program)
        if not self._conn.poll(self.time_limit):
            self._restart()
            return Outcome("hang", f"no result within the {self.time_limit:g} s limit", "time limit",
                           time.perf_counter() - start)
        try:
            return self._conn.recv()
        except (EOFError, ConnectionError):
            self._proc.join(1)
            code = self._proc.exitcode
            why = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
            self._restart()
            return Outcome("crash", f"the worker process died ({why})", why, time.perf_counter() - start)

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
        if self._proc is not None:
            self._proc.join(5)
        self._conn.close()
