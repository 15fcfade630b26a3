"""Random Tensor programs, kept as the Python a user would write.

A `Program` is its input arrays plus source lines over names t0, t1, ...:

    t0 = Tensor(<2x3 float32 array>, device=DEVICE, requires_grad=True)     (an Input)
    t2 = t0.pad(((1, 0), (0, 2)), value=-2.0).flip((1,))                     (lines)
    t3 = (t2 < t1).where(t2, t1.sum(axis=-1, keepdim=True))
    t4 = t3.contiguous(); t4 += t1                                           (an in-place update)

Running a program is `exec` of those lines, and a reproducer prints the same lines: what was checked
is exactly what the reproducer runs. `tensor_programs()` draws programs with hypothesis (so failures
shrink: fewer steps, smaller shapes, simpler values), taking its shapes and movement chains from the
stage-01 strategies (`graph_strategies`). While drawing, every line is executed on lazy Tensors, so each
step knows the real shape and dtype it builds on (nothing is computed: drawing never realizes).

Families (the first draw, so shrinking moves towards `float`):
    float   float32 inputs (some float16/int32/bool ones): elementwise, reductions, movement ops, getitem,
            matmul, conv2d, pooling, casts and mixed dtypes, broadcasting, where, in-place updates
    int     int32/int8 inputs in [-8, 8]: integer arithmetic incl. // and % by zero, bit ops, shifts,
            wrap-around, comparisons, reductions, movement ops, matmul, casts; compared exactly
    grad    float64 inputs, smooth(ish) ops only, then backward() of a weighted sum of the outputs;
            gradients are checked against finite differences

Floats are kept comparable across backends the way stage 01's `graphs()` keeps them: every value has
a bound (a step that could exceed BOUND is squashed with tanh), nothing produces NaN/inf on purpose
(log/sqrt/division only see x*x + 1), and anything discontinuous (comparisons, floor, casts to int,
argmax) only sees *exact* values, whose bits every backend reproduces (inputs, movement, max/min,
abs/neg, comparisons, integer math). An output that is exact must match bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import signal
import threading
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from shrimpgrad.fuzz.graph_strategies import MAX_ELEMENTS, movement_chains, shapes
from shrimpgrad.graph import DType, Ops, dtypes

BOUND = 1e3  # |value| above this gets squashed: float16 and float32 tolerances stay meaningful
FAMILIES = ("float", "int", "grad")
RTOL = {dtypes.float16: 5e-3, dtypes.float32: 2e-4, dtypes.float64: 1e-9}  # relative tolerance of each float dtype


@dataclass(eq=False)
class Input:
    name: str
    values: np.ndarray  # already of its dtype and shape
    requires_grad: bool = False


@dataclass(eq=False)
class Output:
    name: str
    bound: float  # |value| <= bound (the comparison's absolute tolerance scales with it)
    exact: bool  # every backend must give the same bits


@dataclass(eq=False)
class Program:
    family: str
    inputs: list[Input]
    lines: list[str]
    outputs: list[Output]
    backward: bool = False  # loss = sum over float outputs of (out * loss_weight(out)).sum(); then backward()
    rtol: float = 2e-4  # of the least precise float dtype anywhere in the program (a float64 cast of a float32
    #                     result carries float32's rounding)

    def source(self) -> str:
        return "\n".join(self.lines)

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.source().encode())
        for i in self.inputs:
            h.update(f"{i.name} {i.values.dtype} {i.values.shape} {i.requires_grad}".encode() + i.values.tobytes())
        h.update(" ".join(o.name for o in self.outputs).encode())
        return h.hexdigest()

    def size(self) -> int:
        return len(self.lines) + sum(i.values.size for i in self.inputs)


def namespace(device: str) -> dict:
    """The globals a program's lines run with."""
    from shrimpgrad import Tensor

    return {"Tensor": Tensor, "dtypes": dtypes, "np": np, "DEVICE": device}


