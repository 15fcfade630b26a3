"""Run a Program's C in a chosen dialect (CProgram always renders C_DIALECT): the FMA tests compare C with and
without the FMA rule (dialect.py's C_NO_FMA_DIALECT, C_FMA_DIALECT) against each other and the interpreter."""

import ctypes
import os
import subprocess
import sys

import numpy as np

from shrimpgrad.c import compile_c, render


def run_c(program, buffers: list[np.ndarray], dialect, openmp: bool = True) -> list[np.ndarray]:
    """Compile `program` rendered in `dialect` (cached like any kernel) and run it on copies of `buffers`."""
    compiled = compile_c(render(program, comments=False, openmp=openmp, dialect=dialect), program.name)
    fn = ctypes.CDLL(str(compiled.path))[program.name]
    fn.argtypes = [ctypes.c_void_p] * len(buffers)
    out = [np.ascontiguousarray(b).copy() for b in buffers]
    fn(*[b.ctypes.data for b in out])
    return out


def dialect_field_in_new_processes(field: str, env: str) -> list[str]:
    """C_DIALECT.<field> as printed by a new Python process with $env unset, then with env=0: the C dialect's switches
    are read when shrimpgrad.c.dialect is imported, so each setting needs its own process."""
    base = {k: v for k, v in os.environ.items() if k != env}
    code = f"from shrimpgrad.c.dialect import C_DIALECT; print(C_DIALECT.{field})"
    return [subprocess.run([sys.executable, "-c", code], env={**base, **extra}, capture_output=True, text=True,
                           check=True).stdout.strip() for extra in ({}, {env: "0"})]
