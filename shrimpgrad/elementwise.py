"""Elementwise ops for `Tensor` (mixed into it): cast, arithmetic, pow, exp/log/sqrt/sin and their relatives,
rounding, comparisons, logical and bitwise ops with their operators (`+`, `<`, `&`, `<<`, ...); then the math built
from those: inverse trig and hyperbolic functions, erf, log10, logaddexp, copysign, fmod, lerp,
isclose/isnan/isinf/isfinite and PyTorch's activation zoo.

Required from the core Tensor (shrimpgrad/tensor.py): `_alu` (one graph node from self and Tensor operands),
`_bin` / `_unify` (operands as Tensors of one dtype and one shape: numpy broadcasting, promotion, weak Python
scalars), `_const`, `_float`, `dtype`, `device`; `_broadcast_to` from movement.py (for `where`).

The graph has few elementwise ops (ADD, SUB, MUL, DIV, IDIV, MOD, NEG, MAX, CMPLT, CMPNE, AND, OR, XOR, WHERE,
CAST, EXP2, LOG2, SIN, SQRT, RECIP, TRUNC), so the rest are compositions: `x >= y` is `(x > y) | (x == y)`,
`exp(x)` is `exp2(x * log2(e))`, `floor` is `trunc` corrected by one where it went the wrong way, `x << n` is
`x * 2**n`. The graph has no ATAN or ERF op either, so those are written the way a math library writes them, as
argument reduction plus a short series that is exact to float64 rounding:

    atan(x)  |x| > 1: pi/2 - atan(1/|x|); then three half-angle steps t -> t / (1 + sqrt(1 + t^2))
             bring |t| below tan(pi/32) ~ 0.1, where 9 terms of the Taylor series are exact
    expm1(x) |x| < 0.5: Taylor series        log1p(x)  |x| < 0.25: 2 atanh(x / (2 + x)) by its series
    erf(x)   |x| < 2.5: 2/sqrt(pi) e^(-x^2) sum (2x^2)^n x / (2n+1)!!   (all terms positive: no cancellation)
             |x| >= 2.5: 1 - erfc(x), erfc by its continued fraction (30 levels)
    asin(x) = 2 atan(x / (1 + sqrt(1 - x^2)))     acos(x) = 2 atan(sqrt((1 - x) / (1 + x)))

**Gradients stay finite** where the function is smooth. Two rules do that:

* *odd functions through `_odd`*: compute f on y = where(x < 0, -x, x) and flip the sign back. Unlike
  `abs` (whose gradient at 0 is 0, as in PyTorch), this y has slope +-1 at 0, so tanh'(0) = 1.
* *the double where*: `where(c, f(a), g(b))` sends a zero gradient into the branch it didn't pick, but
  0 * inf is NaN: a branch that overflows where it isn't used (exp(100) in sigmoid's other half, 1/x at
  x = 0) poisons the gradient. So each branch reads an input that is replaced by a harmless value where
  the branch isn't picked (`_guard`).

Exact at the kinks as PyTorch defines them: `leaky_relu'(0)` is the slope, `hardtanh`/`relu6` have
gradient 0 on their bounds, `elu'(0)` is alpha, `softplus'(0)` is 1/2 (the max tie splits), `abs'(0)` is 0.

Every result of a float function on an integer tensor is `dtypes.default_float` (the input is cast first),
never float64 by promotion of an int64 with a float32 constant.

Mapping to tinygrad / PyTorch: tinygrad's names (`leakyrelu`, `gelu` = its tanh approximation by default)
and PyTorch's (`leaky_relu`, `gelu(approximate="none")`, `hardtanh`, `normalize`, `isclose`) are both here.
Different: tinygrad's erf and asin are float32-accurate polynomials; these are accurate in float64 too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from shrimpgrad.checks import DTypeError, _fail, _is_scalar, _to_dtype
from shrimpgrad.graph import Ops, dtypes

if TYPE_CHECKING:
    from shrimpgrad.tensor import Tensor

_ATAN_TERMS = 9  # Taylor terms of atan after the argument reduction (|t| <= 0.1: error < 0.1^19 / 19)
_ATAN_HALVINGS = 3
_ERF_SPLIT = 2.5  # series below, continued fraction above
_ERF_SERIES_TERMS = 40
_ERF_CF_LEVELS = 30
_EXPM1_TERMS = 17  # |x| < 0.5: the next term is below 0.5^18 / 18! ~ 6e-22
_LOG1P_TERMS = 10  # |x| < 0.25: z = x / (2 + x) has z^2 < 0.021, and 0.021^10 < 1e-16


def _guard(cond, x, safe):
    """x where cond, else `safe`: the input of a where-branch that is only used where cond holds (see docstring)."""
    return cond.where(x, safe)


def _opmath(x, f):
    """f(x) computed in float32 and rounded once for the 16-bit floats (PyTorch's "opmath", numpy's float16 loops
    too): exp as x * (1/ln 2) then exp2 in bfloat16 would round the product to 8 bits first (8 ulp off)."""
    if x.dtype in (dtypes.float16, dtypes.bfloat16):
        return f(x.cast(dtypes.float32)).cast(x.dtype)
    return f(x)


def _odd(x, f):
    """f(x) for an odd function f given on x >= 0: f(|x|) with the sign of x, slope 1 at 0 (see the docstring)."""
    neg = x < 0
    y = f(neg.where(-x, x))
    return neg.where(-y, y)


def _expm1(x):
    """e^x - 1 without the cancellation near 0: the Taylor series (Horner form) for |x| < 0.5, else exp(x) - 1."""
    small = x.abs() < 0.5
    s = _guard(small, x, 0.0)
    p = 1 / math.factorial(_EXPM1_TERMS)
    for k in range(_EXPM1_TERMS - 1, 0, -1):
        p = p * s + 1 / math.factorial(k)
    return small.where(p * s, x.exp() - 1)


def _log1p(x):
    """log(1 + x) without the cancellation near 0: for |x| < 0.25, 2 atanh(z) with z = x / (2 + x) by its series
    (short, because |z| < 1/7), else log(1 + x)."""
    small = x.abs() < 0.25
    s = _guard(small, x, 0.0)
    z = s / (2 + s)
    z2, total, term = z * z, z, z
    for k in range(1, _LOG1P_TERMS):
        term = term * z2
        total = total + term * (1 / (2 * k + 1))
    return small.where(2 * total, (1 + _guard(small, 0.0, x)).log())


def _atan_unit(t):
    """atan(t) for 0 <= t <= 1: half-angle steps, then the Taylor series t - t^3/3 + t^5/5 - ..."""
    for _ in range(_ATAN_HALVINGS):
        t = t / (1 + (1 + t * t).sqrt())
    t2, term, total = t * t, t, t
    for k in range(1, _ATAN_TERMS):
        term = term * t2
        total = total + term * ((-1) ** k / (2 * k + 1))
    return total * 2**_ATAN_HALVINGS


def _atan_pos(y):
    """atan(y) for y >= 0 (inf included): y > 1 goes through pi/2 - atan(1/y)."""
    big = y > 1
    inv = _guard(big, y, 1.0).reciprocal()
    return big.where(math.pi / 2 - _atan_unit(inv), _atan_unit(_guard(big, 1.0, y)))


def _erf_pos(y):
    """erf(y) for y >= 0 (see the module docstring)."""
    small = y < _ERF_SPLIT
    s = _guard(small, y, 0.0)  # the series only sees small values (it would overflow on large ones)
    term, total, two_s2 = s, s, 2 * s * s
    for n in range(1, _ERF_SERIES_TERMS + 1):
        term = term * two_s2 * (1 / (2 * n + 1))
        total = total + term
    series = total * (-s * s).exp() * (2 / math.sqrt(math.pi))
    c = _guard(small, _ERF_SPLIT, y)  # the continued fraction only sees large ones
    f = c
    for k in range(_ERF_CF_LEVELS, 0, -1):
        f = c + (k / 2) / f
    fraction = 1 - (-c * c).exp() * (1 / math.sqrt(math.pi)) / f
    return small.where(series, fraction)


class ElementwiseMixin:
    """cast; arithmetic, pow, the transcendental functions, rounding, comparisons, logical and bitwise ops and
    their operators; then inverse trig/hyperbolic functions, erf, log10, logaddexp, copysign, fmod, lerp, float
    classification, and the activations (see the module docstring)."""

    def cast(self, dtype) -> Tensor:
        dtype = _to_dtype("cast", dtype)
        return self if dtype == self.dtype else self._alu(Ops.CAST, dtype=dtype)

    def float(self) -> Tensor:
        return self.cast(dtypes.float32)

    def half(self) -> Tensor:
        return self.cast(dtypes.float16)

    def double(self) -> Tensor:
        return self.cast(dtypes.float64)

    def int(self) -> Tensor:
        return self.cast(dtypes.int32)

    def long(self) -> Tensor:
        return self.cast(dtypes.int64)

    def bool(self) -> Tensor:
        return self.cast(dtypes.bool)

    # ---- arithmetic ----

    def add(self, x, reverse: bool = False) -> Tensor:
        a, b = self._bin("add", x, reverse=reverse)
        return a._alu(Ops.ADD, b)

    def sub(self, x, reverse: bool = False) -> Tensor:
        a, b = self._bin("sub", x, reverse=reverse)
        if a.dtype.is_bool:
            raise _fail(DTypeError, "sub", "subtracting bool tensors is not defined (numpy refuses it too)",
                        "use ^ (xor), logical_not, or cast to an integer dtype first")
        return a._alu(Ops.SUB, b)

    def mul(self, x, reverse: bool = False) -> Tensor:
        a, b = self._bin("mul", x, reverse=reverse)
        return a._alu(Ops.MUL, b)

    def div(self, x, reverse: bool = False, rounding_mode: str | None = None) -> Tensor:
        """True division (integers give default_float); rounding_mode "trunc" or "floor" rounds the quotient
        (and keeps integer dtypes, like PyTorch)."""
        if rounding_mode not in (None, "trunc", "floor"):
            raise _fail(ValueError, "div", f"rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        a, b = self._bin("div", x, reverse=reverse)
        if rounding_mode == "floor":
            return a.idiv(b)
        quotient = a._float()._alu(Ops.DIV, b._float())
        if rounding_mode == "trunc":
            return quotient.trunc().cast(a.dtype) if not a.dtype.is_bool else quotient.trunc()
        return quotient

    def idiv(self, x, reverse: bool = False) -> Tensor:
        """Floor division, numpy's `//` (ints: x // 0 == 0; floats: floor(x / y))."""
        a, b = self._bin("idiv", x, reverse=reverse)
        a._no_bool("idiv", "//")
        return a._alu(Ops.IDIV, b) if a.dtype.is_int else (a / b).floor()

    def mod(self, x, reverse: bool = False) -> Tensor:
        """Floor modulo, numpy's `%`: the result has the divisor's sign (ints: x % 0 == 0; floats: x - y*floor(x/y))."""
        a, b = self._bin("mod", x, reverse=reverse)
        a._no_bool("mod", "%")
        return a._alu(Ops.MOD, b) if a.dtype.is_int else a - b * (a / b).floor()

    def _no_bool(self, method: str, symbol: str) -> None:
        if self.dtype.is_bool:
            raise _fail(DTypeError, method, f"{symbol} is not defined for bool tensors",
                        "cast to an integer dtype first")

    def neg(self) -> Tensor:
        """-x; for bool, logical not (tinygrad's choice)."""
        return self.logical_not() if self.dtype.is_bool else self._alu(Ops.NEG)

    def reciprocal(self) -> Tensor:
        return self._float()._alu(Ops.RECIP)

    def square(self) -> Tensor:
        return self * self

    def maximum(self, x) -> Tensor:
        a, b = self._bin("maximum", x)
        return a._alu(Ops.MAX, b)

    def minimum(self, x) -> Tensor:
        """-max(-a, -b) for floats (NaN propagates); for ints and bool ~max(~a, ~b): bitwise not reverses
        the order of two's complement and unsigned integers alike, and negation would overflow."""
        a, b = self._bin("minimum", x)
        if a.dtype.is_float:
            return -((-a)._alu(Ops.MAX, -b))
        return ~((~a)._alu(Ops.MAX, ~b))

    def where(self, x, y) -> Tensor:
        """`x` where self is true (nonzero), else `y`; the three broadcast together."""
        a, b = self._unify("where", [x, y], shape=self.shape)
        cond = (self if self.dtype.is_bool else self.cast(dtypes.bool))._broadcast_to(a.shape)
        return cond._alu(Ops.WHERE, a, b)

    def clip(self, min_=None, max_=None) -> Tensor:
        if min_ is None and max_ is None:
            raise _fail(ValueError, "clip", "needs min_ or max_ (or both)")
        # where, not maximum/minimum: PyTorch passes the gradient on the bounds (a max tie would halve it)
        x = self if min_ is None else (self < min_).where(min_, self)
        return x if max_ is None else (x > max_).where(max_, x)

    def clamp(self, min_=None, max_=None) -> Tensor:
        return self.clip(min_, max_)

    def abs(self) -> Tensor:
        """|x|, with PyTorch's gradient 0 at x = 0: the middle branch x*x is 0 there (and +0.0 for -0.0, NaN for
        NaN) with slope 0."""
        if self.dtype.is_bool or self.dtype.is_unsigned:
            return self
        return (self > 0).where(self, (self < 0).where(-self, self * self))

    def sign(self) -> Tensor:
        """-1, 0 or 1 in self's dtype; NaN stays NaN (numpy's sign)."""
        if self.dtype.is_bool or self.dtype.is_unsigned:
            return (self > 0).cast(self.dtype)
        s = (self < 0).where(-1, (self > 0).where(1, 0)).cast(self.dtype)
        return (self != self).where(self, s) if self.dtype.is_float else s

    def pow(self, x, reverse: bool = False) -> Tensor:
        """self ** x. Integral exponents given as Python numbers become repeated multiplies (exact, and
        defined at 0 and for negative bases); otherwise exp2(y * log2|x|) with the sign of odd powers."""
        if not reverse and _is_scalar(x) and not isinstance(x, bool) and float(x).is_integer() and abs(x) <= 2**31:
            base = self._float() if isinstance(x, float) else self
            if base.dtype.is_bool:
                base = base.cast(dtypes.default_int)
            if not base.dtype.is_float and x < 0:
                raise _fail(ValueError, "pow", f"integers to negative integer powers are not allowed ({x})",
                            "cast to float first")
            return base._pow_int(int(x))
        if not reverse and _is_scalar(x) and x == 0.5:
            return self.sqrt()
        base, exponent = self._bin("pow", x, reverse)
        if base.dtype.is_float:
            return base._pow_float(exponent)
        # integer ** integer tensor: compute in float64 and round (exact while the result fits in 2^53)
        return base.double()._pow_float(exponent.double()).round().cast(base.dtype)

    def _pow_int(self, n: int) -> Tensor:
        """self ** n by repeated squaring: x^5 = x * (x^2)^2."""
        result, power, k = None, self, abs(n)
        while k:
            if k & 1:
                result = power if result is None else result * power
            k >>= 1
            if k:
                power = power * power
        if result is None:
            return self.ones_like()  # x ** 0 == 1, even for NaN
        return result.reciprocal() if n < 0 else result

    def _pow_float(self, e: Tensor) -> Tensor:
        magnitude = (e * self.abs().log2()).exp2()
        is_int = e == e.trunc()
        odd = is_int & ((e * 0.5).trunc() != e * 0.5)
        signed = (self < 0).where(is_int.where(odd.where(-magnitude, magnitude), math.nan), magnitude)
        # x**0 == 1 and 1**y == 1, even with NaN or inf: only there the constant replaces the formula, so the
        # gradients at base 1 (y) and exponent 0 (log x) still flow through the formula
        bad_base, bad_exponent = (self == 0) | ((self - self) != 0), (e - e) != 0  # 0, inf or NaN / inf or NaN
        return (((e == 0) & bad_base) | ((self == 1) & bad_exponent)).where(1, signed)

    # ---- transcendental (built from EXP2, LOG2, SIN, SQRT, RECIP) ----

    def exp2(self) -> Tensor:
        return self._float()._alu(Ops.EXP2)

    def exp(self) -> Tensor:
        return _opmath(self._float(), lambda x: (x * (1 / math.log(2))).exp2())

    def log2(self) -> Tensor:
        return self._float()._alu(Ops.LOG2)

    def log(self) -> Tensor:
        return _opmath(self._float(), lambda x: x.log2() * math.log(2))

    def sqrt(self) -> Tensor:
        return self._float()._alu(Ops.SQRT)

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def sin(self) -> Tensor:
        return self._float()._alu(Ops.SIN)

    def cos(self) -> Tensor:
        return _opmath(self._float(), lambda x: ((math.pi / 2) - x).sin())

    def tan(self) -> Tensor:
        return self.sin() / self.cos()

    # ---- activations ----

    def relu(self) -> Tensor:
        return (self > 0).where(self, 0)

    # sigmoid, tanh, gelu, silu, elu, softplus and the other activations: further below, with the other math

    # ---- rounding (from TRUNC) ----

    def trunc(self) -> Tensor:
        return self._alu(Ops.TRUNC) if self.dtype.is_float else self

    def floor(self) -> Tensor:
        if not self.dtype.is_float:
            return self
        t = self.trunc()
        return (self < t).where(t - 1, t)

    def ceil(self) -> Tensor:
        if not self.dtype.is_float:
            return self
        t = self.trunc()
        return (self > t).where(t + 1, t)

    def round(self) -> Tensor:
        """Round half to even, like numpy: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2. (x - floor(x) is exact.)"""
        if not self.dtype.is_float:
            return self
        f = self.floor()
        d = self - f
        f_is_odd = (f * 0.5).floor() * 2 != f
        return ((d > 0.5) | ((d == 0.5) & f_is_odd)).where(f + 1, f)

    # ---- comparisons (from CMPLT and CMPNE) ----

    def _compare(self, method: str, x, swap: bool = False, or_equal: bool = False) -> Tensor:
        a, b = self._bin(method, x)
        if swap:
            a, b = b, a
        lt = a._alu(Ops.CMPLT, b)
        return lt | a._alu(Ops.CMPNE, b).logical_not() if or_equal else lt

    def __lt__(self, x) -> Tensor:
        return self._compare("__lt__", x)

    def __gt__(self, x) -> Tensor:
        return self._compare("__gt__", x, swap=True)

    def __le__(self, x) -> Tensor:
        return self._compare("__le__", x, or_equal=True)  # lt | eq: right for NaN, unlike not(gt)

    def __ge__(self, x) -> Tensor:
        return self._compare("__ge__", x, swap=True, or_equal=True)

    def ne(self, x) -> Tensor:
        a, b = self._bin("ne", x)
        return a._alu(Ops.CMPNE, b)

    def eq(self, x) -> Tensor:
        return self.ne(x).logical_not()

    def __ne__(self, x) -> Tensor:  # type: ignore[override]
        return self.ne(x)

    def __eq__(self, x) -> Tensor:  # type: ignore[override]
        return self.eq(x)

    def __hash__(self) -> int:  # __eq__ is elementwise, so hash by identity
        return id(self)

    # ---- logical and bitwise ----

    def logical_not(self) -> Tensor:
        b = self if self.dtype.is_bool else self.cast(dtypes.bool)
        return b._alu(Ops.CMPNE, b._const(True))

    def logical_and(self, x) -> Tensor:
        x = x if isinstance(x, type(self)) else type(self)(x, device=self.device)
        return self.bool()._bitwise(Ops.AND, x.bool(), "logical_and")

    def logical_or(self, x) -> Tensor:
        x = x if isinstance(x, type(self)) else type(self)(x, device=self.device)
        return self.bool()._bitwise(Ops.OR, x.bool(), "logical_or")

    def _bitwise(self, op: Ops, x, method: str, reverse: bool = False) -> Tensor:
        a, b = self._bin(method, x, reverse)
        if a.dtype.is_float:
            raise _fail(DTypeError, method, f"needs integer or bool tensors, got {self.dtype!r} and "
                        f"{getattr(x, 'dtype', type(x).__name__)}", "cast to an integer dtype first")
        return a._alu(op, b)

    def bitwise_and(self, x, reverse: bool = False) -> Tensor:
        return self._bitwise(Ops.AND, x, "bitwise_and", reverse)

    def bitwise_or(self, x, reverse: bool = False) -> Tensor:
        return self._bitwise(Ops.OR, x, "bitwise_or", reverse)

    def bitwise_xor(self, x, reverse: bool = False) -> Tensor:
        return self._bitwise(Ops.XOR, x, "bitwise_xor", reverse)

    def bitwise_not(self) -> Tensor:
        """~x: logical not for bool, x ^ (all ones) for integers."""
        if self.dtype.is_float:
            raise _fail(DTypeError, "bitwise_not", f"needs an integer or bool tensor, got {self.dtype!r}",
                        "cast to an integer dtype first")
        return self.logical_not() if self.dtype.is_bool else self._alu(Ops.XOR, self._const(-1))

    def _shift_amount(self, method: str, n) -> int:
        bits = 8 * self.dtype.itemsize
        if not self.dtype.is_int or not isinstance(n, int) or not 0 <= n < bits:
            raise _fail(DTypeError if not self.dtype.is_int else ValueError, method,
                        f"shifts integer tensors by a Python int in 0..{bits - 1}, got {self.dtype!r} by {n!r}")
        return n

    def lshift(self, n) -> Tensor:
        """x << n == x * 2**n (wrapping like C; 2**n itself wraps into the dtype). `n` may be a Tensor."""
        if isinstance(n, type(self)):
            return self._shift_by("lshift", n)
        return self._alu(Ops.MUL, self._const(2 ** self._shift_amount("lshift", n)))

    def rshift(self, n) -> Tensor:
        """x >> n == x // 2**n (arithmetic shift: floors, like numpy's >> on signed ints). `n` may be a Tensor."""
        if isinstance(n, type(self)):
            return self._shift_by("rshift", n)
        n = self._shift_amount("rshift", n)
        if 2**n > np.iinfo(self.dtype.np).max:  # 2**n doesn't fit (e.g. int8 >> 7): shift twice
            return self.rshift(n - 1).rshift(1)
        return self._alu(Ops.IDIV, self._const(2**n))

    def _shift_by(self, method: str, n, reverse: bool = False) -> Tensor:
        """x << n or x >> n for an integer Tensor n (broadcast and promoted together): shift by 1, 2, 4, ... places
        (the Python-int shifts) where n has that bit set. Amounts outside 0..bits-1 give PyTorch's results:
        0 for <<, the sign (0 or -1) for >>."""
        x, n = self._bin(method, n, reverse)
        if not x.dtype.is_int:
            raise _fail(DTypeError, method, f"shifts integer tensors, got {x.dtype!r}",
                        "cast to an integer dtype first")
        bits, left = 8 * x.dtype.itemsize, method == "lshift"
        out = x
        for b in range(bits.bit_length() - 1):  # 1, 2, 4, ... places: every amount 0..bits-1 is a sum of these
            out = ((n & (1 << b)) != 0).where(out.lshift(1 << b) if left else out.rshift(1 << b), out)
        outside = x._const(0) if left or x.dtype.is_unsigned else (x < 0).where(x._const(-1), x._const(0))
        return ((n >= 0) & (n < bits)).where(out, outside)

    # ---- operators ----

    def __neg__(self) -> Tensor:
        return self.neg()

    def __abs__(self) -> Tensor:
        return self.abs()

    def __invert__(self) -> Tensor:
        return self.bitwise_not()

    def __add__(self, x) -> Tensor:
        return self.add(x)

    def __radd__(self, x) -> Tensor:
        return self.add(x, reverse=True)

    def __sub__(self, x) -> Tensor:
        return self.sub(x)

    def __rsub__(self, x) -> Tensor:
        return self.sub(x, reverse=True)

    def __mul__(self, x) -> Tensor:
        return self.mul(x)

    def __rmul__(self, x) -> Tensor:
        return self.mul(x, reverse=True)

    def __truediv__(self, x) -> Tensor:
        return self.div(x)

    def __rtruediv__(self, x) -> Tensor:
        return self.div(x, reverse=True)

    def __floordiv__(self, x) -> Tensor:
        return self.idiv(x)

    def __rfloordiv__(self, x) -> Tensor:
        return self.idiv(x, reverse=True)

    def __mod__(self, x) -> Tensor:
        return self.mod(x)

    def __rmod__(self, x) -> Tensor:
        return self.mod(x, reverse=True)

    def __pow__(self, x) -> Tensor:
        return self.pow(x)

    def __rpow__(self, x) -> Tensor:
        return self.pow(x, reverse=True)

    def __and__(self, x) -> Tensor:
        return self.bitwise_and(x)

    def __rand__(self, x) -> Tensor:
        return self.bitwise_and(x, reverse=True)

    def __or__(self, x) -> Tensor:
        return self.bitwise_or(x)

    def __ror__(self, x) -> Tensor:
        return self.bitwise_or(x, reverse=True)

    def __xor__(self, x) -> Tensor:
        return self.bitwise_xor(x)

    def __rxor__(self, x) -> Tensor:
        return self.bitwise_xor(x, reverse=True)

    def __lshift__(self, n: int) -> Tensor:
        return self.lshift(n)

    def __rshift__(self, n: int) -> Tensor:
        return self.rshift(n)

    def __rlshift__(self, n) -> Tensor:
        return self._shift_by("lshift", n, reverse=True)

    def __rrshift__(self, n) -> Tensor:
        return self._shift_by("rshift", n, reverse=True)

    # ---- math built from the ops above (see the module docstring) ----

    # ---- trigonometric and hyperbolic ----

    def atan(self):
        return _odd(self._float(), _atan_pos)

    def asin(self):
        """2 atan(x / (1 + sqrt(1 - x^2))): no division by zero at |x| = 1; NaN outside [-1, 1]."""
        x = self._float()
        return 2 * (x / (1 + ((1 - x) * (1 + x)).sqrt())).atan()

    def acos(self):
        """2 atan(sqrt((1 - x) / (1 + x))): accurate near x = 1, where pi/2 - asin(x) would cancel."""
        x = self._float()
        ratio = (1 - x) / (1 + x)  # +inf at x = -1: atan(inf) = pi/2, acos(-1) = pi
        return 2 * ratio.sqrt().atan()

    def expm1(self):
        """e^x - 1, accurate near 0 (see _expm1)."""
        return _expm1(self._float())

    def log1p(self):
        """log(1 + x), accurate near 0 (see _log1p)."""
        return _log1p(self._float())

    def sinh(self):
        """(expm1(x) - expm1(-x)) / 2: the x^2 terms cancel exactly, so small x keeps its precision."""
        x = self._float()
        return (_expm1(x) - _expm1(-x)) * 0.5

    def cosh(self):
        x = self._float()
        return (x.exp() + (-x).exp()) * 0.5

    def asinh(self):
        """log1p(|x| + x^2 / (1 + sqrt(x^2 + 1))) with the sign of x: no cancellation near 0 or for x < 0."""
        return _odd(self._float(), lambda y: _log1p(y + y * y / (1 + (y * y + 1).sqrt())))

    def acosh(self):
        """log1p((x - 1) + sqrt((x - 1)(x + 1))): accurate near x = 1."""
        x = self._float()
        return _log1p((x - 1) + ((x - 1) * (x + 1)).sqrt())

    def atanh(self):
        """log1p(2x / (1 - x)) / 2, odd: accurate near 0."""
        return _odd(self._float(), lambda y: _log1p(2 * y / (1 - y)) * 0.5)

    def erf(self):
        return _odd(self._float(), _erf_pos)

    # ---- logs, signs and remainders ----

    def log10(self):
        return self.log2() * math.log10(2)

    def logaddexp(self, x):
        """log(exp(a) + exp(b)) = max(a, b) + log(1 + exp(-|a - b|)); a == b (both inf included) gives a + log 2."""
        a, b = self._bin("logaddexp", x)
        a, b = a._float(), b._float()
        same = a == b
        a_, b_ = _guard(same, 0.0, a), _guard(same, 0.0, b)  # inf - inf would be NaN in the unused branch
        big = a_.maximum(b_) + _log1p((-(a_ - b_).abs()).exp())
        return same.where(a + math.log(2), big)

    def copysign(self, x):
        """|self| with the sign of x (as a float); -0.0 counts as negative, like PyTorch and C."""
        a, b = self._bin("copysign", x)
        a, b = a._float(), b._float()
        negative = (b < 0) | ((b == 0) & (b.reciprocal() < 0))
        magnitude = a.abs()
        return negative.where(-magnitude, magnitude)

    def fmod(self, x):
        """C's remainder: the result has the sign of the dividend (numpy's fmod; `%` follows the divisor)."""
        a, b = self._bin("fmod", x)
        if a.dtype.is_bool:
            a, b = a.cast(dtypes.default_int), b.cast(dtypes.default_int)
        r = a % b
        wrong_sign = (r != 0) & ((r < 0) != (a < 0))
        return wrong_sign.where(r - b, r)

    def lerp(self, end, weight):
        """self + weight * (end - self), computed from the nearer end (PyTorch's formula: exact at weight 0 and 1)."""
        start, end_, w = self._unify_many("lerp", end, weight)
        diff = end_ - start
        return (w < 0.5).where(start + w * diff, end_ - diff * (1 - w))

    def _unify_many(self, method: str, *values):
        out = self._unify(method, [self, *values])
        return [t._float() for t in out]

    # ---- classification ----

    def isnan(self):
        return self != self if self.dtype.is_float else self._const(False, dtypes.bool)

    def isinf(self, detect_positive: bool = True, detect_negative: bool = True):
        if not self.dtype.is_float:
            return self._const(False, dtypes.bool)
        pos, neg = self == math.inf, self == -math.inf
        if detect_positive and detect_negative:
            return pos | neg
        return pos if detect_positive else neg if detect_negative else self._const(False, dtypes.bool)

    def isfinite(self):
        if not self.dtype.is_float:
            return self._const(True, dtypes.bool)
        return (self - self) == 0  # inf - inf and NaN - NaN are NaN

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        """|self - other| <= atol + rtol * |other| (numpy's and PyTorch's test), equal infinities close."""
        a, b = self._bin("isclose", other)
        if a.dtype.is_bool:
            return a == b
        a, b = a._float(), b._float()
        close = (a == b) | (((a - b).abs() <= atol + rtol * b.abs()) & a.isfinite() & b.isfinite())
        return close | (a.isnan() & b.isnan()) if equal_nan else close

    # ---- activations ----

    def sigmoid(self):
        """1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0: the exp never overflows, so no NaN gradient."""
        def sigmoid(x):
            neg = x < 0
            e = (-neg.where(-x, x)).exp()  # e^-|x|, in (0, 1]
            s = (1 + e).reciprocal()
            return neg.where(e * s, s)
        return _opmath(self._float(), sigmoid)

    def tanh(self):
        """(1 - e^-2|x|) / (1 + e^-2|x|) with the sign of x, the numerator by expm1: no overflow, finite gradient
        everywhere, full precision near 0."""
        def tanh_pos(y):
            m = _expm1(-2 * y)  # e^-2y - 1, precise for small y
            return -m / (2 + m)
        return _opmath(self._float(), lambda x: _odd(x, tanh_pos))

    def gelu(self, approximate: str = "tanh"):
        """x * Phi(x). approximate="tanh" (the default: tinygrad's and GPT-2's formula) or "none" (erf, exact;
        PyTorch's default)."""
        x = self._float()
        if approximate == "none":
            return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())
        if approximate != "tanh":
            raise ValueError(f"Tensor.gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())

    def quick_gelu(self):
        x = self._float()
        return x * (x * 1.702).sigmoid()

    def silu(self):
        x = self._float()
        return x * x.sigmoid()

    def swish(self):
        return self.silu()

    def leaky_relu(self, neg_slope: float = 0.01):
        """x for x > 0, else neg_slope * x (the gradient at 0 is neg_slope, as in PyTorch)."""
        x = self._float()
        return (x > 0).where(x, x * neg_slope)

    def leakyrelu(self, neg_slope: float = 0.01):
        return self.leaky_relu(neg_slope)

    def elu(self, alpha: float = 1.0):
        """x for x > 0, else alpha * (e^x - 1); e^x only sees x <= 0 (no overflow), elu'(0) = alpha."""
        x = self._float()
        pos = x > 0
        return pos.where(x, alpha * _expm1(_guard(pos, 0.0, x)))

    def celu(self, alpha: float = 1.0):
        """max(0, x) + min(0, alpha (e^(x/alpha) - 1))."""
        x = self._float()
        pos = x > 0
        return pos.where(x, alpha * _expm1(_guard(pos, 0.0, x) * (1 / alpha)))

    def selu(self):
        """scale * elu(x, alpha) with the constants of Klambauer et al. (PyTorch's)."""
        alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
        return scale * self.elu(alpha)

    def softplus(self, beta: float = 1.0):
        """log(1 + e^(beta x)) / beta as max(bx, 0) + log1p(e^-|bx|): no overflow; softplus'(0) = 1/2."""
        bx = self._float() * beta
        return (bx.maximum(0) + _log1p((-bx.abs()).exp())) * (1 / beta)

    def mish(self):
        x = self._float()
        return x * x.softplus().tanh()

    def softsign(self):
        x = self._float()
        return x / (1 + x.abs())

    def logsigmoid(self):
        return -(-self._float()).softplus()

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0):
        """clip to [min_val, max_val] with PyTorch's gradient: 0 on the bounds too (clip passes it there)."""
        x = self._float()
        return (x <= min_val).where(min_val, (x >= max_val).where(max_val, x))

    def relu6(self):
        return self.hardtanh(0.0, 6.0)

    def hardsigmoid(self):
        return (self._float() + 3).relu6() * (1 / 6)

    def hardswish(self):
        x = self._float()
        return x * (x + 3).relu6() * (1 / 6)

    def softmin(self, axis=-1, dtype=None):
        return (-self).softmax(axis, dtype)

    def normalize(self, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
        """self / max(||self||_p along dim, eps) (torch.nn.functional.normalize)."""
        x = self._float()
        norm = (x.abs() ** p).sum(dim, keepdim=True) ** (1 / p)
        return x / norm.maximum(eps)
