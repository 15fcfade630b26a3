"""Random kernels -> linearize (with random optimizations) -> C must equal the PYTHON interpreter, bit for bit.

Kernels come from stage 03's shared strategies (tests/03_linearize/kernel_strategies.py): 1-3 loops,
views with pads/shrinks/flips/expands/reshapes (so gated loads and stores), reductions (ADD, MAX),
UPCAST/LOCAL/GROUP optimizations. The interpreter runs reduce loops in the same order as the C loops
and rounds every op the same way (and -ffp-contract=off keeps C from fusing multiply-adds), so the
results must be identical, not just close."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_strategies import kernels, opts_for

from shrimpgrad.c import CProgram
from shrimpgrad.graph import dtypes
from shrimpgrad.linearize import interpret, linearize


def run_both(program, arrays, n_outputs):
    want = [a.copy() for a in arrays]
    interpret(program, want)
    got = [a.copy() for a in arrays]
    CProgram(program)(got)
    return want[:n_outputs], got[:n_outputs]


@settings(max_examples=30)
@given(st.data())
def test_linearized_kernels_run_the_same_in_c_and_the_interpreter(data):
    dtype = data.draw(st.sampled_from([dtypes.float32, dtypes.int32]), label="dtype")
    kernel, arrays = data.draw(kernels(dtype), label="kernel")
    opts = data.draw(opts_for(kernel), label="opts")
    program = linearize(kernel, opts)
    want, got = run_both(program, arrays, kernel.n_outputs)
    for k, (w, g) in enumerate(zip(want, got)):
        assert w.dtype == g.dtype
        assert np.array_equal(w.view(f"u{w.itemsize}"), g.view(f"u{g.itemsize}")), (
            f"output {k} of {program.name} with {opts}:\ninterpreter {w}\nC           {g}")