def make_inputs(program: Program, device: str, shift: dict[str, np.ndarray] | None = None) -> dict:
    """The program's input Tensors on `device` (each plus `shift[name]` if given: finite differences)."""
    from shrimpgrad import Tensor

    env = {}
    for i in program.inputs:
        values = i.values if shift is None or i.name not in shift else i.values + shift[i.name]
        env[i.name] = Tensor(values, device=device, requires_grad=True if i.requires_grad else None)
    return env


def run_lines(program: Program, env: dict, device: str) -> dict:
    """Execute the program's lines in `env` (names -> Tensors); returns env."""
    scope = namespace(device)
    scope.update(env)
    exec(compile(program.source(), "<fuzz program>", "exec"), scope)  # noqa: S102 - our own generated source
    return scope


def loss_weight(shape: tuple[int, ...]) -> np.ndarray:
    """A fixed, uneven weight per output element, so the loss's gradient isn't symmetric."""
    return np.cos(np.arange(math.prod(shape), dtype=np.float64) * 1.7 + 0.3).reshape(shape)


# ---- drawing programs ------------------------------------------------------------------------------------

@dataclass
class _Var:
    name: str
    shape: tuple[int, ...]
    dtype: DType
    bound: float
    exact: bool


@dataclass
class _Builder:
    """The program drawn so far, with a lazy Tensor per name (to read real shapes and dtypes)."""

    draw: object
    family: str
    inputs: list[Input] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    vars: list[_Var] = field(default_factory=list)
    env: dict = field(default_factory=lambda: namespace("C"))
    mutated: list[str] = field(default_factory=list)
    broken: bool = False  # a line raised while drawing: the program ends there (the check reports it)

    # -- names and lines --
    def fresh(self) -> str:
        return f"t{len(self.inputs) + len(self.lines)}"

    def add_input(self, shape: tuple[int, ...], dtype: DType, requires_grad: bool = False) -> _Var:
        values = _values(self.draw, shape, dtype, random_only=self.family == "grad")
        name = self.fresh()
        self.inputs.append(Input(name, values, requires_grad))
        from shrimpgrad import Tensor

        self.env[name] = Tensor(values, device="C", requires_grad=True if requires_grad else None)
        bound = float(np.abs(values).max()) if values.size and dtype != dtypes.bool else 1.0
        var = _Var(name, shape, self.env[name].dtype, max(bound, 1.0), True)
        self.vars.append(var)
        return var

    def emit(self, expr: str, bound: float, exact: bool, name: str | None = None) -> _Var | None:
        """Add `name = expr` (a statement if name is ""), run it lazily, and record the new variable."""
        dtype_guess = None
        if name is None and self.family != "int" and bound > BOUND:
            expr, bound, exact = f"({expr}).tanh()", 1.0, False
        name = self.fresh() if name is None else name
        line = expr if name == "" else f"{name} = {expr}"
        self.lines.append(line)
        try:
            with _time_limit(BUILD_SECONDS):
                exec(line, self.env)  # noqa: S102 - lazy: builds graph nodes, computes nothing
        except Exception:  # noqa: BLE001 - the checker re-runs it (in its worker) and reports what happened
            self.broken = True
            return None
        if name == "":
            return None
        t = self.env[name]
        if t.dtype.is_float and not math.isfinite(bound):
            bound = BOUND
        var = _Var(name, t.shape, t.dtype if dtype_guess is None else dtype_guess, max(bound, 1.0), exact)
        self.vars.append(var)
        return var

    # -- picking operands --
    def pick(self, pred=lambda v: True) -> _Var | None:
        fits = [v for v in self.vars if pred(v)]
        if not fits:
            return None
        # mostly one of the newest: deep chains, but older names come back (shared subexpressions)
        return fits[-1 - self.draw(st.integers(0, len(fits) - 1))] if fits else None

    def partner(self, a: _Var, pred=lambda v: True) -> _Var | None:
        """A variable that broadcasts with `a` to a shape of at most MAX_ELEMENTS elements."""
        return self.pick(lambda v: pred(v) and _broadcasts(a.shape, v.shape))


