"""ALU rules: one named function per stage-01 op, from C operand texts to one C expression.

Operands are always simple: a variable name (`val0`, `alu3`, `ridx1`) or a literal (`2.5f`,
`(-2147483647 - 1)`), never a compound expression, so no rule needs to think about precedence.
Each rule receives the operand texts, the dtype the operands have (for WHERE: the dtype of the
two values) and a `Helpers` set, to which it adds the small C functions it calls.

The semantics are the stage-01 evaluator's (stages/01_graph/evaluate.py), which are numpy's:

    op      C                                   why not the plain C operator
    IDIV    idiv_int32(a, b)                    C's / rounds toward zero and traps on x/0; numpy floors, x//0 = 0
    MOD     mod_int32(a, b)                     C's % takes the dividend's sign; numpy's the divisor's, x%0 = 0
    MAX     max_float32(a, b)                   fmaxf ignores NaN; np.maximum propagates it
    WHERE   select_float32(c, a, b) (float, C)   the same bits as c ? a : b, through a mask gcc's basic-block
                                        vectorizer takes (the Dialect's mask_selects; README, Small kernels)
    CAST    x != 0 (to bool)                    (bool)x is the same in C, but `!= 0` says what it means
    others  a + b, a < b, sqrtf(a), ...         same meaning as numpy (IEEE floats, wrapping ints with -fwrapv)

Results of dtype float16 and bfloat16 are rounded back by the caller with `render_round` (see ctype.py).

Dialects (dialect.py) change only spellings: the helper functions' prefix (`static inline`, or
`static __device__ inline` in CUDA), the math functions' names, and, where the language has no
-fwrapv (CUDA), signed int + - * written through unsigned arithmetic (`render_wrapping`), which
wraps by definition.
"""

from __future__ import annotations

from collections.abc import Callable

from shrimpgrad.graph import DType, Ops, dtypes

from .ctype import RenderError, compute_type, math_suffix
from .dialect import C_DIALECT, Dialect


class Helpers:
    """The helper C functions a kernel uses, each defined once, in first-use order, in `dialect`'s spelling."""

    def __init__(self, dialect: Dialect = C_DIALECT) -> None:
        self.definitions: dict[str, str] = {}
        self.dialect = dialect

    def use(self, name: str, definition: str) -> str:
        """Record `definition` under `name` (the first time only) and return the name to call."""
        self.definitions.setdefault(name, definition)
        return name


# ---- helper C functions ------------------------------------------------------------------
# Each returns the C source of one helper function named <op>_<dtype> (idiv_int32, mod_uint8, max_float32);
# the render_* rule below calls it by that name. Two parallel functions rather than one with a switch:
# IDIV and MOD differ in exactly the lines a reader needs to check against numpy.

def _floor_div_definition(dt: DType, d: Dialect) -> str:
    t, static = compute_type(dt), d.helper_prefix
    if dt.is_unsigned:
        return (f"/* numpy's a // b for {dt.name}; x // 0 == 0 (C would trap) */\n"
                f"{static} {t} idiv_{dt.name}({t} a, {t} b) {{ return b == 0 ? 0 : a / b; }}")
    if d.wrap_signed and dt in WRAPPING:
        neg, how = render_wrapping(Ops.NEG, ["a"], dt), "in unsigned"
    else:  # C: -fwrapv; int8/int16 are promoted to int, where -a can't overflow, and converted back
        neg, how = "-a", "-fwrapv" if not d.wrap_signed else "in int, converted back"
    return (f"/* numpy's a // b for {dt.name}: rounds toward -infinity (C's / rounds toward 0); x // 0 == 0 */\n"
            f"{static} {t} idiv_{dt.name}({t} a, {t} b) {{\n"
            f"  if (b == 0) return 0;\n"
            f"  if (b == -1) return {neg};  /* MIN // -1 wraps to MIN ({how}) instead of trapping */\n"
            f"  {t} q = a / b;\n"
            f"  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;\n"
            f"}}")


def _floor_mod_definition(dt: DType, d: Dialect) -> str:
    t, static = compute_type(dt), d.helper_prefix
    if dt.is_unsigned:
        return (f"/* numpy's a % b for {dt.name}; x % 0 == 0 (C would trap) */\n"
                f"{static} {t} mod_{dt.name}({t} a, {t} b) {{ return b == 0 ? 0 : a % b; }}")
    return (f"/* numpy's a % b for {dt.name}: the sign of the divisor (C: of the dividend); x % 0 == 0 */\n"
            f"{static} {t} mod_{dt.name}({t} a, {t} b) {{\n"
            f"  if (b == 0 || b == -1) return 0;  /* MIN % -1 would trap */\n"
            f"  {t} r = a % b;\n"
            f"  return (r != 0 && (r < 0) != (b < 0)) ? r + b : r;\n"
            f"}}")


