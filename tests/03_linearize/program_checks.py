"""Structural invariants of every Program `linearize` makes, beyond `uops.verify` (used by the tests).

    check_program(program, kernel)

* verify() passes: operands defined before use, RANGE/END and IF/ENDIF nested, dtypes present;
* every RANGE has exactly one END;
* CSE: no two UOps in the program are equal;
* scope: no UOp uses a value defined inside a loop that has already ended (C's braces);
* hoisting: a pure UOp (index math, loads, ALU not reading an accumulator) sits in the innermost loop
  it depends on, never deeper;
* no dead code: every UOp that produces a value (other than DEFINE_GLOBAL) is read by a later UOp;
* DEFINE_GLOBAL i is kernel.bufs[i] (dtype, name data<i>, output flag, element count).
"""

from __future__ import annotations

from shrimpgrad.linearize import Program, UOp, UOps, verify
from shrimpgrad.schedule import Kernel

_STATEFUL = (UOps.DEFINE_ACC, UOps.ASSIGN, UOps.STORE, UOps.END, UOps.ENDIF, UOps.IF, UOps.RANGE)


def _reads_accumulator(u: UOp, memo: dict) -> bool:
    if u not in memo:
        memo[u] = u.op is UOps.DEFINE_ACC or any(_reads_accumulator(s, memo) for s in u.src)
    return memo[u]


def _ranges_used(u: UOp, memo: dict) -> frozenset:
    """The RANGEs `u` depends on, directly or through its operands."""
    if u not in memo:
        if u.op is UOps.RANGE:
            memo[u] = frozenset({u})
        else:
            memo[u] = frozenset().union(*(_ranges_used(s, memo) for s in u.src))
    return memo[u]


def check_program(p: Program, kernel: Kernel | None = None) -> None:
    verify(p)
    uops = p.uops
    assert len(set(uops)) == len(uops), "two equal UOps in the program (CSE should have merged them)"
    ranges = [u for u in uops if u.op is UOps.RANGE]
    ends = [u for u in uops if u.op is UOps.END]
    assert sorted(map(id, (e.src[0] for e in ends))) == sorted(map(id, ranges)), "a RANGE without exactly one END"
    read = {s for u in uops for s in u.src}
    dead = [u for u in uops if u.op not in (UOps.DEFINE_GLOBAL, *_STATEFUL) and u not in read]
    assert not dead, f"UOps whose value nobody reads: {dead}"
    # scope and hoisting
    open_loops: list[UOp] = []
    alive: list[set[UOp]] = [set()]
    acc_memo, range_memo = {}, {}
    for i, u in enumerate(uops):
        for s in u.src:
            assert any(s in block for block in alive), f"uop {i} {u!r} uses {s!r} outside the loop that defines it"
        if u.op is UOps.END:
            open_loops.pop()
            alive.pop()
        if u.op not in _STATEFUL and not _reads_accumulator(u, acc_memo) and open_loops:
            used = _ranges_used(u, range_memo)
            assert open_loops[-1] in used, f"uop {i} {u!r} is inside loop {open_loops[-1].arg} it doesn't depend on"
        alive[-1].add(u)
        if u.op is UOps.RANGE:
            open_loops.append(u)
            alive.append({u})
    if kernel is not None:
        gs = p.globals
        assert [g.arg for g in gs] == [(i, f"data{i}", i < kernel.n_outputs, b.size) for i, b in enumerate(kernel.bufs)]
        assert [g.dtype for g in gs] == [b.dtype for b in kernel.bufs]
