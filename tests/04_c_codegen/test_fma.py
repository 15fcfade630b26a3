"""The FMA rule (renderer.py's `fma_accumulations`, the Dialect's `fma`, SHRIMPGRAD_FMA): an accumulation acc + a*b
renders as one `fmaf(a, b, acc)` when it is on, as a multiply and an add when it is off; on and off agree within
float rounding (and with the interpreter, which rounds twice as numpy does), and an elementwise a*b + c is never
fused. Both dialects have it on unless SHRIMPGRAD_FMA=0; C's leaves out a kernel whose accumulations chain (a conv's
unrolled window) and a GROUP's partial sums, which gcc then doesn't vectorize."""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from dialect_runner import run_c

from shrimpgrad import Tensor
from shrimpgrad.c import compile_c, render
from shrimpgrad.c.compiler import FLAGS
from shrimpgrad.c.dialect import C_DIALECT, C_FMA_DIALECT, C_NO_FMA_DIALECT, FMA_ENV, fma_setting
from shrimpgrad.c.opts import choose_opts
from shrimpgrad.c.renderer import fma_accumulations
from shrimpgrad.linearize import UOps, interpret, linearize
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(16)


def _t(*shape, dtype=np.float32):
    return Tensor(RNG.standard_normal(shape).astype(dtype)).realize()


CASES = {
    "matmul": lambda: _t(24, 40) @ _t(40, 48),
    "conv2d (the window's lanes chain their products)": lambda: _t(2, 3, 9, 9).conv2d(_t(4, 3, 3, 3), padding=1),
    "dot of a*b": lambda: (_t(300) * _t(300)).sum(),
    "float64 matmul": lambda: _t(8, 16, dtype=np.float64) @ _t(16, 8, dtype=np.float64),
}


def _program(t: Tensor):
    (kernel,) = create_schedule([t.node]).kernels
    return linearize(kernel, choose_opts(kernel))


def _buffers(program):
    globals_ = sorted((u for u in program.uops if u.op is UOps.DEFINE_GLOBAL), key=lambda u: u.arg[0])
    return [RNG.standard_normal(g.arg[3]).astype(g.dtype.np) if not g.arg[2] else np.zeros(g.arg[3], g.dtype.np)
            for g in globals_]


def _run_c(program, buffers, dialect):
    return run_c(program, buffers, dialect)[0]


@pytest.mark.parametrize("case", CASES)
def test_the_rule_renders_fmaf_when_on_and_a_multiply_and_an_add_when_off(case):
    program = _program(CASES[case]())
    fn = "fma(" if "float64" in case else "fmaf("
    on, off = (render(program, comments=False, dialect=d) for d in (C_FMA_DIALECT, C_NO_FMA_DIALECT))
    fused = fma_accumulations(program)
    assert fused and on.count(fn) == len(fused)
    # the MUL's line is gone; its name and provenance stay, on the fused line
    fused_lines = [line for line in render(program, dialect=C_FMA_DIALECT).splitlines() if fn in line]
    assert fused_lines and all("// ALU ADD+MUL | from " in line and line.endswith("| FMA") for line in fused_lines)
    assert any("__mul__" in line or "__matmul__" in line or "conv2d" in line for line in fused_lines)
    assert "fma" not in off
    # every multiply of the reduce is fused (the conv's chained lanes too): none is left in its own line
    assert not re.search(r"= val\d+ \* val\d+;", on) and re.search(r"= val\d+ \* val\d+;", off)


@pytest.mark.parametrize("case", CASES)
def test_on_and_off_agree_within_rounding_with_each_other_and_the_interpreter(case):
    program = _program(CASES[case]())
    buffers = _buffers(program)
    on, off = _run_c(program, buffers, C_FMA_DIALECT), _run_c(program, buffers, C_NO_FMA_DIALECT)
    want = [b.copy() for b in buffers]
    interpret(program, want)
    np.testing.assert_array_equal(off, want[0])  # off: numpy's twice-rounded a*b + c, bit for bit
    tol = 1e-12 if "float64" in case else 1e-5
    np.testing.assert_allclose(on, want[0], rtol=tol, atol=tol)
    assert not np.array_equal(on, off) or "float64" in case, "the switch changed no bit: is it on?"


def test_an_elementwise_multiply_add_is_not_fused():
    a, b, c = _t(64), _t(64), _t(64)
    program = _program(a * b + c)
    assert fma_accumulations(program) == {} and "fma" not in render(program, comments=False, dialect=C_FMA_DIALECT)
    np.testing.assert_array_equal(_run_c(program, [np.zeros(64, np.float32), *(x.numpy() for x in (a, b, c))],
                                         C_FMA_DIALECT), a.numpy() * b.numpy() + c.numpy())


def test_float16_products_are_not_fused():
    """numpy rounds a float16 product to half before the add: fusing would skip that rounding."""
    program = _program((_t(64, dtype=np.float16) * _t(64, dtype=np.float16)).sum())
    assert any(u.op is UOps.ALU and u.dtype.name == "float16" and u.arg.name == "MUL" for u in program.uops)
    assert fma_accumulations(program) == {}
    assert "fma" not in render(program, comments=False, dialect=C_FMA_DIALECT)


@pytest.mark.skipif(shutil.which("objdump") is None or " fma " not in open("/proc/cpuinfo").read().replace("\n", " "),
                    reason="needs objdump and a CPU with FMA")