def _max_definition(dt: DType, d: Dialect) -> str:
    name, t, static = f"max_{dt.name}", compute_type(dt), d.helper_prefix
    if dt == dtypes.float16:  # numpy's float16 loop keeps a on ties: max(0.0, -0.0) is 0.0
        return ("/* np.maximum on float16 (computed in float): NaN wins; on a tie (0.0 vs -0.0) a is kept */\n"
                f"{static} float {name}(float a, float b) {{ return (a >= b || a != a) ? a : b; }}")
    if dt.is_float:  # numpy's float32/float64 loops keep b on ties: max(0.0, -0.0) is -0.0
        return (f"/* np.maximum: NaN wins (fmax{math_suffix(dt)} would drop it); ties (0.0, -0.0) keep b */\n"
                f"{static} {t} {name}({t} a, {t} b) {{ return (a > b || a != a) ? a : b; }}")
    return f"{static} {t} {name}({t} a, {t} b) {{ return a > b ? a : b; }}"


# ---- unary -------------------------------------------------------------------------------

def render_neg(x: list[str], dt: DType, h: Helpers) -> str:
    """-a; a negative literal gets parentheses (`--1` would be C's decrement operator)."""
    return f"-({x[0]})" if x[0].startswith("-") else f"-{x[0]}"


def render_recip(x: list[str], dt: DType, h: Helpers) -> str:
    """1/a in the compute type: 1.0f / alu0 (float, float16) or 1.0 / alu0 (double)."""
    one = "1.0" if dt == dtypes.float64 else "1.0f"
    return f"{one} / {x[0]}"


def _math_function(op: Ops) -> Callable[[list[str], DType, Helpers], str]:
    def rule(x: list[str], dt: DType, h: Helpers) -> str:
        return f"{h.dialect.math_names[op]}{math_suffix(dt)}({x[0]})"
    name = op.name.lower()
    rule.__name__ = f"render_{name}"
    rule.__doc__ = f"the dialect's {name} (C: math.h's {name}f for float32/float16, {name} for float64): {name}f(alu0)"
    return rule


render_sqrt = _math_function(Ops.SQRT)
_libm_exp2 = _math_function(Ops.EXP2)
_libm_log2 = _math_function(Ops.LOG2)


# ---- exp2 and log2 the vectorizer can see through ---------------------------------------------------------
# A loop that calls the math library's exp2f stays scalar (the compiler can't vectorize a call), and softmax,
# sigmoid, gelu, log_softmax are such loops. So in the C dialect float32/float16 exp2 and log2 are these
# helpers: plain arithmetic and bit manipulation, branch-free, which gcc turns into 16-wide AVX-512 code (no
# -ffast-math: every operation rounds as IEEE says, so the error bound below holds as written). Accuracy against the
# correctly rounded result (numpy in float64, rounded to float32), tests/04_c_codegen/test_vector_math.py: exp2 and
# log2 within 1 ulp over every float32 range (numpy's own float32 exp2/log2: up to 3 / 2 ulp); special values
# exactly as exp2f/log2f (NaN, +-inf, 0, overflow to inf, underflow to denormals and 0, log2 of denormals and of
# negatives). The switch: SHRIMPGRAD_C_VECTOR_MATH=0 (dialect.py) renders the math library's exp2f/log2f instead.

_BITS = ("{s} float bits_to_float(int i) {{ float f; __builtin_memcpy(&f, &i, 4); return f; }}\n"
         "{s} int float_to_bits(float f) {{ int i; __builtin_memcpy(&i, &f, 4); return i; }}")

_EXP2 = """/* 2^x = 2^n * 2^f with n = rint(x), f in [-0.5, 0.5]; 2^f by a degree-6 polynomial (Horner{fused}). 2^n is
   built in the exponent bits, in two halves so that n from -151 (below the smallest denormal) to 129 (overflow)
   works. */
{s} float exp2_float32(float x) {{
  float xc = x < -151.0f ? -151.0f : (x > 129.0f ? 129.0f : x);
  float n = __builtin_rintf(xc), f = xc - n;
  float p = 0.0001546974090160802f;
{horner}
  int ni = (int)n, n1 = ni >> 1, n2 = ni - n1;
  float r = p * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
  return x != x ? x : r;  /* NaN stays NaN */
}}"""

_EXP2_COEFFICIENTS = ("0.0013400441966950893f", "0.00961802527308464f", "0.05550327152013779f",
                      "0.24022650718688965f", "0.6931471824645996f", "1.0f")


