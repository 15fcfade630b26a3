"""Devices: how one scheduled `Kernel` becomes something that runs on flat numpy buffers.

    C       stage 03 linearize -> stage 04 render C, compile (cached on disk), call through ctypes
    PYTHON  stage 03 linearize -> stage 03's UOp interpreter (slow, but every step is Python you can read)

Both devices keep host memory as numpy arrays, so a buffer realized on one can be read by the other.
`kernel_runner(kernel, device)` is memoized on the kernel's AST: the AST names buffers by position,
not identity, so the same computation on new tensors (every step of a training loop) reuses the
same compiled program.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from shrimpgrad.c import CProgram, print_source
from shrimpgrad.helpers import dump_console
from shrimpgrad.linearize import Program, default_opts, interpret, linearize
from shrimpgrad.linearize.viz import print_program
from shrimpgrad.schedule import Kernel, kernel_flops


@dataclass
class KernelRunner:
    """A kernel ready to run: `runner(buffers) -> seconds`. `origin` says where the code came from
    ("compiled", "disk cache", "memory" for C; "interpreted" for PYTHON)."""

    program: Program
    origin: str
    run: Callable[[Sequence[np.ndarray]], float]
    source: str | None = None  # the generated source, when there is one
    flops: int = 0  # kernel_flops of the AST: counted once here, not walked again on every run


def _python_runner(program: Program) -> KernelRunner:
    def run(buffers: Sequence[np.ndarray]) -> float:
        start = time.perf_counter()
        interpret(program, buffers)
        return time.perf_counter() - start

    return KernelRunner(program, "interpreted", run)


def _c_runner(program: Program) -> KernelRunner:
    prog = CProgram(program)
    return KernelRunner(program, prog.origin, prog, prog.source)


_BACKENDS: dict[str, Callable[[Program], KernelRunner]] = {"C": _c_runner, "PYTHON": _python_runner}
_MAX_CACHED = 4096
_runners: OrderedDict[tuple, KernelRunner] = OrderedDict()


def kernel_runner(kernel: Kernel, device: str, show_uops: bool = False, show_source: bool = False) -> KernelRunner:
    """Linearize and build `kernel` for `device`, or return the runner built earlier for the same AST."""
    if device not in _BACKENDS:
        raise NotImplementedError(f"device {device!r} can't run kernels yet: use device='C' (default) or 'PYTHON'")
    key = (device, kernel.name, kernel.ast)
    runner = _runners.get(key)
    if runner is None:
        program = linearize(kernel, default_opts(kernel))
        runner = _BACKENDS[device](program)
        runner.flops = kernel_flops(kernel)
        _runners[key] = runner
        if len(_runners) > _MAX_CACHED:
            _runners.popitem(last=False)
    else:
        _runners.move_to_end(key)
        if runner.origin != "interpreted":
            runner.origin = "memory"
    if show_uops:
        print_program(runner.program, console=dump_console())
    if show_source and runner.source is not None:
        print_source(runner.source, console=dump_console())
    return runner