BUILD_SECONDS = 10  # a line that takes longer to *build* (no computing) ends the program; the worker reports it


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise TimeoutError in the block after `seconds` (main thread only: SIGALRM), so drawing a program whose
    graph building hangs doesn't hang the fuzzer itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"building the line took over {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        return math.prod(np.broadcast_shapes(a, b)) <= MAX_ELEMENTS
    except ValueError:
        return False


def _values(draw, shape: tuple[int, ...], dtype: DType, random_only: bool) -> np.ndarray:
    """Input values: a simple pattern (what shrinking moves towards) or pseudo-random ones from a drawn seed."""
    n = math.prod(shape)
    kind = 1 if random_only else draw(st.integers(0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)) if kind else 0)
    if dtype == dtypes.bool:
        v = (np.arange(n) % 3 == 0) if kind == 0 else rng.random(n) < 0.5
    elif dtype.is_int:
        v = (np.arange(n) % 7 - 3) if kind == 0 else rng.integers(-8, 9, n)
    else:
        v = (np.arange(n) % 5 - 2) * 0.5 if kind == 0 else rng.uniform(-2, 2, n)
    return np.asarray(v, dtype=dtype.np).reshape(shape)


def _axes_arg(draw, ndim: int) -> str:
    """`None`, an int (maybe negative) or a tuple of distinct axes (maybe negative, any order)."""
    if ndim == 0:
        return "None"
    kind = draw(st.sampled_from(["tuple", "int", "None"]))
    if kind == "None":
        return "None"
    if kind == "int":
        a = draw(st.integers(0, ndim - 1))
        return str(a - ndim if draw(st.booleans()) else a)
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return repr(tuple(a - ndim if draw(st.booleans()) else a for a in axes))


def _reduced_size(shape: tuple[int, ...], axes: str) -> int:
    if axes == "None":
        return math.prod(shape)
    picked = eval(axes)  # noqa: S307 - our own literal
    picked = (picked,) if isinstance(picked, int) else picked
    return math.prod(shape[a] for a in picked)


# ---- steps: each adds one or two lines ----------------------------------------------------------------------
# A step gets the builder and an operand `a` (a _Var). Templates name the operand {a} (and {b}, a partner).

_SMOOTH_UNARY = [  # (template, bound of the result given a's bound, keeps exactness)
    ("-{a}", lambda b: b, True),
    ("{a}.abs()", lambda b: b, True),
    ("{a}.relu()", lambda b: b, True),
    ("{a}.clip(-1.0, 0.5)", lambda b: 1.0, True),
    ("{a}.tanh()", lambda b: 1.0, False),
    ("{a}.sigmoid()", lambda b: 1.0, False),
    ("{a}.sin()", lambda b: 1.0, False),
    ("{a}.cos()", lambda b: 1.0, False),
    ("{a}.tanh().exp()", lambda b: 3.0, False),
    ("({a} * {a} + 1).log()", lambda b: math.log(b * b + 1) + 1, False),
    ("({a} * {a} + 1).sqrt()", lambda b: b + 1, False),
    ("({a} * {a} + 1).rsqrt()", lambda b: 1.0, False),
    ("({a} * {a} + 1).reciprocal()", lambda b: 1.0, False),
    ("{a}.softplus()", lambda b: b + 1, False),
    ("{a}.gelu()", lambda b: b, False),
    ("{a}.silu()", lambda b: b, False),
    ("{a}.elu()", lambda b: b, False),
    ("{a}.leaky_relu(0.1)", lambda b: b, False),
    ("{a}.mish()", lambda b: b, False),
    ("{a}.square()", lambda b: b * b, False),
    ("{a}.erf()", lambda b: 1.0, False),
    ("({a} * 0.5).sinh()", lambda b: math.sinh(min(b * 0.5, 20)), False),
]
_STEP_UNARY = ["{a}.floor()", "{a}.ceil()", "{a}.round()", "{a}.trunc()", "{a}.sign()"]  # exact inputs only
_AXIS_OPS = [  # (template with {ax}, bound, needs float)
    ("{a}.softmax({ax})", lambda b, n: 1.0),
    ("{a}.log_softmax({ax})", lambda b, n: 2 * b + math.log(max(n, 1)) + 1),
    ("{a}.cumsum({ax})", lambda b, n: b * n),
    ("{a}.logsumexp({ax})", lambda b, n: b + math.log(max(n, 1)) + 1),
]
_BINARY = [  # (template, bound from (a, b)); these work for every numeric dtype
    ("{a} + {b}", lambda x, y: x + y),
    ("{a} - {b}", lambda x, y: x + y),
    ("{a} * {b}", lambda x, y: x * y),
    ("{a}.maximum({b})", lambda x, y: max(x, y)),
    ("{a}.minimum({b})", lambda x, y: max(x, y)),
]
_FLOAT_BINARY = [
    ("{a} / ({b} * {b} + 1)", lambda x, y: x),
    ("({a}.abs() + 0.5) ** {b}.tanh()", lambda x, y: 2 * (x + 0.5)),
    ("{a}.lerp({b}, 0.25)", lambda x, y: x + y),
]
_SCALAR = ["{a} * {c}", "{a} + {c}", "{c} - {a}", "{a} * {a} * {c}"]
_INT_BINARY = ["{a} // {b}", "{a} % {b}", "{a} & {b}", "{a} | {b}", "{a} ^ {b}"]


