"""Render a stage-03 Program as C source: one UOp becomes at most one line of C.

The walk is a single pass over `program.uops`, in order. Every value-producing UOp becomes a
named, typed local variable (`float alu3 = val0 + val1;`), so each line of C is one UOp and can
carry a comment naming it and the Tensor op it came from. CONSTs are the exception: they are
printed inline as literals. Blocks (RANGE/END, IF/ENDIF) become braces and indentation.

    UOp              C (float32 example)
    DEFINE_GLOBAL    a parameter: `float* restrict data0` (output) / `const float* restrict data1` (input)
    CONST            a literal where it is used: 2.0f, INFINITY, 7LL
    RANGE            for (int gidx0 = 0; gidx0 < 16; gidx0++) {   (the loop's name is stage 03's)
    END              }
    LOAD             float val0 = data1[alu2];          gated: float val1 = alu4 ? data2[alu3] : 0.0f;
    STORE            data0[gidx0] = alu5;               gated: if (alu4) data0[gidx0] = alu5;
    DEFINE_ACC       float acc0 = 0.0f;
    ASSIGN           acc0 = alu6;
    ALU              float alu3 = val0 + val1;          (see alu.py for every op)
    CAST             int cast0 = (int)val0;
    IF / ENDIF       if (alu7) {   /   }

The pass also checks what C needs and the IR's `verify` does not: every operand is still in scope
(a value defined inside a loop can't be used after its END), loop variables have unique names,
STOREs only target output buffers, and the kernel name is a C identifier. Anything else raises
RenderError naming the UOp.

FMA (the Dialect's `fma`, on unless SHRIMPGRAD_FMA=0): an accumulation `acc + a*b` in float32/float64, whose
multiply has no other use, is one line, `float alu1 = fmaf(val0, val1, acc0);`, and the MUL's own line is left out
(see `fma_accumulations`).

LOADS FIRST (the Dialect's `loads_first`, on in C unless SHRIMPGRAD_C_LOADS_FIRST=0): in each straight run of lines
(no loop, IF or STORE between), the LOADs whose addresses are index arithmetic come first, data1's then data2's, and
then the arithmetic on them (see `loads_first`): the only place where the lines are not in the Program's order.

OFFSETS (the Dialect's `offsets`, on in C unless SHRIMPGRAD_C_OFFSETS=0): an index `base + 3` that only LOADs and
STOREs read has no line of its own; they read `data1[alu4 + 3L]` (see `constant_offsets`).

OpenMP: the outermost GLOBAL loop gets `#pragma omp parallel for` when the kernel does at least
OPENMP_MIN_ITERATIONS iterations (see `openmp_loops`).

Dialects: every spelling that differs between C and CUDA C (the function's prefix, `restrict`, the
preamble, math names, how a loop, a SPECIAL, shared memory and a barrier are written) comes from
a `Dialect` record (dialect.py). `render(program)` is C; stage 05 calls `render(program,
dialect=CUDA_DIALECT)`. The rules below never test which language they write.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from shrimpgrad.graph import DType, Ops, dtypes
from shrimpgrad.linearize import LoopKind, Program, UOp, UOps
from shrimpgrad.linearize import verify as verify_program

from .alu import (
    ALU_RULES,
    MATH_OPS,
    Helpers,
    needs_wrapping,
    ordered_float_helpers,
    render_cast,
    render_load_value,
    render_round,
    render_store_value,
    render_wrapping,
)
from .ctype import RenderError, compute_type, literal, math_suffix, storage_type
from .dialect import C_DIALECT, Dialect

# Starting and joining a team of threads costs a few microseconds in libgomp (more for the very
# first parallel region, which creates the threads). 32768 iterations of even the simplest loop
# body take ~10-30 us on one core, so below that the threads would cost about as much as they save;
# above it the loop is long enough that splitting it across cores wins. (Measured: README.)
OPENMP_MIN_ITERATIONS = 32768

MAX_UNROLL = 256  # UPCAST loops up to this many iterations get `#pragma GCC unroll N`
COMMENT_COLUMN = 48  # comments start here (or two spaces after a longer line)

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "bool true false half".split())


@dataclass(frozen=True)
class Line:
    """One line of the function body: its nesting depth, the C code and what it came from."""

    depth: int
    code: str
    uop: UOp | None = None
    note: str = ""  # extra comment text (e.g. why a loop is parallel)
    fused: UOp | None = None  # a UOp this line computes too, without a line of its own (FMA: the MUL)


@dataclass(frozen=True)
class RenderedKernel:
    """The pieces of a rendered kernel, before they are joined into text (viz.py draws these)."""

    name: str
    preamble: tuple[str, ...]  # #includes, typedefs, helper functions
    signature: str
    body: tuple[Line, ...]
    openmp: bool  # whether a loop got `#pragma omp parallel for`
    row: tuple[str, tuple[Line, ...]] | None = None  # the parallel loop's body as its own function (see split_rows)


def render(program: Program, comments: bool = True, openmp: bool = True, dialect: Dialect = C_DIALECT) -> str:
    """C source for one kernel: `void <name>(float* restrict data0, const float* restrict data1, ...)`.

    comments=True ends each line with `// <UOp>` and, when the UOp has `origins` (or `meta`), the Tensor ops
    and user lines it came from. Comments never add or remove lines, so line numbers in a compiler
    message are the same with or without them. openmp=False never emits `#pragma omp`.
    `dialect` picks the language (C_DIALECT; stage 05's CUDA_DIALECT)."""
    return to_text(render_kernel(program, openmp=openmp, dialect=dialect), comments=comments)


def to_text(k: RenderedKernel, comments: bool = True) -> str:
    out = [*k.preamble, ""] if k.preamble else []
    functions = ([k.row] if k.row is not None else []) + [(k.signature, k.body)]
    for n, (signature, body) in enumerate(functions):
        if n:
            out.append("")
        out.append(signature + " {")
        for line in body:
            code = "  " * line.depth + line.code
            comment = _comment(line) if comments else ""
            out.append(f"{code.ljust(COMMENT_COLUMN - 2)}  // {comment}" if comment else code)
        out.append("}")
    return "\n".join(out) + "\n"


def split_rows(k: RenderedKernel, loop_var: str, arguments: str) -> RenderedKernel:
    """The kernel with its parallel loop's body (and the lines before the loop) moved into a function of the loop
    variable, `<name>_row(int gidx0, <the kernel's parameters>)`, which the kernel's `#pragma omp parallel for`
    loop calls once per iteration. Why: gcc compiles an OpenMP loop's body into a function of its own that reads
    the kernel's pointers from a struct, losing what `restrict` promised, and then doesn't vectorize its inner
    loops (measured: a softmax row 4x slower). A plain function with `restrict` parameters is compiled exactly
    like single-threaded code; `noinline` keeps it that way. Only where it helps and fits: the parallel loop has
    loops inside (its own body is a plain loop that gcc vectorizes where it is), and the kernel is lines
    without blocks, then that one loop.

    The row function's first line states the loop's range, `if (gidx0 < 0 || gidx0 >= 2048) __builtin_unreachable();`:
    inside the function gcc no longer knows it, and under -fwrapv an index such as `gidx0 * 2048 + ridx0` might then
    wrap around, so its loads are no longer neighbours and gcc vectorizes them as gathers and scatters (measured on
    softmax's exp and divide kernels, one core: 9 and 8.6 ms -> 3.1 and 1.3 ms with the line)."""
    body = list(k.body)
    pragma = next(i for i, line in enumerate(body) if line.code.startswith("#pragma omp"))
    prologue, loop, inner, end = body[:pragma], body[pragma + 1], body[pragma + 2:-1], body[-1]
    if any(line.depth != 1 or line.code.endswith("{") for line in prologue) or end.code != "}" or end.depth != 1:
        return k
    if not any(line.uop is not None and line.uop.op is UOps.RANGE for line in inner):
        return k  # a loop without inner loops: gcc vectorizes it where it is (a call per element would not be)
    name = k.name
    params = k.signature[k.signature.index("(") + 1:-1]
    row_signature = f"__attribute__((noinline)) static void {name}_row(int {loop_var}, {params})"
    low, high = (literal(c.arg, c.dtype) for c in loop.uop.src)
    bounds = Line(1, f"if ({loop_var} < {low} || {loop_var} >= {high}) __builtin_unreachable();", None,
                  "the loop's range, for the optimizer: the index math below can't wrap")
    row_body = (bounds, *prologue) + tuple(Line(line.depth - 1, line.code, line.uop, line.note) for line in inner)
    call = Line(2, f"{name}_row({loop_var}, {arguments});", None, "the loop body, a function of its own (above)")
    return RenderedKernel(name, k.preamble, k.signature, (body[pragma], loop, call, end), k.openmp,
                          (row_signature, row_body))


MAX_ORIGINS_SHOWN = 4  # a line shared by many user ops (index math, say) names the first few and counts the rest


def _comment(line: Line) -> str:
    """What a line's comment says: the UOp, where it came from (its `origins`, else its `meta`), and any note."""
    parts = []
    if line.uop is not None:
        fused = f"+{uop_label(line.fused).removeprefix('ALU ')}" if line.fused is not None else ""
        parts.append(uop_label(line.uop) + fused)  # ALU ADD+MUL
        # a fused MUL's provenance first: it happened first (`from __mul__ at x.py:3; sum at x.py:3`)
        where = [w for w in (line.fused and provenance_text(line.fused), provenance_text(line.uop)) if w]
        if where:
            parts.append("from " + "; ".join(dict.fromkeys("; ".join(where).split("; "))))
    if line.note:
        parts.append(line.note)
    return " | ".join(parts)


def provenance_text(u: UOp) -> str:
    """`relu at train.py:12; mul at train.py:11` from the UOp's origins (the user lines it computes for), or its
    free-text `meta` for a hand-built program; "" when it has neither."""
    if not u.origins:
        return u.meta or ""
    shown = list(dict.fromkeys(o.short for o in u.origins))
    more = len(shown) - MAX_ORIGINS_SHOWN
    return "; ".join(shown[:MAX_ORIGINS_SHOWN]) + (f"; +{more} more" if more > 0 else "")


def uop_label(u: UOp) -> str:
    """`ALU ADD`, `RANGE GLOBAL`, `LOAD gated`, `CAST to int32`, or just the UOp's name."""
    if u.op is UOps.ALU:
        return f"ALU {u.arg.name}"
    if u.op is UOps.RANGE:
        return f"RANGE {u.arg[1].name}"
    if u.op in (UOps.LOAD, UOps.STORE) and len(u.src) == 4:
        return f"{u.op.name} gated"
    if u.op is UOps.CAST:
        return f"CAST to {u.dtype.name}"
    return u.op.name


def verify(program: Program) -> Program:
    """Stage 03's `verify`, then every check the C backend adds (scope, output-only stores, names, ...):
    raises ProgramError or RenderError naming the UOp, else returns the program."""
    render_kernel(program)
    return program


def _is_c_identifier(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None and name not in _C_KEYWORDS


def render_kernel(program: Program, openmp: bool = True, dialect: Dialect = C_DIALECT) -> RenderedKernel:
    """Walk the UOps once, in order, applying the rule for each UOp kind (after stage 03's verify)."""
    verify_program(program)
    if not _is_c_identifier(program.name):
        raise RenderError(f"kernel name {program.name!r} is not a C identifier (letters, digits, _; not a keyword)")
    if dialect.mask_selects and not has_lanes(program):  # no straight lines of lanes: the ternary (see has_lanes)
        dialect = replace(dialect, mask_selects=False)
    r = _Renderer(program, openmp_loops(program) if openmp and dialect.openmp else frozenset(), dialect)
    if dialect.vector_loads is not None:
        r.vector_lanes = dict(dialect.vector_loads(program))
    if dialect.vector_max:
        r.max_loops = vector_max_loops(program)
        r.max_ops = frozenset(mx for _, mx, _ in r.max_loops.values())
    if dialect.fma:
        r.fma = fma_accumulations(program, chains=dialect.fma_chains, partials=dialect.fma_partials)
        r.fused_muls = frozenset(r.fma.values())
    if dialect.offsets:
        r.offsets = constant_offsets(program)
    for i, u in enumerate(loads_first(program.uops) if dialect.loads_first else program.uops):
        rule = UOP_RULES.get(u.op)
        if rule is None:
            raise RenderError(f"program {program.name}, uop {i} {u!r}: the {dialect.name} backend has no rule for "
                              f"{u.op.name}")
        try:
            rule(r, u)
        except RenderError as e:
            raise RenderError(f"program {program.name}, uop {i} {u!r}: {e}") from None
    if r.blocks:
        raise RenderError(f"program {program.name}: {r.blocks[-1].uop!r} is never closed")
    kernel = RenderedKernel(program.name, tuple(r.preamble()), r.signature(), tuple(r.lines), bool(r.parallel))
    if len(r.parallel) == 1 and r.parallel_var is not None:
        kernel = split_rows(kernel, r.parallel_var, ", ".join(r.params[i].split()[-1] for i in sorted(r.params)))
    if dialect.wide_vectors and wide_lanes(program):
        kernel = with_attribute(kernel, dialect.wide_vectors)
    return kernel


WIDE_LANES = 32  # UPCAST lanes along one axis that fill two 64-byte vectors of floats (WIDE VECTORS)


def wide_lanes(program: Program) -> bool:
    """WIDE VECTORS' case: an UPCAST of at least WIDE_LANES lanes along one axis (stage 04 opts' rules 1b, 1d, 1e).
    gcc on Intel CPUs prefers 256-bit vectors even where AVX-512 has 512-bit ones (its -mprefer-vector-width=256
    default: a core may clock down running 512-bit code), so 32 lanes became 4 ymm FMAs where 2 zmm do; with the
    Dialect's `wide_vectors` attribute it uses zmm. Measured on one AVX-512 core, 1024^3 from packed panels (rule 1e):
    27 -> 15 ms. Narrower lanes (W5's conv tiles: 16) keep the default: a conv measured no faster with 512.
    A row kernel's GROUP_SUMS of as many lanes (opts rule 4: softmax's 32 partial sums of exp2; its max and store loops,
    plain loops, are vectorized 16 wide then too) gets it as well: measured on one AVX-512 core, 2048^2, the kernel
    alone: softmax (with STASH) 3.0-3.1 -> 2.5 ms, log_softmax 2.8-2.9 -> 2.3-2.4, layernorm 1.28-1.32 -> 1.23-1.28."""
    return any(opt.startswith(("UPCAST", "GROUP_SUMS")) and int(opt.split("amount=")[1].rstrip(")")) >= WIDE_LANES
               for opt in program.applied_opts)


def with_attribute(k: RenderedKernel, attribute: str) -> RenderedKernel:
    """The kernel (and its row function) with `__attribute__((<attribute>))` in front of its signature."""
    row = None if k.row is None else (f"__attribute__(({attribute})) {k.row[0]}", k.row[1])
    return replace(k, signature=f"__attribute__(({attribute})) {k.signature}", row=row)


def has_lanes(program: Program) -> bool:
    """Has the program UPCAST or GROUP lanes (stage 03's opts)? MASK SELECTS (the Dialect's mask_selects) is for their
    straight lines, which gcc's basic-block vectorizer reads; a plain loop's `c ? a : b` it vectorizes or not as a
    loop, and where it doesn't the mask is the slower scalar code (W1's relu(a*b + c), 16M floats, 2 threads:
    9.1 -> 9.9 ms with the mask), so a program without lanes keeps the ternary."""
    return any(opt.startswith(("UPCAST", "GROUP")) for opt in program.applied_opts)


# ---- state of one walk ---------------------------------------------------------------------

class _Block(NamedTuple):
    """An open brace of the walk. (A NamedTuple, not a dataclass: a private record, which Python makes in ~0.06 ms
    where a dataclass takes ~0.4 ms, when this module is imported at a process's first realize: issue 12, W7.)"""

    uop: UOp  # the RANGE or IF that opened it
    defined: list[UOp]  # values declared inside: out of scope after the closing brace


class _Renderer:
    def __init__(self, program: Program, parallel: frozenset[UOp], dialect: Dialect = C_DIALECT):
        self.program, self.parallel, self.dialect = program, parallel, dialect
        self.names: dict[UOp, str] = {}
        self.counters: dict[str, int] = {}
        self.used_names: set[str] = set()
        self.blocks: list[_Block] = []
        self.lines: list[Line] = []
        self.helpers = Helpers(dialect)
        self.params: dict[int, str] = {}
        self.outputs: set[UOp] = set()
        self.dtypes_seen: set[DType] = set()
        self.needs_math = False  # a math function (sqrtf, ...)
        self.needs_constants = False  # an INFINITY or NAN literal
        self.out_of_scope: set[UOp] = set()
        # index arithmetic: values computed only from loop variables, thread indices and constants. Stage 03
        # proves these fit the index dtype, so they are written plainly even where signed ints need wrapping.
        self.index_values: set[UOp] = set()
        self.parallel_var: str | None = None  # the OpenMP loop's variable (split_rows calls the row function with it)
        self.fma: dict[UOp, UOp] = {}  # ADD -> the MUL it fuses (fma_accumulations), when the dialect has fma
        self.fused_muls: frozenset[UOp] = frozenset()
        self.vector_lanes: dict[UOp, tuple[UOp, int]] = {}  # LOAD -> (its group's lane-0 LOAD, lane): dialect's
        self.vectors: dict[UOp, str] = {}  # a group's lane-0 LOAD -> the vector variable all four lanes read
        self.max_loops: dict[UOp, tuple[UOp, UOp, UOp]] = {}  # RANGE -> (DEFINE_ACC, MAX, ASSIGN): vector_max_loops
        self.max_ops: frozenset[UOp] = frozenset()  # the MAXes of those loops
        self.max_values: dict[UOp, str] = {}  # such a MAX -> its value operand's C text
        self.offsets: dict[UOp, tuple[UOp, int]] = {}  # ADD(base, c) -> (base, c): constant_offsets, when the dialect's

    # naming and scope
    def new_name(self, prefix: str) -> str:
        while True:
            n = self.counters.get(prefix, 0)
            self.counters[prefix] = n + 1
            name = f"{prefix}{n}"
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    def claim(self, name: str) -> str:
        """`name` itself if no variable has it yet, else a fresh `name_0`, `name_1`, ...: a second loop
        with the same name (or a second acc0) must not shadow the first one's variable."""
        if name in self.used_names:
            return self.new_name(f"{name}_")
        self.used_names.add(name)
        return name

    def define(self, u: UOp, name: str) -> str:
        self.names[u] = name
        if self.blocks:
            self.blocks[-1].defined.append(u)
        if u.dtype is not None:
            self.dtypes_seen.add(u.dtype)
        return name

    def ref(self, u: UOp) -> str:
        """The C text of operand `u`: a literal for CONST, else the name of its variable (if still in scope)."""
        if u.op is UOps.CONST:
            return self.const(u)
        if u not in self.names:
            where = "inside a block that is already closed" if u in self.out_of_scope else "never"
            raise RenderError(f"operand {u!r} is used where it is not in scope in C (it was defined {where})")
        return self.names[u]

    def const(self, u: UOp) -> str:
        self.dtypes_seen.add(u.dtype)
        text = literal(u.arg, u.dtype)
        if text.lstrip("-") in ("INFINITY", "NAN"):
            self.needs_constants = True
        return text

    def emit(self, code: str, uop: UOp | None, note: str = "") -> None:
        self.lines.append(Line(len(self.blocks) + 1, code, uop, note))  # +1: inside the function

    def open_block(self, u: UOp, code: str, note: str = "") -> None:
        self.emit(code, u, note)
        self.blocks.append(_Block(u, []))

    def close_block(self, u: UOp, want: UOps) -> None:
        opener = u.src[0]
        if not self.blocks or self.blocks[-1].uop is not opener or opener.op is not want:
            raise RenderError(f"closes {opener!r}, which is not the innermost open block")
        block = self.blocks.pop()
        for v in block.defined:  # C scoping: the braces end these variables' lives
            self.names.pop(v, None)
        self.out_of_scope.update(block.defined)
        self.emit("}", u)

    def declare(self, u: UOp, prefix: str, expr: str) -> None:
        """`<type> <name> = <expr>;` for a value-producing UOp."""
        name = self.new_name(prefix)
        self.emit(f"{compute_type(u.dtype)} {name} = {expr};", u)
        self.define(u, name)

    # the pieces around the body
    def preamble(self) -> list[str]:
        d, out = self.dialect, []
        if self.needs_math:
            out.extend(d.math_preamble)
        if self.needs_constants:
            out.extend(d.constants_preamble)
        if dtypes.bool in self.dtypes_seen:
            out.extend(d.bool_preamble)
        if dtypes.float16 in self.dtypes_seen:
            out.extend(d.half_preamble)
        out = list(dict.fromkeys(out))  # C's math and constants preambles are the same #include
        out.extend(self.helpers.definitions.values())
        return out

    def signature(self) -> str:
        if sorted(self.params) != list(range(len(self.params))):
            raise RenderError(f"program {self.program.name}: DEFINE_GLOBAL indices {sorted(self.params)} "
                              f"must be 0..{len(self.params) - 1}, each once")
        params = ", ".join(self.params[i] for i in sorted(self.params))
        return f"{self.dialect.kernel_prefix} {self.program.name}({params})"


# ---- one rule per UOp kind ---------------------------------------------------------------------

def render_define_global(r: _Renderer, u: UOp) -> None:
    """A parameter, named data<index>: `float* restrict data0` if written, `const float* restrict data1` if not.

    `restrict` promises the compiler that no two buffers overlap (runtime.py checks it), which
    lets it vectorize loops without re-reading inputs after every store. (The size in the arg is
    for the runtime's checks; C pointers carry none.)"""
    index, _name, is_output, _size = u.arg
    if index in r.params:
        raise RenderError(f"a second DEFINE_GLOBAL with index {index}")
    name = f"data{index}"
    const = "" if is_output else "const "
    r.params[index] = f"{const}{storage_type(u.dtype)}* {r.dialect.restrict} {name}"
    if is_output:
        r.outputs.add(u)
    r.used_names.add(name)
    r.names[u] = name
    r.dtypes_seen.add(u.dtype)


def render_const(r: _Renderer, u: UOp) -> None:
    """Nothing to emit: a CONST is printed as a literal wherever it is used (checked here already)."""
    r.const(u)
    r.index_values.add(u)


def render_special(r: _Renderer, u: UOp) -> None:
    """A GPU thread/block index, in the dialect's spelling (CUDA: `int gidx0 = blockIdx.x;`)."""
    if r.dialect.special is None:
        raise RenderError(f"SPECIAL {u.arg!r} is a GPU thread/block index; the {r.dialect.name} backend runs GLOBAL "
                          "loops as RANGEs. Linearize the kernel for the C device (without global_size/local_size)")
    name, size = u.arg
    if name in r.used_names:
        raise RenderError(f"a second SPECIAL named {name}")
    r.used_names.add(name)
    for line in r.dialect.special(name, size):
        r.emit(line, u)
    r.define(u, name)
    r.index_values.add(u)


def render_define_local(r: _Renderer, u: UOp) -> None:
    """A block's shared array: `__shared__ float temp0[16];` (GPU dialects only)."""
    if r.dialect.shared is None:
        raise RenderError(f"DEFINE_LOCAL {u.arg!r} is GPU shared memory; the {r.dialect.name} backend has none "
                          "(linearize without gpu=True)")
    name, size = u.arg
    name = r.claim(name)
    r.emit(f"{r.dialect.shared} {storage_type(u.dtype)} {name}[{size}];", u)
    r.define(u, name)


def render_barrier(r: _Renderer, u: UOp) -> None:
    """Every thread of the block waits here until all have arrived (and their shared STOREs are visible)."""
    if r.dialect.barrier is None:
        raise RenderError(f"BARRIER is a GPU block barrier; the {r.dialect.name} backend has none")
    r.emit(r.dialect.barrier, u)


def render_range(r: _Renderer, u: UOp) -> None:
    """for (int gidx0 = 0; gidx0 < 16; gidx0++) {, with `#pragma omp parallel for` above it when
    `openmp_loops` chose it, or `#pragma GCC unroll N` above a small UPCAST loop. The variable is the
    loop's own name (stage 03 named it; the UOp dump shows the same name)."""
    loop_name, kind = u.arg
    if not isinstance(loop_name, str) or not _is_c_identifier(loop_name):
        raise RenderError(f"RANGE {u!r}: its name {loop_name!r} is not a C identifier; a RANGE's arg is "
                          "(name, LoopKind), e.g. ('gidx0', LoopKind.GLOBAL)")
    start, end = (r.ref(s) for s in u.src)
    name = r.claim(loop_name)
    if u in r.parallel:
        r.emit("#pragma omp parallel for", None, f"{_trip_count(u)}-iteration GLOBAL loop on all cores")
        r.parallel_var = name
    elif kind is LoopKind.UPCAST and 0 < (_trip_count(u) or 0) <= MAX_UNROLL:
        r.emit(r.dialect.unroll.format(n=_trip_count(u)), None, "UPCAST loop: unroll it fully")
    r.open_block(u, r.dialect.loop.format(type=compute_type(u.dtype), name=name, start=start, end=end))
    r.define(u, name)  # defined inside its own block: the variable exists only inside the loop
    r.index_values.add(u)


def render_end(r: _Renderer, u: UOp) -> None:
    r.close_block(u, UOps.RANGE)
    if u.src[0] in r.max_loops:
        render_vector_max(r, u.src[0])


def render_if(r: _Renderer, u: UOp) -> None:
    r.open_block(u, f"if ({r.ref(u.src[0])}) {{")


def render_endif(r: _Renderer, u: UOp) -> None:
    r.close_block(u, UOps.IF)


def render_load(r: _Renderer, u: UOp) -> None:
    """val0 = data1[idx]; gated: val0 = gate ? data1[idx] : alt. C evaluates only the chosen side of
    `?:`, so the (possibly out-of-bounds) address is never read when the gate is false."""
    buf, idx = r.ref(u.src[0]), r.ref(u.src[1])
    if u in r.vector_lanes:
        return render_vector_lane(r, u, buf, idx)
    value = render_load_value(f"{buf}[{idx}]", u.dtype, r.helpers)  # bfloat16: bf16_to_float(data1[idx])
    if len(u.src) == 4:
        if u.dtype == dtypes.float16:  # half: convert it first, so both sides of ?: are
            value = f"({compute_type(u.dtype)}){value}"  # float (CUDA C++ finds __half vs float ambiguous)
        r.declare(u, "val", f"{r.ref(u.src[2])} ? {value} : {r.ref(u.src[3])}")
    elif len(u.src) == 2 or (len(u.src) == 3 and u.src[2].op is UOps.BARRIER):  # shared memory, after the barrier
        r.declare(u, "val", value)
    else:
        raise RenderError("LOAD takes (buf, index), (buf, index, gate, alt) or (local buf, index, BARRIER)")


def render_vector_lane(r: _Renderer, u: UOp, buf: str, idx: str) -> None:
    """One lane of a vector load (the dialect's `vector_loads`: stage 05's VECTORIZE). Lane 0 first loads the
    whole group once, `float4 vec0 = *((const float4*)(data1 + alu21));`, then every lane reads its part:
    `float val0 = vec0.x;`. The Program still has four scalar LOADs: only their spelling changes."""
    first, lane = r.vector_lanes[u]
    if lane == 0:
        name = r.new_name("vec")
        r.emit(r.dialect.vector_load.format(name=name, buf=buf, index=idx), None,
               f"VECTORIZE: {buf}[{idx} .. +{len(r.dialect.vector_lanes) - 1}] in one "
               f"{4 * len(r.dialect.vector_lanes)}-byte load")
        r.vectors[u] = name
    if first not in r.vectors:
        raise RenderError(f"vector lane {lane} comes before its lane 0 {first!r}")
    r.declare(u, "val", f"{r.vectors[first]}.{r.dialect.vector_lanes[lane]}")


def render_store(r: _Renderer, u: UOp) -> None:
    """data0[idx] = value; gated: if (gate) data0[idx] = value;"""
    if u.src[0] not in r.outputs and u.src[0].op is not UOps.DEFINE_LOCAL:
        raise RenderError(f"STORE into {r.ref(u.src[0])}, an input buffer (DEFINE_GLOBAL is_output=False)")
    buf, idx, value = (r.ref(s) for s in u.src[:3])
    value = render_store_value(value, u.src[0].dtype, r.helpers)  # bfloat16: float_to_bf16(alu0)
    if len(u.src) == 4:
        r.emit(f"if ({r.ref(u.src[3])}) {buf}[{idx}] = {value};", u)
    elif len(u.src) == 3:
        r.emit(f"{buf}[{idx}] = {value};", u)
    else:
        raise RenderError("STORE takes (buf, index, value) or (buf, index, value, gate)")


def render_define_acc(r: _Renderer, u: UOp) -> None:
    """float acc0 = 0.0f;  (the accumulator's number is its arg)"""
    name = r.claim(f"acc{u.arg}")
    r.emit(f"{compute_type(u.dtype)} {name} = {r.ref(u.src[0])};", u)
    r.define(u, name)


def render_assign(r: _Renderer, u: UOp) -> None:
    """acc0 = alu3;  (later UOps that read the DEFINE_ACC see the new value)"""
    r.emit(f"{r.ref(u.src[0])} = {r.ref(u.src[1])};", u)


def render_alu(r: _Renderer, u: UOp) -> None:
    """<type> alu0 = <expression from alu.py>; float16 results get their rounding: (half)(a + b)."""
    if u.arg is Ops.CAST:  # a CAST may also arrive as ALU(Ops.CAST): render it the same way
        return render_cast_uop(r, u)
    if u in r.fused_muls:
        return  # its product is computed by the fmaf of the ADD that accumulates it (fma_accumulations)
    if u in r.fma:
        return render_fma(r, u, r.fma[u])
    rule = ALU_RULES.get(u.arg)
    if rule is None:
        raise RenderError(f"{u.arg!r} is not an ALU op with a C rule")
    operands = [r.ref(s) for s in u.src]
    if u in r.max_ops:
        r.max_values[u] = next(text for s, text in zip(u.src, operands) if s.op is not UOps.DEFINE_ACC)
    value_dtype = u.src[-1].dtype  # WHERE's condition is src[0]; its values, like every other op's, are src[-1]
    is_index = all(s in r.index_values for s in u.src)
    if u in r.offsets and is_index:  # only addresses read it: written into them, `data1[alu4 + 3L]` (constant_offsets)
        base, c = r.offsets[u]
        r.define(u, f"{r.ref(base)} {'-' if c < 0 else '+'} {abs(c)}L")  # its "name" is the sum: no line
        r.index_values.add(u)
        return
    if r.dialect.wrap_signed and needs_wrapping(u.arg, u.dtype) and not is_index:
        expr = render_wrapping(u.arg, operands, u.dtype)
    else:
        expr = rule(operands, value_dtype, r.helpers)
    if u.arg in MATH_OPS:
        r.needs_math = True
    expr = render_round(expr, u.dtype, r.helpers)  # numpy rounds every float16 result to half, (half)(a + b): so do
    r.declare(u, "alu", expr)                       # we; bfloat16 results likewise, bf16_round(a + b)
    if is_index:
        r.index_values.add(u)


def render_fma(r: _Renderer, add: UOp, mul: UOp) -> None:
    """float alu1 = fmaf(val0, val1, acc0);  for ADD(MUL(val0, val1), acc0): a*b + c rounded once (fma for double)."""
    acc = add.src[1] if add.src[0] is mul else add.src[0]
    a, b, c = r.ref(mul.src[0]), r.ref(mul.src[1]), r.ref(acc)
    r.needs_math = True
    name = r.new_name("alu")
    # the MUL has no line of its own: the comment names it and its provenance too (ALU ADD+MUL | from __mul__; sum)
    r.lines.append(Line(len(r.blocks) + 1, f"{compute_type(add.dtype)} {name} = fma{math_suffix(add.dtype)}({a}, {b}, "
                                           f"{c});", add, "FMA", fused=mul))
    r.define(add, name)


def render_cast_uop(r: _Renderer, u: UOp) -> None:
    """int cast0 = (int)val0;  bool cast1 = val0 != 0;  float cast2 = (half)val3;"""
    r.declare(u, "cast", render_cast(r.ref(u.src[0]), u.src[0].dtype, u.dtype, r.helpers))


UOP_RULES: dict[UOps, Callable[[_Renderer, UOp], None]] = {
    UOps.DEFINE_GLOBAL: render_define_global, UOps.CONST: render_const, UOps.SPECIAL: render_special,
    UOps.RANGE: render_range, UOps.END: render_end, UOps.IF: render_if, UOps.ENDIF: render_endif,
    UOps.LOAD: render_load, UOps.STORE: render_store, UOps.DEFINE_ACC: render_define_acc,
    UOps.ASSIGN: render_assign, UOps.ALU: render_alu, UOps.CAST: render_cast_uop,
    UOps.DEFINE_LOCAL: render_define_local, UOps.BARRIER: render_barrier,
}


# ---- FMA ---------------------------------------------------------------------------------------

FMA_DTYPES = (dtypes.float32, dtypes.float64)  # float16/bfloat16 round the product first (numpy's rule): not fused


def fma_accumulations(program: Program, chains: bool = True, partials: bool = True) -> dict[UOp, UOp]:
    """The accumulations to render as fused multiply-adds: ADD -> MUL, for every `ADD(MUL(a, b), acc)` (either order)
    of float32/float64 where `acc` is a DEFINE_ACC (a reduce's running value: a matmul's, a conv's, a dot product's)
    or an ADD fused so already (a chain of products added to it), and the MUL has no other use.

    Why: `fmaf(a, b, acc)` is one instruction where a multiply and an add are two (a GPU's multiply-add rate
    doubles; a CPU's vfmadd does what took vmulps and vaddps), and it rounds once. The result differs from numpy's
    twice-rounded a*b + c within float rounding (BLAS, behind numpy's own matmul, fuses too); a reduce's opts
    (BLOCK, SPLIT) already sum in another order than numpy's. Only accumulations: an elementwise a*b + c keeps
    numpy's rounding bit for bit. The switch: the Dialect's `fma` (SHRIMPGRAD_FMA).

    chains=False (the C dialect's `fma_chains` when its loads_first is off): a kernel whose accumulations chain (acc +
    a0*b0 + a1*b1: a conv's window unrolled into lanes) gets no FMA at all; gcc 12's vectorizer built no vectors from
    those chains of fmaf with their loads interleaved ("different interleaving chains in one node": see loads_first)
    and the conv ran 2x slower with them, scalar.

    partials=False (the C dialect's `fma_partials`): the partial sums of a GROUP (stage 04's SPLIT and ROW SPLIT: the
    accumulators that `group_partials` finds added together after the loop) are not fused. gcc 12 vectorizes the
    loop of 32 `acc_j = a_j*b_j + acc_j` but not of 32 `fmaf(a_j, b_j, acc_j)` ("no vectype"); measured on one
    core, 2048² rows: `(x * x).sum(-1)` 2.0 -> 1.1 ms, the layernorm row kernel (its variance) 5.0 -> 3.6 ms."""
    skip = set() if partials else group_partials(program)
    uses: dict[UOp, int] = {}
    for u in program.uops:
        for s in u.src:
            uses[s] = uses.get(s, 0) + 1
    fused: dict[UOp, UOp] = {}
    for u in program.uops:
        if u.op is not UOps.ALU or u.arg is not Ops.ADD or u.dtype not in FMA_DTYPES or len(u.src) != 2:
            continue
        for mul, acc in (u.src, u.src[::-1]):
            # acc: the accumulator, or the fused ADD before this one in its chain (a reduce axis unrolled into lanes
            # adds several products in a row: acc + a0*b0 + a1*b1 + ...)
            if (mul.op is UOps.ALU and mul.arg is Ops.MUL and mul.dtype == u.dtype and uses.get(mul) == 1
                    and (acc.op is UOps.DEFINE_ACC or acc in fused)
                    and acc not in skip):
                fused[u] = mul
                break
    if not chains and any(s in fused for add in fused for s in add.src):
        return {}
    return fused


def group_partials(program: Program) -> set[UOp]:
    """The DEFINE_ACCs that are partial results of one reduction: those that stage 03 adds together after the loop
    (a GROUP's combine, `acc1 + acc0`, then `acc2 + that`, ...)."""
    combines: set[UOp] = set()
    found: set[UOp] = set()
    for u in program.uops:
        if u.op is UOps.ALU and u.arg is Ops.ADD and len(u.src) == 2 and any(s.op is UOps.DEFINE_ACC for s in u.src) \
                and all(s.op is UOps.DEFINE_ACC or s in combines for s in u.src):
            combines.add(u)
            found.update(s for s in u.src if s.op is UOps.DEFINE_ACC)
    return found


# ---- LOADS FIRST ---------------------------------------------------------------------------------

# a straight run of lines, whose LOADs may move ahead: these UOps neither open nor close a block nor write memory
_STRAIGHT = frozenset({UOps.ALU, UOps.LOAD, UOps.CONST, UOps.CAST, UOps.ASSIGN, UOps.DEFINE_ACC})
_PURE_LEAVES = frozenset({UOps.CONST, UOps.RANGE, UOps.SPECIAL})  # values that read no memory and no accumulator


def loads_first(uops: tuple[UOp, ...]) -> list[UOp]:
    """The UOps in the order the renderer writes them: in each straight run (`_STRAIGHT`), the LOADs from a
    DEFINE_GLOBAL whose index (and gate) is pure arithmetic of loop variables and constants come first, with the
    arithmetic they need, data1's LOADs before data2's (each buffer's in Program order); then the rest of the run in
    Program order. A pure LOAD reads memory that no line of the run writes (a STORE ends the run) and no accumulator,
    so it may run earlier; the values computed from it keep their order.

    Why: gcc puts a commutative operation's operands in the order their definitions come (SSA numbers), so in a
    conv's unrolled window, `fmaf(x_l, w_k, acc)` with loads of x and w interleaved came out as fmaf(x, w, ..) in some
    lanes and fmaf(w, x, ..) in others, and its vectorizer gave up on them ("different interleaving chains in one
    node"): the FMA rule's chains ran scalar (fma_chains was off in C for that reason). With x's loads all before
    w's the lanes agree. Measured on one core, W5 with FMA chains: rule 1c 4.6 -> 2.6 ms (no FMA: 3.5), rule 1b
    9.3 -> 3.5 ms (no FMA: 6.3)."""
    pure: set[UOp] = set()
    out: list[UOp] = []
    run: list[UOp] = []

    def flush() -> None:
        ahead: set[UOp] = set()
        in_run = set(run)

        def need(u: UOp) -> None:
            if u in in_run and u not in ahead:
                for s in u.src:
                    need(s)
                ahead.add(u)

        for u in run:
            if u.op is UOps.LOAD and u.src[0].op is UOps.DEFINE_GLOBAL and all(s in pure for s in u.src[1:]):
                need(u)
        loads = sorted((u for u in run if u in ahead and u.op is UOps.LOAD), key=lambda u: u.src[0].arg[0])
        arithmetic = [u for u in run if u in ahead and u.op is not UOps.LOAD]  # the addresses' index math
        out.extend(arithmetic + loads + [u for u in run if u not in ahead])
        run.clear()

    for u in uops:
        if u.op in _PURE_LEAVES or (u.op in (UOps.ALU, UOps.CAST) and all(s in pure for s in u.src)):
            pure.add(u)
        if u.op in _STRAIGHT:
            run.append(u)
        else:
            flush()
            out.append(u)
    flush()
    return out


# ---- OFFSETS -----------------------------------------------------------------------------------

def constant_offsets(program: Program) -> dict[UOp, tuple[UOp, int]]:
    """The index ADDs to write into the addresses that read them: ADD -> (base, c), for every int32 `ADD(base,
    CONST c)` (either order) whose every use is the index of a LOAD or STORE. The renderer then gives the ADD no line
    and writes `data1[alu4 + 3L]` where `int alu7 = alu4 + 3; ... data1[alu7]` was (only for index arithmetic: loop
    variables and constants, which stage 03 proves can't overflow; an ADD of loaded values keeps its line).

    Why: the kernels are compiled with -fwrapv, under which `alu4 + 3` in int may wrap around, so the compiler must
    add it in 32 bits and sign-extend it before every address: an UPCAST's neighbouring loads, `data1[alu4 + k]` for
    k = 1..17, became 17 adds and 17 sign extensions per iteration, and the weights' loads as many again (W5's conv,
    24 of them per window row, and registers spilled for their addresses). With `3L` the add is 64-bit, which can't
    wrap for an index that fits, and the compiler folds the constant into the address: `vmovups 12(%rax)`. Measured
    on one core (AVX-512, W5's conv with the WINDOW TILES opts): 4.6 -> 3.5 ms."""
    uses: dict[UOp, list[UOp]] = {}
    for u in program.uops:
        for s in u.src:
            uses.setdefault(s, []).append(u)
    found: dict[UOp, tuple[UOp, int]] = {}
    for u in program.uops:
        if u.op is not UOps.ALU or u.arg is not Ops.ADD or u.dtype != dtypes.int32 or len(u.src) != 2:
            continue
        for base, c in (u.src, u.src[::-1]):
            if c.op is UOps.CONST and base.op is not UOps.CONST:
                readers = uses.get(u, [])
                if readers and all(x.op in (UOps.LOAD, UOps.STORE) and x.src[1] is u and u not in x.src[2:]
                                   for x in readers):
                    found[u] = (base, int(c.arg))
                break
    return found


# ---- a max reduction that vectorizes --------------------------------------------------------------

def vector_max_loops(program: Program) -> dict[UOp, tuple[UOp, UOp, UOp]]:
    """The max reduce loops `render_vector_max` rewrites: RANGE -> (DEFINE_ACC, MAX, ASSIGN), for each REDUCE loop
    whose body has no block, no STORE and one ASSIGN, `acc = MAX(value, acc)` (either order) of float32, where acc is
    a DEFINE_ACC (declared anywhere before: a max pool's inner window loop continues the outer one's max) read
    nowhere else in the loop (softmax's max, `x.max(axis=-1)`, max pooling)."""
    found: dict[UOp, tuple[UOp, UOp, UOp]] = {}
    open_loops: list[tuple[UOp, list[UOp]]] = []  # the RANGEs open here, and the UOps inside each
    for u in program.uops:
        for _, inside in open_loops:
            inside.append(u)
        if u.op is UOps.RANGE:
            open_loops.append((u, []))
        elif u.op is UOps.END and open_loops and open_loops[-1][0] is u.src[0]:
            rng, inside = open_loops.pop()
            match = _max_loop(rng, inside[:-1])
            if match is not None:
                found[rng] = match
    return found


def _max_loop(rng: UOp, inside: list[UOp]) -> tuple[UOp, UOp, UOp] | None:
    if rng.arg[1] is not LoopKind.REDUCE:
        return None
    if any(u.op in (UOps.RANGE, UOps.IF, UOps.STORE, UOps.DEFINE_ACC, UOps.BARRIER, UOps.DEFINE_LOCAL)
           for u in inside):
        return None
    assigns = [u for u in inside if u.op is UOps.ASSIGN]
    if len(assigns) != 1:
        return None
    assign = assigns[0]
    acc, mx = assign.src[0], assign.src[1]
    if not (mx.op is UOps.ALU and mx.arg is Ops.MAX and mx.dtype == dtypes.float32 and acc in mx.src
            and acc.op is UOps.DEFINE_ACC):
        return None
    if any(acc in u.src for u in inside if u is not mx and u is not assign) or mx.src[0] is mx.src[1]:
        return None
    return acc, mx, assign


def render_vector_max(r: _Renderer, rng: UOp) -> None:
    """Rewrite the just-closed max loop `rng` (see vector_max_loops) so gcc vectorizes it, with the same result.

    gcc keeps `acc = max_float32(val, acc)` scalar (a NaN-propagating max is no reduction it knows without
    -ffast-math), but it vectorizes an integer max. So the loop becomes, with the same body:

        float start0 = acc0; int max0 = ordered_float32(acc0); int nan0 = acc0 != acc0;
        for (...) { ...; int key0 = ordered_float32(val0); max0 = key0 > max0 ? key0 : max0; nan0 |= val0 != val0; }
        acc0 = unordered_float32(max0);
        if (nan0 || acc0 == 0.0f) { acc0 = start0; for (...) { the loop as it was } }

    `ordered_float32` maps a float's bits to an int of the same order, so the integer max is the float max when no
    value is NaN; the loop as it was runs again only where the max's exact rule decides what comes out: a NaN (which
    payload) or a zero max (which of 0.0 and -0.0). Rare rows pay twice; every row gets max_float32's bits."""
    acc, mx, assign = r.max_loops[rng]
    start = next(n for n in range(len(r.lines) - 1, -1, -1) if r.lines[n].uop is rng)
    loop = r.lines[start:]
    depth = loop[0].depth
    to_key, from_key = ordered_float_helpers(r.helpers)
    best, nan, start_value = r.new_name("max"), r.new_name("nan"), r.new_name("start")
    value = r.max_values[mx]  # the text of MAX's other operand, kept when it was rendered (now out of scope)
    fast: list[Line] = []
    for line in loop:
        if line.uop is mx:
            key = r.new_name("key")
            fast += [Line(line.depth, f"int {key} = {to_key}({value});", mx, "VECTOR MAX: the value as an ordered int"),
                     Line(line.depth, f"{best} = {key} > {best} ? {key} : {best};", None, "an integer max: vectorizes"),
                     Line(line.depth, f"{nan} = {nan} | ({value} != {value});", None, "any NaN?")]
        elif line.uop is not assign:
            fast.append(line)
    name = r.ref(acc)
    r.lines[start:] = [
        Line(depth, f"float {start_value} = {name};", None, "VECTOR MAX: the accumulator before the loop"),
        Line(depth, f"int {best} = {to_key}({name});", None, "the max so far, as an ordered int"),
        Line(depth, f"int {nan} = {name} != {name};", None, "whether a NaN was seen"),
        *fast,
        Line(depth, f"{name} = {from_key}({best});", acc, "the max, when no NaN was seen"),
        Line(depth, f"if ({nan} || {name} == 0.0f) {{", None, "a NaN or a zero max: the loop again, as it was"),
        Line(depth + 1, f"{name} = {start_value};", acc),
        *(replace(line, depth=line.depth + 1) for line in loop),
        Line(depth, "}", None),
    ]


# ---- OpenMP ------------------------------------------------------------------------------------

def _trip_count(rng: UOp) -> int | None:
    start, end = rng.src
    if start.op is UOps.CONST and end.op is UOps.CONST:
        return max(0, int(end.arg) - int(start.arg))
    return None


def openmp_loops(program: Program) -> frozenset[UOp]:
    """The RANGEs that get `#pragma omp parallel for`: top-level GLOBAL loops (not inside another
    loop or an IF) with at least 2 iterations, whose loop nest runs >= OPENMP_MIN_ITERATIONS
    innermost iterations, and that don't update an accumulator declared outside them (threads
    would race on it). GLOBAL iterations write disjoint outputs, so they may run in any order."""
    chosen: set[UOp] = set()
    depth = 0  # open RANGE/IF blocks
    accs_outside: set[UOp] = set()  # accumulators declared outside every candidate loop
    candidate: UOp | None = None
    nest: list[int] = []  # trip counts of the open loops inside the candidate (itself included)
    work, races = 0, False  # the candidate's most innermost iterations; whether it updates an outside acc
    for u in program.uops:
        if u.op in (UOps.RANGE, UOps.IF):
            if depth == 0 and u.op is UOps.RANGE and u.arg[1] is LoopKind.GLOBAL:
                candidate, nest, work, races = u, [], 0, False
            depth += 1
            if candidate is not None and u.op is UOps.RANGE:
                nest.append(_trip_count(u) or 0)
                work = max(work, math.prod(nest))
        elif u.op in (UOps.END, UOps.ENDIF):
            depth -= 1
            if candidate is not None and u.op is UOps.END:
                nest.pop()
            if candidate is not None and depth == 0:
                if not races and (_trip_count(candidate) or 0) >= 2 and work >= OPENMP_MIN_ITERATIONS:
                    chosen.add(candidate)
                candidate = None
        elif u.op is UOps.DEFINE_ACC and candidate is None:
            accs_outside.add(u)
        elif u.op is UOps.ASSIGN and candidate is not None and u.src[0] in accs_outside:
            races = True
    return frozenset(chosen)
