"""Elementwise math and activations for `Tensor` (mixed into it): inverse trig and hyperbolic functions, erf,
log10, logaddexp, copysign, fmod, lerp, isclose/isnan/isinf/isfinite and PyTorch's activation zoo.

Every function is a composition of the Tensor's own elementwise ops (EXP2, LOG2, SQRT, SIN, RECIP, WHERE, ...):
the graph has no ATAN or ERF op, so these are written the way a math library writes them, as argument
reduction plus a short series that is exact to float64 rounding:

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

from shrimpgrad.graph import dtypes

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


class MathMixin:
    """Inverse trig/hyperbolic functions, erf, log10, logaddexp, copysign, fmod, lerp, float classification,
    and the activations (see the module docstring)."""

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
        from shrimpgrad.tensor import _unify

        out = _unify(method, [self, *values], self.device)
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
        x = self._float()
        neg = x < 0
        e = (-neg.where(-x, x)).exp()  # e^-|x|, in (0, 1]
        s = (1 + e).reciprocal()
        return neg.where(e * s, s)

    def tanh(self):
        """(1 - e^-2|x|) / (1 + e^-2|x|) with the sign of x, the numerator by expm1: no overflow, finite gradient
        everywhere, full precision near 0."""
        def tanh_pos(y):
            m = _expm1(-2 * y)  # e^-2y - 1, precise for small y
            return -m / (2 + m)
        return _odd(self._float(), tanh_pos)

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
