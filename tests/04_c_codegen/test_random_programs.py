"""Random elementwise expressions, built twice — as a stage-01 graph and as a hand-built UOp Program —
must give the same bits: numpy's `evaluate` on the graph, compiled C on the Program.

This tests how rules compose (float16 rounding after every op in a chain, casts between ALU ops,
constants of every dtype) without needing the linearizer. Ops whose last bits legitimately differ
between libm and numpy (SIN, EXP2, LOG2) and float->int casts of out-of-range values (undefined in
C) are left out: one differing bit could flip a later comparison and hide real bugs in noise."""

import hashlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from program_builders import ProgramBuilder, run_c
from test_execute_ops import assert_matches, ops_for, random_values, special_values

from shrimpgrad.graph import ALL_DTYPES, BufferRef, Ops, alu, broadcast_const, buffer, dtypes
from shrimpgrad.graph.evaluate import evaluate

N = 64
EXCLUDED = {Ops.SIN, Ops.EXP2, Ops.LOG2}
UNARY_OPS = {Ops.NEG, Ops.RECIP, Ops.SQRT, Ops.TRUNC}


class Twin:
    """Builds the same expression as a graph Node and as a UOp, side by side."""

    def __init__(self, data: st.DataObject):
        self.data, self.b = data, ProgramBuilder(N)
        self.i = None
        self.inputs: list[tuple[BufferRef, np.ndarray]] = []
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        self.pending_loads: list = []

    def leaf(self, dt):
        if self.data.draw(st.booleans(), label="const?"):
            value = self.data.draw(st.sampled_from(list(special_values(dt))), label="const")
            value = value.item()
            return broadcast_const(value, dt, (N,)), ("const", value, dt)
        values = np.concatenate([special_values(dt), random_values(dt, N, self.rng)])[:N]
        self.rng.shuffle(values)
        ref = BufferRef(N, dt)
        self.inputs.append((ref, values))
        return buffer(ref, (N,)), ("load", len(self.inputs) - 1, dt)

    def expr(self, dt, depth: int):
        """(graph node, recipe) of a random expression of dtype `dt`; the recipe is replayed as UOps."""
        if depth == 0 or self.data.draw(st.integers(0, 3), label="leaf?") == 0:
            return self.leaf(dt)
        choice = self.data.draw(st.integers(0, 5), label="kind")
        if choice == 0:  # a CAST from another dtype (never float -> int: out-of-range values are undefined)
            sources = [s for s in ALL_DTYPES if not (s.is_float and dt.is_int)]
            src_dt = self.data.draw(st.sampled_from(sources), label="cast from")
            node, recipe = self.expr(src_dt, depth - 1)
            return alu(Ops.CAST, node, dtype=dt), ("cast", recipe, dt)
        comparisons = {Ops.CMPLT, Ops.CMPNE}
        ops = [op for op in ops_for(dt) if op not in EXCLUDED and (dt.is_bool or op not in comparisons)]
        op = self.data.draw(st.sampled_from(ops), label="op")
        if op is Ops.WHERE:
            args = [self.expr(dtypes.bool, depth - 1), self.expr(dt, depth - 1), self.expr(dt, depth - 1)]
        elif op in comparisons:  # bool from operands of any dtype
            operand_dt = self.data.draw(st.sampled_from(ALL_DTYPES), label="compare dtype")
            args = [self.expr(operand_dt, depth - 1), self.expr(operand_dt, depth - 1)]
        else:
            args = [self.expr(dt, depth - 1) for _ in range(1 if op in UNARY_OPS else 2)]
        return alu(op, *(a[0] for a in args)), ("alu", op, [a[1] for a in args], dt)

    def replay(self, recipe, globs, loads):
        kind = recipe[0]
        if kind == "const":
            return self.b.const(recipe[1], recipe[2])
        if kind == "load":
            if recipe[1] not in loads:
                loads[recipe[1]] = self.b.load(globs[recipe[1]], self.i)
            return loads[recipe[1]]
        if kind == "cast":
            return self.b.cast(self.replay(recipe[1], globs, loads), recipe[2])
        _, op, args, dt = recipe
        return self.b.alu(op, *(self.replay(a, globs, loads) for a in args), dtype=dt)


@settings(max_examples=30)
@given(st.data())
def test_random_expression_c_matches_graph_evaluator(data):
    twin = Twin(data)
    out_dt = data.draw(st.sampled_from(ALL_DTYPES), label="dtype")
    node, recipe = twin.expr(out_dt, depth=4)
    b = twin.b
    out = b.glob(0, out_dt, output=True)
    globs = [b.glob(k + 1, ref.dtype) for k, (ref, _) in enumerate(twin.inputs)]
    twin.i = b.range("gidx0", N)
    b.store(out, twin.i, twin.replay(recipe, globs, {}))
    b.end(twin.i)
    program = b.build(f"E_random_{hashlib.sha256(repr(recipe).encode()).hexdigest()[:12]}")
    with np.errstate(all="ignore"):
        want = np.asarray(evaluate(node, dict(twin.inputs))).reshape(N)
    got = run_c(program, [v for _, v in twin.inputs], n=N)[0]
    assert_matches(got, want, f"random expression {recipe}")