def _unary(bd: _Builder, a: _Var) -> None:
    if a.dtype.is_float and a.exact and bd.family != "grad" and bd.draw(st.integers(0, 3)) == 0:
        bd.emit(bd.draw(st.sampled_from(_STEP_UNARY)).format(a=a.name), a.bound + 1, True)
        return
    if not a.dtype.is_float and a.dtype != dtypes.bool:
        t = bd.draw(st.sampled_from(["-{a}", "{a}.abs()", "~{a}", "{a} << 2", "{a} >> 1", "{a}.maximum(0)"]))
        bd.emit(t.format(a=a.name), a.bound * 4, True)
        return
    if a.dtype == dtypes.bool:
        bd.emit(bd.draw(st.sampled_from(["~{a}", "{a}.logical_not()", "{a}.int()"])).format(a=a.name), 1, True)
        return
    t, bound, exact = bd.draw(st.sampled_from(_SMOOTH_UNARY))
    bd.emit(t.format(a=a.name), bound(a.bound), exact and a.exact)


def _binary(bd: _Builder, a: _Var) -> None:
    same_kind = (lambda v: v.dtype == a.dtype) if bd.family == "grad" else (lambda v: v.dtype != dtypes.bool)
    if a.dtype == dtypes.bool:
        b = bd.partner(a, lambda v: v.dtype == dtypes.bool)
        if b is not None:
            op = bd.draw(st.sampled_from(["&", "|", "^"]))
            bd.emit(f"{a.name} {op} {b.name}", 1, True)
        return
    if bd.draw(st.integers(0, 3)) == 0:  # with a Python scalar (weak dtype)
        c = bd.draw(st.sampled_from([2, -3, 0.5, 1.5] if a.dtype.is_float else [2, -3, 0, 7]))
        t = bd.draw(st.sampled_from(_SCALAR))
        bd.emit(t.format(a=a.name, c=c), a.bound * a.bound * 3 + 3, a.exact and not a.dtype.is_float)
        return
    b = bd.partner(a, same_kind)
    if b is None:
        return _unary(bd, a)
    both_int = not a.dtype.is_float and not b.dtype.is_float
    choices = [t for t, _ in _BINARY] + ([t for t, _ in _FLOAT_BINARY] if a.dtype.is_float else []) + \
        (_INT_BINARY if both_int else [])
    t = bd.draw(st.sampled_from(choices))
    bounds = dict(_BINARY + _FLOAT_BINARY)
    bound = bounds[t](a.bound, b.bound) if t in bounds else a.bound * b.bound + 1
    exact = both_int or (a.exact and b.exact and t in ("{a}.maximum({b})", "{a}.minimum({b})"))
    bd.emit(t.format(a=a.name, b=b.name), bound, exact)