def _exp2_definition(s: str, fma: bool) -> str:
    """The exp2 helper; with the dialect's `fma`, each Horner step `p = p * f + c` is one `fmaf(p, f, c)`: one rounding
    instead of two and one instruction instead of two dependent ones, on the polynomial's serial chain (measured: the
    W3 softmax row kernel, 2048², one core, 8.7 -> 7.4 ms). Off (SHRIMPGRAD_FMA=0): the multiply and the add."""
    step = "  p = fmaf(p, f, {c});" if fma else "  p = p * f + {c};"
    horner = "\n".join(step.format(c=c) for c in _EXP2_COEFFICIENTS)
    return _EXP2.format(s=s, horner=horner, fused=", one fmaf a step" if fma else "")


_LOG2 = """/* log2(x) = e + log2(1 + f), x = (1 + f) * 2^e, 1 + f in [sqrt(1/2), sqrt(2)) (f = m - 1 is exact). Cephes'
   log2f: ln(1 + f) = f - f^2/2 + f^3 P(f) (degree 8) and log2(1 + f) = f + y + (f + y) * (log2(e) - 1), y the
   part after f, summed smallest first: f is added exactly, only the smaller terms carry log2(e)'s rounding.
   Denormals are scaled by 2^23 first. */
{s} float log2_float32(float x) {{
  int tiny = x < 1.17549435e-38f;
  int b = float_to_bits(x * (tiny ? 8388608.0f : 1.0f));
  int e = ((b >> 23) & 0xff) - (tiny ? 150 : 127);
  float m = bits_to_float((b & 0x7fffff) | 0x3f800000);
  int big = m > 1.41421356f;
  m = m * (big ? 0.5f : 1.0f);
  e = e + big;
  float f = m - 1.0f, z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float y = f * (z * p) - 0.5f * z;  /* ln(1 + f) - f */
  float r = y * 0.44269504088896340736f;  /* log2(e) - 1 */
  r = r + f * 0.44269504088896340736f;
  r = r + y;
  r = r + f;
  r = r + (float)e;
  r = x == __builtin_inff() ? x : r;
  r = x == 0.0f ? -__builtin_inff() : r;
  return x < 0.0f ? __builtin_nanf("") : x != x ? x : r;
}}"""


_ORDERED = """/* a float's bits as an int whose signed order is the float order (-0 just below +0; NaNs: unused):
   a max of these is an integer max, which the vectorizer reduces without any fast-math flag */
{s} int ordered_float32(float f) {{ int b = float_to_bits(f); return b ^ ((b >> 31) & 0x7fffffff); }}
{s} float unordered_float32(int k) {{ return bits_to_float(k ^ ((k >> 31) & 0x7fffffff)); }}"""

def ordered_float_helpers(h: Helpers) -> tuple[str, str]:
    """The two helpers of the renderer's vectorized max (`vector_max_loops`): ordered_float32, unordered_float32."""
    s = h.dialect.helper_prefix
    h.use("bits_to_float", _BITS.format(s=s))
    h.use("ordered_float32", _ORDERED.format(s=s))
    return "ordered_float32", "unordered_float32"


def _vector_math(name: str, definition: str | Callable[[str, bool], str],
                 libm: Callable[[list[str], DType, Helpers], str]):
    def rule(x: list[str], dt: DType, h: Helpers) -> str:
        if not h.dialect.vector_math or dt == dtypes.float64:
            return libm(x, dt, h)
        s = h.dialect.helper_prefix
        h.use("bits_to_float", _BITS.format(s=s))
        text = definition(s, h.dialect.fma) if callable(definition) else definition.format(s=s)
        return f"{h.use(name, text)}({x[0]})"
    rule.__name__ = f"render_{name.split('_')[0]}"
    rule.__doc__ = (f"{name}(alu0) for float32/float16 in a dialect with vector_math (C): see above; the math "
                    f"library's otherwise (CUDA's built-in, and float64)")
    return rule


render_exp2 = _vector_math("exp2_float32", _exp2_definition, _libm_exp2)
render_log2 = _vector_math("log2_float32", _LOG2, _libm_log2)
render_sin = _math_function(Ops.SIN)
render_trunc = _math_function(Ops.TRUNC)


# ---- binary ------------------------------------------------------------------------------

def _infix(name: str, symbol: str) -> Callable[[list[str], DType, Helpers], str]:
    def rule(x: list[str], dt: DType, h: Helpers) -> str:
        return f"{x[0]} {symbol} {x[1]}"
    rule.__name__ = f"render_{name}"  # a traceback or breakpoint shows render_add, not `rule`
    rule.__doc__ = f"a {symbol} b, C's operator (ints wrap thanks to -fwrapv; floats are IEEE like numpy)"
    return rule


