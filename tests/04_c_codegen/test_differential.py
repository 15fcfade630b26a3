"""Random kernels -> linearize (with random optimizations) -> C must equal the PYTHON interpreter, bit for bit.

Kernels come from stage 03's shared strategies (tests/03_linearize/kernel_strategies.py): 1-3 loops,
views with pads/shrinks/flips/expands/reshapes (so gated loads and stores), reductions (ADD, MAX),
UPCAST/LOCAL/GROUP optimizations. The interpreter runs reduce loops in the same order as the C loops
and rounds every op the same way (and -ffp-contract=off keeps C from fusing multiply-adds), so the
results must be identical, not just close: rendered without the FMA rule (C_NO_FMA_DIALECT). With it (C_DIALECT's
default), an accumulation acc + a*b rounds once where the interpreter rounds twice: equal within rounding."""

import numpy as np
from dialect_runner import run_c
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_strategies import kernels, opts_for

from shrimpgrad.c.dialect import C_DIALECT, C_NO_FMA_DIALECT
from shrimpgrad.graph import dtypes
from shrimpgrad.linearize import interpret, linearize


def run_both(program, arrays, n_outputs, dialect=C_NO_FMA_DIALECT):
    want = [a.copy() for a in arrays]
    interpret(program, want)
    got = run_c(program, arrays, dialect)
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


@settings(max_examples=20)
@given(st.data())
def test_with_fma_linearized_kernels_equal_the_interpreter_within_rounding(data):
    dtype = data.draw(st.sampled_from([dtypes.float32, dtypes.int32]), label="dtype")
    kernel, arrays = data.draw(kernels(dtype), label="kernel")
    program = linearize(kernel, data.draw(opts_for(kernel), label="opts"))
    want, got = run_both(program, arrays, kernel.n_outputs, C_DIALECT)
    for w, g in zip(want, got):
        if w.dtype.kind == "f":  # one rounding per product less: off by a few ulps of the largest values
            scale = max(1.0, float(np.nanmax(np.abs(w), initial=0.0)))
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * scale, err_msg=program.name)
        else:
            np.testing.assert_array_equal(g, w)