def _compare_or_where(bd: _Builder, a: _Var) -> None:
    """A comparison of exact values, then maybe a where() on it (both need exact inputs to agree everywhere)."""
    if not a.exact or a.dtype == dtypes.bool:
        return _unary(bd, a)
    u = bd.partner(a, lambda v: v.exact and v.dtype != dtypes.bool)
    op = bd.draw(st.sampled_from(["<", ">", "==", "!=", "<=", ">="]))
    cond = f"({a.name} {op} {u.name})"
    if bd.draw(st.booleans()) and bd.family != "grad":
        bd.emit(cond, 1, True)
        return
    cshape = np.broadcast_shapes(a.shape, u.shape)
    ok = lambda v: v.dtype != dtypes.bool and (bd.family != "grad" or v.dtype.is_float)  # noqa: E731
    x = bd.pick(lambda v: ok(v) and _broadcasts(cshape, v.shape))
    if x is None:
        return
    xshape = np.broadcast_shapes(cshape, x.shape)
    y = bd.pick(lambda v: ok(v) and _broadcasts(xshape, v.shape))
    other = y.name if bd.draw(st.booleans()) or bd.family == "grad" else bd.draw(st.sampled_from(["3", "1.5", "-2"]))
    bd.emit(f"{cond}.where({x.name}, {other})", max(x.bound, y.bound, 3), x.exact and y.exact)


def _reduce(bd: _Builder, a: _Var) -> None:
    axes = _axes_arg(bd.draw, len(a.shape))
    keep = bd.draw(st.booleans())
    n = max(_reduced_size(a.shape, axes), 1)
    if a.dtype == dtypes.bool:
        op = bd.draw(st.sampled_from(["any", "all", "sum"]))
        bd.emit(f"{a.name}.{op}({axes}, keepdim={keep})", n, True)
        return
    ops = ["sum", "mean", "prod"]
    if _reduced_size(a.shape, axes) > 0:  # max/min/argmax of an empty axis is an error (PyTorch's too)
        ops += ["max", "min"] + (["argmax", "argmin"] if a.exact and bd.family != "grad" else [])
    op = bd.draw(st.sampled_from(ops))
    if op in ("argmax", "argmin"):
        ax = axes if axes == "None" or "(" not in axes else str(eval(axes)[0])  # noqa: S307 - one axis
        bd.emit(f"{a.name}.{op}({ax}, keepdim={keep})" if ax != "None" else f"{a.name}.{op}()", n, True)
        return
    if op == "prod":
        src = a.name if not a.dtype.is_float else f"{a.name}.tanh()"  # |tanh| < 1: the product stays bounded
        bound = min(a.bound, 1e9) ** min(n, 30) if not a.dtype.is_float else 1.0
        bd.emit(f"{src}.prod({axes}, keepdim={keep})", bound, not a.dtype.is_float)
        return
    bound = a.bound * n if op == "sum" else a.bound
    exact = a.exact and (op in ("max", "min") or not a.dtype.is_float)
    bd.emit(f"{a.name}.{op}({axes}, keepdim={keep})", bound, exact and op != "mean")


def _axis_op(bd: _Builder, a: _Var) -> None:
    if not a.shape or not a.dtype.is_float:
        return _reduce(bd, a)
    ax = bd.draw(st.integers(-len(a.shape), len(a.shape) - 1))
    t, bound = bd.draw(st.sampled_from(_AXIS_OPS))
    bd.emit(t.format(a=a.name, ax=ax), bound(a.bound, a.shape[ax]), False)