render_add = _infix("add", "+")
render_sub = _infix("sub", "-")
render_mul = _infix("mul", "*")
render_div = _infix("div", "/")
render_cmplt = _infix("cmplt", "<")  # false if either side is NaN, as in numpy
render_cmpne = _infix("cmpne", "!=")  # true if either side is NaN, as in numpy
render_and = _infix("and", "&")
render_or = _infix("or", "|")
render_xor = _infix("xor", "^")


def render_idiv(x: list[str], dt: DType, h: Helpers) -> str:
    """Floor division: idiv_int32(alu0, 4). See the helper's definition for the rounding rule."""
    if not dt.is_int:
        raise RenderError(f"IDIV needs an integer dtype, got {dt!r}")
    return f"{h.use(f'idiv_{dt.name}', _floor_div_definition(dt, h.dialect))}({x[0]}, {x[1]})"


def render_mod(x: list[str], dt: DType, h: Helpers) -> str:
    """Floor modulo: mod_int32(alu0, 4)."""
    if not dt.is_int:
        raise RenderError(f"MOD needs an integer dtype, got {dt!r}")
    return f"{h.use(f'mod_{dt.name}', _floor_mod_definition(dt, h.dialect))}({x[0]}, {x[1]})"


def render_max(x: list[str], dt: DType, h: Helpers) -> str:
    """max_float32(a, b): NaN-propagating like np.maximum; for ints and bool a plain comparison."""
    return f"{h.use(f'max_{dt.name}', _max_definition(dt, h.dialect))}({x[0]}, {x[1]})"


# ---- ternary -----------------------------------------------------------------------------

_SELECT = {  # WHERE through a bit mask (the Dialect's mask_selects): m is all ones when c holds, else zero
    "float": "/* c ? a : b through a bit mask: gcc vectorizes it among an UPCAST's lanes (the ternary: scalar) */\n"
             "{s} float select_float32(int c, float a, float b) {{ int m = -c; "
             "return bits_to_float((float_to_bits(a) & m) | (float_to_bits(b) & ~m)); }}",
    "double": "{s} double select_float64(int c, double a, double b) {{ long long m = -(long long)c, x, y; "
              "__builtin_memcpy(&x, &a, 8); __builtin_memcpy(&y, &b, 8); x = (x & m) | (y & ~m); "
              "__builtin_memcpy(&a, &x, 8); return a; }}",
}


def render_where(x: list[str], dt: DType, h: Helpers) -> str:
    """cond ? a : b (both a and b are already computed: no side effects are skipped). In a dialect with
    mask_selects (C), a float WHERE is select_float32(cond, a, b): the same bits, through a mask (see _SELECT)."""
    ctype = compute_type(dt)
    if not h.dialect.mask_selects or ctype not in _SELECT:
        return f"{x[0]} ? {x[1]} : {x[2]}"
    s = h.dialect.helper_prefix
    if ctype == "float":
        h.use("bits_to_float", _BITS.format(s=s))
    name = "select_float32" if ctype == "float" else "select_float64"
    return f"{h.use(name, _SELECT[ctype].format(s=s))}({x[0]}, {x[1]}, {x[2]})"


ALU_RULES: dict[Ops, Callable[[list[str], DType, Helpers], str]] = {
    Ops.NEG: render_neg, Ops.RECIP: render_recip, Ops.SQRT: render_sqrt, Ops.EXP2: render_exp2,
    Ops.LOG2: render_log2, Ops.SIN: render_sin, Ops.TRUNC: render_trunc,
    Ops.ADD: render_add, Ops.SUB: render_sub, Ops.MUL: render_mul, Ops.DIV: render_div,
    Ops.IDIV: render_idiv, Ops.MOD: render_mod, Ops.MAX: render_max,
    Ops.CMPLT: render_cmplt, Ops.CMPNE: render_cmpne, Ops.AND: render_and, Ops.OR: render_or, Ops.XOR: render_xor,
    Ops.WHERE: render_where,
}
MATH_OPS = frozenset({Ops.SQRT, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.TRUNC})  # need the dialect's math_preamble

# The ints whose + - * can overflow a signed type in a kernel: int32 and int64, and uint16, which C promotes
# to int (65535 * 65535 does not fit an int). int8/uint8/int16 are promoted to int too, but their products fit;
# uint32/uint64 are unsigned already.
WRAPPING = {dtypes.int32: "unsigned int", dtypes.int64: "unsigned long long", dtypes.uint16: "unsigned int"}
_WRAP_SYMBOLS = {Ops.ADD: "+", Ops.SUB: "-", Ops.MUL: "*"}


