"""Hand-built stage-03 Programs for the C backend's tests (no linearizer needed).

`ProgramBuilder` appends UOps in execution order, the way a linearizer would, and `build()` runs
stage 03's `verify`. The reference kernels below are the ones the golden tests and the README use.
"""

from __future__ import annotations

import numpy as np

from shrimpgrad.graph import UNARY, DType, Ops, dtypes
from shrimpgrad.linearize import LoopKind, Program, UOp, UOps, verify

INDEX = dtypes.int32


class ProgramBuilder:
    """`size`: the element count each DEFINE_GLOBAL declares unless `glob(..., size=)` says otherwise."""

    def __init__(self, size: int) -> None:
        self.uops: list[UOp] = []
        self.size = size

    def add(self, op: UOps, dtype: DType | None, src: tuple[UOp, ...] = (), arg=None, meta: str | None = None) -> UOp:
        u = UOp(op, dtype, src, arg, meta)
        self.uops.append(u)
        return u

    def glob(self, index: int, dtype: DType, output: bool = False, size: int | None = None) -> UOp:
        size = self.size if size is None else size
        return self.add(UOps.DEFINE_GLOBAL, dtype, (), (index, f"data{index}", output, size))

    def const(self, value, dtype: DType = INDEX) -> UOp:
        return self.add(UOps.CONST, dtype, (), value)

    def range(self, name: str, end: int, kind: LoopKind = LoopKind.GLOBAL, start: int = 0) -> UOp:
        """A loop named `name` (what the C calls its variable), like stage 03's gidx0 / ridx0."""
        return self.add(UOps.RANGE, INDEX, (self.const(start), self.const(end)), (name, kind))

    def end(self, rng: UOp) -> UOp:
        return self.add(UOps.END, None, (rng,))

    def load(self, buf: UOp, index: UOp, gate: UOp | None = None, alt: UOp | None = None, meta=None) -> UOp:
        src = (buf, index) if gate is None else (buf, index, gate, alt)
        return self.add(UOps.LOAD, buf.dtype, src, None, meta)

    def store(self, buf: UOp, index: UOp, value: UOp, gate: UOp | None = None, meta=None) -> UOp:
        src = (buf, index, value) if gate is None else (buf, index, value, gate)
        return self.add(UOps.STORE, None, src, None, meta)

    def alu(self, op: Ops, *src: UOp, dtype: DType | None = None, meta=None) -> UOp:
        out = dtype or (dtypes.bool if op in (Ops.CMPLT, Ops.CMPNE) else src[-1].dtype)
        return self.add(UOps.ALU, out, tuple(src), op, meta)

    def cast(self, x: UOp, dtype: DType) -> UOp:
        return self.add(UOps.CAST, dtype, (x,))

    def acc(self, init: UOp, number: int = 0) -> UOp:
        return self.add(UOps.DEFINE_ACC, init.dtype, (init,), number)

    def assign(self, acc: UOp, value: UOp) -> UOp:
        return self.add(UOps.ASSIGN, None, (acc, value))

    def if_(self, cond: UOp) -> UOp:
        return self.add(UOps.IF, None, (cond,))

    def endif(self, if_: UOp) -> UOp:
        return self.add(UOps.ENDIF, None, (if_,))

    def build(self, name: str) -> Program:
        return verify(Program(name, tuple(self.uops)))


# ---- reference kernels ---------------------------------------------------------------------

def elementwise_add(n: int = 16, dtype: DType = dtypes.float32, name: str = "E_16") -> Program:
    """data0[i] = data1[i] + data2[i]"""
    b = ProgramBuilder(n)
    out, x, y = b.glob(0, dtype, output=True), b.glob(1, dtype), b.glob(2, dtype)
    i = b.range("gidx0", n)
    s = b.alu(Ops.ADD, b.load(x, i, meta="Tensor.__add__ at demo.py:4"), b.load(y, i),
              meta="Tensor.__add__ at demo.py:4")
    b.store(out, i, s, meta="Tensor.__add__ at demo.py:4")
    b.end(i)
    return b.build(name)