def _movement(bd: _Builder, a: _Var) -> None:
    """A chain of 1-3 movement ops from stage 01's `movement_chains`, written as Tensor methods."""
    chain = bd.draw(movement_chains(a.shape, max_size=3))
    expr = a.name
    for op, arg in chain:
        if op is Ops.RESHAPE:
            shape = list(arg)
            if shape and math.prod(shape) > 0 and bd.draw(st.booleans()):
                shape[bd.draw(st.integers(0, len(shape) - 1))] = -1
            expr += f".reshape({tuple(shape)!r})"
        elif op is Ops.PERMUTE:
            expr += f".permute({arg!r})"
        elif op is Ops.SHRINK:
            expr += f".shrink({arg!r})"
        elif op is Ops.FLIP:
            axes = tuple(i for i, f in enumerate(arg) if f)
            expr += f".flip({axes!r})" if axes else ""
        elif op is Ops.EXPAND:
            expr += f".expand({arg!r})"
        else:  # PAD, with a value that keeps the result exact
            value = bd.draw(st.sampled_from([0, -2.0, 1.5])) if a.dtype.is_float else bd.draw(st.sampled_from([0, 3]))
            expr += f".pad({arg!r}, value={value})" if a.dtype != dtypes.bool else f".pad({arg!r})"
    if expr != a.name:
        bd.emit(expr, a.bound + 2, a.exact)


def _shape_op(bd: _Builder, a: _Var) -> None:
    """getitem with ints, slices (negative steps too), None and ..., or one of the named reshapers."""
    if not a.shape:
        return _movement(bd, a)
    kind = bd.draw(st.sampled_from(["getitem", "getitem", "transpose", "flatten", "unsqueeze", "squeeze", "repeat",
                                    "cat"]))
    nd = len(a.shape)
    if kind == "getitem":
        parts, k = [], bd.draw(st.integers(1, nd))
        ellipsis_first = bd.draw(st.booleans())  # then the parts index the last k axes
        for s in (a.shape[nd - k:] if ellipsis_first else a.shape[:k]):
            pick = bd.draw(st.sampled_from(["int", "slice", "full", "none"] if s else ["slice", "full", "none"]))
            if pick == "int":
                i = bd.draw(st.integers(-s, s - 1))
                parts.append(str(i))
            elif pick == "slice":
                step = bd.draw(st.sampled_from([1, 2, -1, -2]))
                lo, hi = bd.draw(st.integers(-s, s)), bd.draw(st.integers(-s, s))
                parts.append(f"{lo}:{hi}:{step}")
            elif pick == "none":
                parts += ["None", ":"]
            else:
                parts.append(":")
        if ellipsis_first:
            parts.insert(0, "...")
        elif bd.draw(st.booleans()):
            parts.append("...")
        expr = f"{a.name}[{', '.join(parts)}]"
    elif kind == "transpose" and nd >= 2:
        expr = f"{a.name}.transpose({bd.draw(st.integers(-nd, nd - 1))}, {bd.draw(st.integers(-nd, nd - 1))})"
    elif kind == "flatten":
        expr = f"{a.name}.flatten({bd.draw(st.integers(0, nd - 1))})"
    elif kind == "unsqueeze":
        expr = f"{a.name}.unsqueeze({bd.draw(st.integers(-nd - 1, nd))})"
    elif kind == "squeeze":
        expr = f"{a.name}.squeeze()"
    elif kind == "repeat" and math.prod(a.shape) * 4 <= MAX_ELEMENTS:
        expr = f"{a.name}.repeat({tuple(bd.draw(st.integers(1, 2)) for _ in a.shape)!r})"
    elif kind == "cat" and math.prod(a.shape) * 2 <= MAX_ELEMENTS:
        b = bd.pick(lambda v: v.shape == a.shape and v.dtype == a.dtype)
        expr = f"{a.name}.cat({b.name}, dim={bd.draw(st.integers(-nd, nd - 1))})"
        bd.emit(expr, max(a.bound, b.bound), a.exact and b.exact)
        return
    else:
        return _movement(bd, a)
    bd.emit(expr, a.bound, a.exact)