def needs_wrapping(op: Ops, dt: DType) -> bool:
    return dt in WRAPPING and (op in _WRAP_SYMBOLS or op is Ops.NEG)


def render_wrapping(op: Ops, x: list[str], dt: DType) -> str:
    """Signed + - * NEG that wrap around like numpy's, in a language without -fwrapv (CUDA C++, where
    signed overflow is undefined): computed in the unsigned type, where it wraps by definition, and
    converted back (two's complement): (int)((unsigned int)a + (unsigned int)b). uint16 is computed in
    unsigned int for the same reason: C would promote it to (signed) int."""
    t, u = compute_type(dt), WRAPPING[dt]
    if op is Ops.NEG:
        return f"({t})(({u})0 - ({u}){x[0]})"
    return f"({t})(({u}){x[0]} {_WRAP_SYMBOLS[op]} ({u}){x[1]})"


def render_cast(x: str, src: DType, dst: DType, h: Helpers | None = None) -> str:
    """A conversion. To bool: `x != 0` (NaN -> true, like numpy). To float16: `(half)x`, the one
    rounding step (the result is then held in a float). To bfloat16: `bf16_round((float)x)`, to float
    first and then to the nearest bfloat16 (as numpy's evaluator and PyTorch do). Otherwise C's cast,
    which is numpy's astype: floats -> ints truncate toward zero, ints -> narrower ints wrap, ints ->
    floats round to nearest."""
    if dst.is_bool:
        return f"{x} != 0"
    if dst == dtypes.float16:
        return f"(half){x}"
    if dst == dtypes.bfloat16:
        return render_round(f"(float){x}", dst, h or Helpers())
    return f"({compute_type(dst)}){x}"


# ---- bfloat16: unsigned short bits in memory, float in registers ---------------------------------------------
# gcc 12 has no __bf16 arithmetic type, so these three helpers are the whole bfloat16 support, the same in the
# CUDA dialect (no cuda_bf16.h needed; a union, because NVRTC has no __builtin_memcpy). The rounding is stage 01's
# float32_to_bfloat16_bits, line for line.

_BF16_TO_FLOAT = """/* a bfloat16 is the top half of the float32 with the same value: widening is exact */
{s} float bf16_to_float(unsigned short b) {{
  union {{ unsigned int u; float f; }} v;  /* C and CUDA both read a union's other member as its bits */
  v.u = (unsigned int)b << 16;
  return v.f;
}}"""

_FLOAT_TO_BF16 = """/* the nearest bfloat16, ties to even (add 0x7fff + the lowest kept bit, drop 16 bits); NaN stays */
{s} unsigned short float_to_bf16(float f) {{
  union {{ float f; unsigned int u; }} v;
  v.f = f;
  unsigned int u = v.u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}}"""

_BF16_ROUND = """/* a float rounded to the nearest bfloat16, held in a float: every bfloat16 result goes through it */
{s} float bf16_round(float f) {{ return bf16_to_float(float_to_bf16(f)); }}"""


def _bf16(h: Helpers, name: str) -> str:
    s = h.dialect.helper_prefix
    h.use("bf16_to_float", _BF16_TO_FLOAT.format(s=s))
    h.use("float_to_bf16", _FLOAT_TO_BF16.format(s=s))
    if name == "bf16_round":
        h.use("bf16_round", _BF16_ROUND.format(s=s))
    return name


def render_round(expr: str, dt: DType, h: Helpers) -> str:
    """An ALU result of a dtype narrower than its compute type, rounded back: `(half)(a + b)` for float16,
    `bf16_round(a + b)` for bfloat16 (both then held in a float); other dtypes' results are already exact."""
    if dt == dtypes.float16:
        return f"(half)({expr})"
    if dt == dtypes.bfloat16:
        return f"{_bf16(h, 'bf16_round')}({expr})"
    return expr


def render_load_value(expr: str, dt: DType, h: Helpers) -> str:
    """A buffer element as a value: bfloat16's bits widened, `bf16_to_float(data0[i])`; others as they are."""
    return f"{_bf16(h, 'bf16_to_float')}({expr})" if dt == dtypes.bfloat16 else expr


def render_store_value(expr: str, dt: DType, h: Helpers) -> str:
    """A value as a buffer element: bfloat16's bits, `float_to_bf16(alu0)` (exact: it is already rounded)."""
    return f"{_bf16(h, 'float_to_bf16')}({expr})" if dt == dtypes.bfloat16 else expr
