"""The renderer: golden C for reference kernels, and the checks C needs that stage 03's verify doesn't make.

Golden files live in tests/04_c_codegen/golden/. After an intended change to the output, regenerate
them with `SHRIMPGRAD_REGEN_GOLDEN=1 .venv/bin/pytest tests/04_c_codegen/test_render.py` and review
the diff in git."""

import difflib
import os
from pathlib import Path

import pytest
from program_builders import (
    ProgramBuilder,
    elementwise_add,
    many_casts,
    many_ops,
    max_rows,
    pad_1d,
    store_if,
    sum_rows,
)

from shrimpgrad.c import OPENMP_MIN_ITERATIONS, RenderError, compiler_command, render
from shrimpgrad.graph import ALL_DTYPES, Ops, dtypes
from shrimpgrad.linearize import LoopKind, Program, UOp, UOps

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SHRIMPGRAD_REGEN_GOLDEN") == "1"

_GOLDEN_CASTS = ("bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64")

REFERENCE_KERNELS = {
    "elementwise_add": lambda: elementwise_add(),
    "sum_rows": lambda: sum_rows(),
    "pad_gated_load": lambda: pad_1d(),
    "store_if": lambda: store_if(),
    "max_rows_float16": lambda: max_rows(dtype=dtypes.float16, name="r_max_half"),
    "openmp_add": lambda: elementwise_add(1 << 16, name="E_65536"),
    # the nine dtypes the golden was written for (test_execute_ops runs every cast of every dtype)
    "casts_from_float32": lambda: many_casts(dtypes.float32, [d for d in ALL_DTYPES if d.name in _GOLDEN_CASTS], 8),
    "int8_ops": lambda: many_ops([Ops.IDIV, Ops.MOD, Ops.MAX, Ops.NEG, Ops.CMPLT, Ops.WHERE], dtypes.int8, 8),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_KERNELS))
def test_golden_source(name):
    src = render(REFERENCE_KERNELS[name]())
    path = GOLDEN / f"{name}.c"
    if REGEN or not path.exists():
        path.write_text(src)
        if not REGEN:
            pytest.fail(f"wrote missing golden file {path}; review it and run again")
    want = path.read_text()
    if src != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), src.splitlines(True), f"golden/{name}.c",
                                            "rendered"))
        pytest.fail(f"rendered C differs from golden/{name}.c (SHRIMPGRAD_REGEN_GOLDEN=1 to accept):\n{diff}")


def test_comments_never_change_line_numbers():
    for make in REFERENCE_KERNELS.values():
        p = make()
        with_comments, without = render(p).splitlines(), render(p, comments=False).splitlines()
        assert len(with_comments) == len(without)
        assert all(a.startswith(b.rstrip()) for a, b in zip(with_comments, without))
        body = without[next(i for i, ln in enumerate(without) if ln.startswith("void ")):]
        assert not any("//" in ln for ln in body)


def test_comment_names_uop_and_tensor_op():
    line = next(ln for ln in render(elementwise_add()).splitlines() if " + " in ln)
    assert line.strip().startswith("float alu0 = val0 + val1;")
    assert line.endswith("// ALU ADD | from Tensor.__add__ at demo.py:4")


def test_signature_marks_inputs_const_and_all_restrict():
    first = render(elementwise_add(), comments=False).splitlines()[0]
    assert first == "void E_16(float* restrict data0, const float* restrict data1, const float* restrict data2) {"


# ---- OpenMP ------------------------------------------------------------------------------------

def test_openmp_only_for_big_kernels():
    big, small = elementwise_add(OPENMP_MIN_ITERATIONS, name="E_big"), elementwise_add(OPENMP_MIN_ITERATIONS - 1)
    assert "#pragma omp parallel for" in render(big)
    assert "#pragma omp" not in render(small)
    assert "#pragma omp" not in render(big, openmp=False)
    assert "-fopenmp" in compiler_command(render(big), Path("x.so"))
    assert "-fopenmp" not in compiler_command(render(small), Path("x.so"))


def test_openmp_counts_the_whole_loop_nest():
    """4 rows x 8192 reduced elements = 32768 iterations: the outer GLOBAL loop goes parallel."""
    assert "#pragma omp parallel for" in render(sum_rows(4, 8192))
    assert "#pragma omp" not in render(sum_rows(1, 1 << 16)), "one output row: nothing to split"


