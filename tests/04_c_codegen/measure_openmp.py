"""Measure where OpenMP starts to pay off, for a memory-bound kernel (data0[i] = data1[i] + data2[i])
and a compute-bound one (data0[i] = sin(data1[i])).

    .venv/bin/python tests/04_c_codegen/measure_openmp.py

Prints, per size, the best time of a serial and a parallel build of the same kernel. The README's
numbers for OPENMP_MIN_ITERATIONS come from this script."""

import os
import tempfile

import numpy as np
from program_builders import elementwise_add, unary

from shrimpgrad.c import CProgram
from shrimpgrad.c import renderer as render_module
from shrimpgrad.graph import Ops, dtypes

KERNELS = {"add": lambda n, name: elementwise_add(n, name=name),
           "sin": lambda n, name: unary(Ops.SIN, dtypes.float32, n, name=name)}


def best_time(prog: CProgram, n: int, repeats: int = 200) -> float:
    bufs = [np.ones(n, np.float32) for _ in prog.program.globals]
    return min(prog(bufs) for _ in range(repeats))


def main() -> None:
    os.environ.setdefault("SHRIMPGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="shrimpgrad-measure-"))
    print(f"threads: {os.environ.get('OMP_NUM_THREADS', os.cpu_count())}")
    print(f"{'kernel':>6} {'iterations':>10} {'serial us':>10} {'openmp us':>10} {'speedup':>8}")
    for kernel, make in KERNELS.items():
        for n in [1 << k for k in range(10, 21)]:
            serial = CProgram(make(n, f"E_{kernel}_serial_{n}"), openmp=False)
            saved = render_module.OPENMP_MIN_ITERATIONS
            render_module.OPENMP_MIN_ITERATIONS = 1  # force the pragma on every size
            try:
                parallel = CProgram(make(n, f"E_{kernel}_omp_{n}"))
            finally:
                render_module.OPENMP_MIN_ITERATIONS = saved
            assert "#pragma omp" in parallel.source
            best_time(parallel, n, 5)  # the first parallel region creates the threads
            s, p = best_time(serial, n), best_time(parallel, n)
            print(f"{kernel:>6} {n:>10} {s * 1e6:>10.1f} {p * 1e6:>10.1f} {s / p:>8.2f}")


if __name__ == "__main__":
    main()