def sum_rows(rows: int = 4, cols: int = 8, dtype: DType = dtypes.float32, name: str = "r_4_8") -> Program:
    """data0[i] = sum_j data1[i*cols + j]: a reduction with DEFINE_ACC/ASSIGN."""
    b = ProgramBuilder(rows)
    out, x = b.glob(0, dtype, output=True), b.glob(1, dtype, size=rows * cols)
    i = b.range("gidx0", rows)
    acc = b.acc(b.const(0, dtype))
    j = b.range("ridx0", cols, LoopKind.REDUCE)
    idx = b.alu(Ops.ADD, b.alu(Ops.MUL, i, b.const(cols)), j)
    b.assign(acc, b.alu(Ops.ADD, acc, b.load(x, idx), meta="Tensor.sum at demo.py:7"))
    b.end(j)
    b.store(out, i, acc)
    b.end(i)
    return b.build(name)


def max_rows(rows: int = 4, cols: int = 8, dtype: DType = dtypes.float32, name: str = "r_max") -> Program:
    """data0[i] = max_j data1[i*cols + j], starting from -inf (the identity of MAX)."""
    b = ProgramBuilder(rows)
    out, x = b.glob(0, dtype, output=True), b.glob(1, dtype, size=rows * cols)
    i = b.range("gidx0", rows)
    acc = b.acc(b.const(_lowest(dtype), dtype))
    j = b.range("ridx0", cols, LoopKind.REDUCE)
    idx = b.alu(Ops.ADD, b.alu(Ops.MUL, i, b.const(cols)), j)
    b.assign(acc, b.alu(Ops.MAX, acc, b.load(x, idx)))
    b.end(j)
    b.store(out, i, acc)
    b.end(i)
    return b.build(name)


def _lowest(dtype: DType):
    """The identity of MAX for `dtype`."""
    if dtype.is_bool:
        return False
    return float("-inf") if dtype.is_float else int(np.iinfo(dtype.np).min)


def pad_1d(n: int = 4, before: int = 1, after: int = 2, dtype: DType = dtypes.float32, name: str = "E_pad") -> Program:
    """data0 = np.pad(data1, (before, after)): a gated load, 0 outside the valid region."""
    b = ProgramBuilder(n + before + after)
    out, x = b.glob(0, dtype, output=True), b.glob(1, dtype, size=n)
    i = b.range("gidx0", n + before + after)
    valid = b.alu(Ops.AND, b.alu(Ops.CMPLT, b.const(before - 1), i), b.alu(Ops.CMPLT, i, b.const(n + before)))
    v = b.load(x, b.alu(Ops.SUB, i, b.const(before)), valid, b.const(0, dtype), meta="Tensor.pad at demo.py:9")
    b.store(out, i, v)
    b.end(i)
    return b.build(name)


def store_if(n: int = 8, name: str = "E_if") -> Program:
    """data0[i] = data1[i] * 2 only where i is even (an IF block); other elements keep their value."""
    b = ProgramBuilder(n)
    out, x = b.glob(0, dtypes.float32, output=True), b.glob(1, dtypes.float32)
    i = b.range("gidx0", n)
    even = b.alu(Ops.CMPNE, b.alu(Ops.MOD, i, b.const(2)), b.const(1))
    blk = b.if_(even)
    b.store(out, i, b.alu(Ops.MUL, b.load(x, i), b.const(2.0, dtypes.float32)))
    b.endif(blk)
    b.end(i)
    return b.build(name)


def unary(op: Ops, dtype: DType, n: int, name: str = "E_unary") -> Program:
    """data0[i] = op(data1[i])"""
    b = ProgramBuilder(n)
    out_dtype = dtype
    out, x = b.glob(0, out_dtype, output=True), b.glob(1, dtype)
    i = b.range("gidx0", n)
    b.store(out, i, b.alu(op, b.load(x, i)))
    b.end(i)
    return b.build(name)