def test_openmp_never_splits_a_loop_that_updates_an_outer_accumulator():
    b = ProgramBuilder(1 << 16)
    out, x = b.glob(0, dtypes.float32, True), b.glob(1, dtypes.float32)
    acc = b.acc(b.const(0.0, dtypes.float32))
    i = b.range("gidx0", 1 << 16)
    b.assign(acc, b.alu(Ops.ADD, acc, b.load(x, i)))
    b.end(i)
    b.store(out, b.const(0), acc)
    assert "#pragma omp" not in render(b.build("r_total"))


# ---- what C needs beyond stage 03's verify ----------------------------------------------------

def test_value_used_after_its_loop_is_rejected():
    b = ProgramBuilder(4)
    out, x = b.glob(0, dtypes.float32, True), b.glob(1, dtypes.float32)
    i = b.range("gidx0", 4)
    v = b.load(x, i)
    b.end(i)
    b.store(out, b.const(0), v)
    with pytest.raises(RenderError, match="not in scope"):
        render(b.build("E_scope"))


def test_store_into_input_is_rejected():
    b = ProgramBuilder(1)
    x = b.glob(0, dtypes.float32, output=False)
    b.store(x, b.const(0), b.const(1.0, dtypes.float32))
    with pytest.raises(RenderError, match="input buffer"):
        render(b.build("E_bad_store"))


def test_special_is_rejected_with_a_hint():
    p = Program("E_gpu", (UOp(UOps.SPECIAL, dtypes.int32, (), ("gidx0", 16)),))
    with pytest.raises(RenderError, match="GPU"):
        render(p)


@pytest.mark.parametrize("name", ["1abc", "int", "a-b", ""])
def test_kernel_name_must_be_a_c_identifier(name):
    with pytest.raises(RenderError, match="C identifier"):
        render(Program(name, ()))


def test_constant_out_of_range_is_rejected():
    with pytest.raises(RenderError, match="does not fit"):
        render(Program("E_c", (UOp(UOps.DEFINE_GLOBAL, dtypes.int8, (), (0, "data0", True, 1)),
                               UOp(UOps.CONST, dtypes.int8, (), 300))))


def test_two_loops_with_the_same_name_get_distinct_variables():
    b = ProgramBuilder(4)
    out = b.glob(0, dtypes.int32, True)
    i = b.range("ridx0", 4)
    j = b.range("ridx0", 3, LoopKind.REDUCE)  # a linearizer bug or not, C must not shadow ridx0
    b.store(out, i, j)
    b.end(j)
    b.end(i)
    src = render(b.build("E_axes"), comments=False)
    assert "for (int ridx0 = 0;" in src and "for (int ridx0_0 = 0;" in src and "data0[ridx0] = ridx0_0;" in src


@pytest.mark.parametrize("name", ["int", "1i", "a-b"])
def test_loop_name_must_be_a_c_identifier(name):
    b = ProgramBuilder(4)
    out = b.glob(0, dtypes.int32, True)
    i = b.range(name, 4)
    b.store(out, i, i)
    b.end(i)
    with pytest.raises(RenderError, match="not a C identifier"):
        render(b.build("E_bad_loop"))


def test_the_loop_variable_is_the_range_name():
    """One name per loop across stages: the C says what the stage-03 dump says."""
    from shrimpgrad.linearize.viz import format_program

    p = sum_rows(2, 3)
    dump = format_program(p)
    assert "gidx0 GLOBAL" in dump and "ridx0 REDUCE" in dump
    src = render(p)
    assert "for (int gidx0 = 0; gidx0 < 2; gidx0++) {" in src and "for (int ridx0 = 0; ridx0 < 3; ridx0++) {" in src


def test_upcast_loop_is_unrolled():
    b = ProgramBuilder(4)
    out = b.glob(0, dtypes.int32, True)
    i = b.range("up0", 4, LoopKind.UPCAST)
    b.store(out, i, i)
    b.end(i)
    assert "#pragma GCC unroll 4" in render(b.build("E_up"))


def test_verify_runs_stage03_checks_and_the_c_checks():
    from shrimpgrad.c import verify
    from shrimpgrad.linearize import ProgramError

    p = elementwise_add()
    assert verify(p) is p
    dangling = Program("E_bad", (UOp(UOps.STORE, None, (UOp(UOps.DEFINE_GLOBAL, dtypes.float32, (), (0, "d", True, 1)),
                                                         UOp(UOps.CONST, dtypes.int32, (), 0),
                                                         UOp(UOps.CONST, dtypes.float32, (), 1.0))),))
    with pytest.raises(ProgramError, match="used before it is defined"):
        verify(dangling)
    b = ProgramBuilder(1)
    x = b.glob(0, dtypes.float32, output=False)
    b.store(x, b.const(0), b.const(1.0, dtypes.float32))
    with pytest.raises(RenderError, match="input buffer"):
        verify(b.build("E_bad_store"))