def _matmul(bd: _Builder, a: _Var) -> None:
    """a @ w with a new weight input w (k, m); 1-d and batched a included."""
    if a.dtype == dtypes.bool or not a.shape:
        return _binary(bd, a)
    k, m = a.shape[-1], bd.draw(st.integers(1, 4))
    if math.prod(a.shape[:-1]) * m > MAX_ELEMENTS:
        return _reduce(bd, a)
    w = bd.add_input((k, m), dtypes.float64 if bd.family == "grad" else a.dtype, requires_grad=bd.family == "grad")
    form = bd.draw(st.sampled_from(["{a} @ {w}", "{a}.dot({w})", "{a}.matmul({w})"]))
    bd.emit(form.format(a=a.name, w=w.name), a.bound * w.bound * k, not a.dtype.is_float)


def _conv(bd: _Builder, a: _Var) -> None:
    """conv2d (stride, padding, dilation) or pooling of a reshaped to (1, 1, h, w)."""
    n = math.prod(a.shape)
    pairs = [(h, n // h) for h in range(2, n) if n % h == 0 and n // h >= 2]
    if not a.dtype.is_float or not pairs:
        return _movement(bd, a)
    h, w = bd.draw(st.sampled_from(pairs))
    x = f"{a.name}.reshape(1, 1, {h}, {w})"
    kind = bd.draw(st.sampled_from(["conv", "conv", "max_pool2d", "avg_pool2d"]))
    if kind != "conv":
        bd.emit(f"{x}.{kind}(2)", a.bound, a.exact and kind == "max_pool2d")
        return
    stride, padding = bd.draw(st.integers(1, 2)), bd.draw(st.integers(0, 1))
    kh, kw = bd.draw(st.integers(1, min(3, h + 2 * padding))), bd.draw(st.integers(1, min(3, w + 2 * padding)))
    o = bd.draw(st.integers(1, 2))
    wt = bd.add_input((o, 1, kh, kw), a.dtype, requires_grad=bd.family == "grad")
    bd.emit(f"{x}.conv2d({wt.name}, stride={stride}, padding={padding})", a.bound * wt.bound * kh * kw, False)


def _cast(bd: _Builder, a: _Var) -> None:
    """Casts that are defined everywhere: float->int only of exact values in range, int->int wraps."""
    if a.dtype.is_float:
        options = [("half()", a.bound, a.exact), ("float()", a.bound, a.exact), ("double()", a.bound, a.exact)]
        if a.exact and a.bound < 100:
            options += [("int()", a.bound, True), ("cast(dtypes.int8)", a.bound, True), ("bool()", 1, True)]
    elif a.dtype == dtypes.bool:
        options = [("int()", 1, True), ("float()", 1, True), ("half()", 1, True)]
    else:
        options = [("float()", a.bound, True), ("cast(dtypes.int8)", 128, True), ("cast(dtypes.int16)", a.bound, True),
                   ("bool()", 1, True), ("cast(dtypes.int64)", a.bound, True)]
    method, bound, exact = bd.draw(st.sampled_from(options))
    bd.emit(f"{a.name}.{method}", bound, exact)


def _inplace(bd: _Builder, a: _Var) -> None:
    """A lazy in-place update: of a copy (contiguous), or of an input that earlier lines already read."""
    if bd.draw(st.booleans()):
        target = bd.pick(lambda v: any(i.name == v.name for i in bd.inputs) and v.dtype != dtypes.bool)
    else:
        target = None
    if target is None:
        if a.dtype == dtypes.bool:
            return _cast(bd, a)
        target = bd.emit(f"{a.name}.contiguous()", a.bound, a.exact)
        if target is None:
            return
    kind = bd.draw(st.sampled_from(["+=", "*=", "assign", "assign_view", "setitem"]))
    name = target.name
    if kind in ("+=", "*="):
        b = bd.partner(target, lambda v: v.dtype == target.dtype and _broadcasts(target.shape, v.shape)
                       and np.broadcast_shapes(target.shape, v.shape) == target.shape)
        rhs = b.name if b is not None else "2"
        rb = b.bound if b is not None else 2
        bd.emit(f"{name} {kind} {rhs}", 0, False, name="")
        target.bound = target.bound + rb if kind == "+=" else target.bound * rb
        target.exact = target.exact and (b is None or b.exact) and not target.dtype.is_float
    elif kind == "assign":
        bd.emit(f"{name}.assign({name} * 2 + 1)", 0, False, name="")
        target.bound, target.exact = target.bound * 2 + 1, target.exact and not target.dtype.is_float
    elif kind == "assign_view" and target.shape:  # reads its own target through another view (rule B9)
        bd.emit(f"{name}.assign({name}.flip(0))", 0, False, name="")
    elif target.shape:
        s = target.shape[0]
        lo = bd.draw(st.integers(0, max(s - 1, 0)))
        value = 5 if not target.dtype.is_float else -1.5
        bd.emit(f"{name}[{lo}:{s}] = {value}", 0, False, name="")
        target.bound = max(target.bound, abs(value))
    bd.mutated.append(name)
    if target.bound > BOUND and target.dtype.is_float:  # squash in a new variable; the update stays in place
        bd.emit(f"{name}.tanh()", 1.0, False)


_FORWARD_STEPS = [_unary, _binary, _binary, _compare_or_where, _reduce, _axis_op, _movement, _movement, _shape_op,
                  _matmul, _conv, _cast, _inplace]
_INT_STEPS = [_unary, _binary, _binary, _binary, _compare_or_where, _reduce, _movement, _movement, _shape_op,
              _matmul, _cast, _inplace]
_GRAD_STEPS = [_unary, _unary, _binary, _binary, _compare_or_where, _reduce, _axis_op, _movement, _movement,
               _shape_op, _matmul, _conv]


@st.composite
def tensor_programs(draw, families: tuple[str, ...] = FAMILIES, max_steps: int = 12) -> Program:
    """A random well-typed Tensor program (see the module docstring)."""
    family = draw(st.sampled_from(families))
    bd = _Builder(draw, family)
    base = draw(shapes(min_dims=draw(st.integers(0, 1)), max_dims=3))
    first = {"float": dtypes.float32, "int": dtypes.int32, "grad": dtypes.float64}[family]
    bd.add_input(base, first, requires_grad=family == "grad")
    for _ in range(draw(st.integers(0, 2))):  # more inputs: same shape, broadcastable, other dtypes
        shape = tuple(draw(st.sampled_from([s, 1])) for s in base)[draw(st.integers(0, len(base))):]
        if family == "float":
            dtype = draw(st.sampled_from([dtypes.float32, dtypes.float32, dtypes.float16, dtypes.int32, dtypes.bool]))
        elif family == "int":
            dtype = draw(st.sampled_from([dtypes.int32, dtypes.int32, dtypes.int8, dtypes.bool]))
        else:
            dtype = dtypes.float64
        bd.add_input(shape, dtype, requires_grad=family == "grad" and draw(st.integers(0, 3)) > 0)
    steps = {"float": _FORWARD_STEPS, "int": _INT_STEPS, "grad": _GRAD_STEPS}[family]
    for _ in range(draw(st.integers(2, max_steps))):
        if bd.broken:
            break
        step = draw(st.sampled_from(steps))
        step(bd, bd.pick())
    return _finish(draw, bd)


def _finish(draw, bd: _Builder) -> Program:
    """Pick the outputs: the newest variable, up to two others, and every variable updated in place."""
    made = [v for v in bd.vars if not any(i.name == v.name for i in bd.inputs)] or bd.vars
    chosen = [made[-1]] + draw(st.lists(st.sampled_from(made), max_size=2))
    chosen += [v for v in bd.vars if v.name in bd.mutated]
    if bd.family == "grad":
        chosen = [v for v in chosen if v.dtype.is_float] or [made[-1]]
    outputs, seen = [], set()
    for v in chosen:
        if v.name not in seen:
            seen.add(v.name)
            outputs.append(Output(v.name, v.bound, v.exact))
    floats = {v.dtype for v in bd.vars if v.dtype.is_float}
    loosest = (d for d in (dtypes.float16, dtypes.float32, dtypes.float64) if d in floats)
    rtol = RTOL[next(loosest, dtypes.float32)]
    return Program(bd.family, bd.inputs, bd.lines, outputs, backward=bd.family == "grad", rtol=rtol)