def test_gcc_makes_the_matmul_fmaf_a_vectorized_fused_multiply_add():
    program = _program(_t(64, 64) @ _t(64, 64))
    path = compile_c(render(program, comments=False, dialect=C_FMA_DIALECT), program.name).path
    asm = subprocess.run(["objdump", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"vfmadd\d+ps", asm), "no packed FMA: fmaf was not inlined or not vectorized"
    assert "call" not in "".join(line for line in asm.splitlines() if "fmaf" in line)
    assert "-ffp-contract=off" in FLAGS  # only the rule's explicit fmaf fuses; gcc fuses nothing on its own


def test_the_setting(monkeypatch):
    monkeypatch.delenv(FMA_ENV, raising=False)
    assert fma_setting(default=False) is False and fma_setting(default=True) is True
    assert fma_setting(default=False, value="1") is True and fma_setting(default=True, value="0") is False
    with pytest.raises(ValueError, match="SHRIMPGRAD_FMA='yes': use 1"):
        fma_setting(default=True, value="yes")
    assert C_DIALECT.fma is (os.environ.get(FMA_ENV) != "0")


def test_the_environment_switches_both_dialects():
    code = ("from shrimpgrad.c.dialect import C_DIALECT; from shrimpgrad.cuda.dialect import CUDA_DIALECT; "
            "print(C_DIALECT.fma, CUDA_DIALECT.fma)")
    env = {k: v for k, v in os.environ.items() if k != FMA_ENV}
    got = {value: subprocess.run([sys.executable, "-c", code], env={**env, **({FMA_ENV: value} if value else {})},
                                 capture_output=True, text=True, check=True).stdout.split()
           for value in ("", "0", "1")}
    assert got == {"": ["True", "True"], "0": ["False", "False"], "1": ["True", "True"]}


def test_c_fuses_chained_accumulations_only_with_its_loads_first_and_cuda_fuses_them(monkeypatch):
    """A conv's chains vectorize in gcc when each run's loads come first (renderer.py's loads_first): C's fma_chains
    follows that switch (SHRIMPGRAD_C_LOADS_FIRST=0 turns both off)."""
    from shrimpgrad.c.opts import SMALL_BLOCK_ENV
    from shrimpgrad.cuda.dialect import CUDA_DIALECT

    conv = _program(CASES["conv2d (the window's lanes chain their products)"]())
    chained = fma_accumulations(conv)
    assert any(s in chained for add in chained for s in add.src)  # a chain: acc + a0*b0 + a1*b1 + a2*b2
    assert fma_accumulations(conv, chains=False) == {}
    assert C_DIALECT.fma_chains == C_DIALECT.loads_first and CUDA_DIALECT.fma_chains
    assert "fmaf(" in render(conv, comments=False, dialect=replace(C_DIALECT, fma=True, fma_chains=True))
    assert "fmaf(" not in render(conv, comments=False, dialect=replace(C_DIALECT, fma=True, fma_chains=False))
    monkeypatch.setenv(SMALL_BLOCK_ENV, "0")  # rule 1's BLOCK (rule 1d unrolls the reduce: its products chain too)
    matmul = _program(CASES["matmul"]())  # no chain: C fuses it
    assert fma_accumulations(matmul, chains=False) == fma_accumulations(matmul) != {}
    monkeypatch.delenv(SMALL_BLOCK_ENV)
    small = _program(CASES["matmul"]())  # rule 1d: two iterations unrolled, acc + a0*b0 + a1*b1
    assert fma_accumulations(small, chains=False) == {} != fma_accumulations(small)


def test_c_leaves_a_groups_partial_sums_unfused():
    """SPLIT's 32 partial sums of `(x * x).sum(-1)` are `group_partials`: C (fma_partials=False) writes them as a
    multiply and an add, which gcc vectorizes; C_FMA_DIALECT fuses them. A matmul's BLOCK accumulators are no
    GROUP's partials: C still fuses them. A GPU program has none (its GROUP lanes are threads)."""
    from shrimpgrad.c.renderer import group_partials
    from shrimpgrad.linearize import Opt, OptKind

    x = _t(16, 256)
    split = _program((x * x).sum(-1))
    assert split.applied_opts == ("GROUP(axis=1, amount=32)",)
    assert len(group_partials(split)) == 32 and fma_accumulations(split, partials=False) == {}
    assert len(fma_accumulations(split)) == 32
    assert not C_DIALECT.fma_partials and C_FMA_DIALECT.fma_partials
    (kernel,) = create_schedule([(x * x).sum(-1).node]).kernels
    assert group_partials(linearize(kernel, [Opt(OptKind.GROUP, 1, 32)], gpu=True)) == set()
    assert "fmaf(" not in render(split, comments=False, dialect=replace(C_DIALECT, fma=True))
    assert render(split, comments=False, dialect=C_FMA_DIALECT).count("fmaf(") == 32
    matmul = _program(CASES["matmul"]())
    assert group_partials(matmul) == set() and "fmaf(" in render(matmul, comments=False,
                                                                dialect=replace(C_DIALECT, fma=True))
    buffers = _buffers(split)
    want = [b.copy() for b in buffers]
    interpret(split, want)
    for dialect in (replace(C_DIALECT, fma=True), C_FMA_DIALECT):
        np.testing.assert_allclose(_run_c(split, buffers, dialect), want[0], rtol=1e-5, atol=1e-5)