def binary(op: Ops, dtype: DType, n: int, name: str = "E_binary") -> Program:
    """data0[i] = op(data1[i], data2[i]); comparisons write bool."""
    b = ProgramBuilder(n)
    out_dtype = dtypes.bool if op in (Ops.CMPLT, Ops.CMPNE) else dtype
    out, x, y = b.glob(0, out_dtype, output=True), b.glob(1, dtype), b.glob(2, dtype)
    i = b.range("gidx0", n)
    b.store(out, i, b.alu(op, b.load(x, i), b.load(y, i)))
    b.end(i)
    return b.build(name)


def where(dtype: DType, n: int, name: str = "E_where") -> Program:
    """data0[i] = data1[i] ? data2[i] : data3[i]"""
    b = ProgramBuilder(n)
    out, c, x, y = b.glob(0, dtype, True), b.glob(1, dtypes.bool), b.glob(2, dtype), b.glob(3, dtype)
    i = b.range("gidx0", n)
    b.store(out, i, b.alu(Ops.WHERE, b.load(c, i), b.load(x, i), b.load(y, i)))
    b.end(i)
    return b.build(name)


def cast(src: DType, dst: DType, n: int, name: str = "E_cast") -> Program:
    """data0[i] = (dst)data1[i]"""
    b = ProgramBuilder(n)
    out, x = b.glob(0, dst, output=True), b.glob(1, src)
    i = b.range("gidx0", n)
    b.store(out, i, b.cast(b.load(x, i), dst))
    b.end(i)
    return b.build(name)


def store_consts(values: list, dtype: DType, name: str = "E_consts") -> Program:
    """data0[k] = values[k], each a CONST: checks that literals are printed exactly."""
    b = ProgramBuilder(len(values))
    out = b.glob(0, dtype, output=True)
    for k, v in enumerate(values):
        b.store(out, b.const(k), b.const(v, dtype))
    return b.build(name)


def many_ops(ops: list[Ops], dtype: DType, n: int, name: str = "E_ops") -> Program:
    """One kernel applying every op in `ops` elementwise: data<k>[i] = ops[k](a[i], b[i]).

    Outputs are data0..data<K-1>; the inputs a, b (dtype) and cond (bool) follow. Unary ops read
    a, binary ops a and b, WHERE reads cond, a and b. One kernel per dtype keeps compiles few."""
    b = ProgramBuilder(n)
    outs = [b.glob(k, dtypes.bool if op in (Ops.CMPLT, Ops.CMPNE) else dtype, output=True) for k, op in enumerate(ops)]
    x, y, c = b.glob(len(ops), dtype), b.glob(len(ops) + 1, dtype), b.glob(len(ops) + 2, dtypes.bool)
    i = b.range("gidx0", n)
    xv, yv, cv = b.load(x, i), b.load(y, i), b.load(c, i)
    for out, op in zip(outs, ops):
        args = (cv, xv, yv) if op is Ops.WHERE else (xv,) if op in UNARY else (xv, yv)
        b.store(out, i, b.alu(op, *args))
    b.end(i)
    return b.build(name)


def many_casts(src: DType, targets: list[DType], n: int, name: str = "E_casts") -> Program:
    """data<k>[i] = (targets[k])data<K+k>[i]: each target reads its own input (so each can get values in its range)."""
    b = ProgramBuilder(n)
    outs = [b.glob(k, t, output=True) for k, t in enumerate(targets)]
    ins = [b.glob(len(targets) + k, src) for k in range(len(targets))]
    i = b.range("gidx0", n)
    for out, inp, t in zip(outs, ins, targets):
        b.store(out, i, b.cast(b.load(inp, i), t))
    b.end(i)
    return b.build(name)


def run_c(program: Program, inputs: list[np.ndarray], n: int | None = None) -> list[np.ndarray]:
    """Compile and run `program` with fresh zeroed outputs of `n` elements (default: the size of the
    first input) followed by `inputs`; return the outputs."""
    from shrimpgrad.c import CProgram

    n = n if n is not None else inputs[0].size
    outs = [np.zeros(n, g.dtype.np) for g in program.globals if g.arg[2]]
    CProgram(program)([*outs, *inputs])
    return outs
