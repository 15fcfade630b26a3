"""The index algebra's expressions: what `symbolic.py`'s rules rewrite.

Index math in a kernel is integer arithmetic on loop variables with known ranges:

    address = 12*gidx0 + gidx1 - 1          valid = gidx1 >= 1 and gidx1 < 5

so the algebra is small: `Num`, `Var` (with inclusive bounds), n-ary `Add`, and `Mul`,
`FloorDiv`, `Mod`, `Lt`, `Ge` whose right operand is always a Python int (index math only
multiplies by strides and divides by shape sizes, which are constants), plus `And` of
conditions. Comparisons and `And` are 0/1 valued. Every expression knows its bounds
(`vmin`/`vmax`) and `ops` (how many arithmetic operations it lowers to), and `//`, `%` are floor
division and modulo, like Python and numpy. Operators build nodes without simplifying them:
`simplify` (symbolic.py) does that, with named rules.

The small constructors at the end (`sum_of`, `all_of`, `terms_of`, ...) are what the rules and the
lowering build expressions with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property


class SymbolicError(ValueError):
    """An invalid symbolic expression (e.g. division by a non-positive constant)."""


class Expr:
    """Base class of the expression nodes. Operators build nodes without simplifying them."""

    # precedence used when printing: higher binds tighter
    _prec = 9

    # ---- building -------------------------------------------------------------------------------
    def __add__(self, other: Expr | int) -> Expr:
        return Add((self, _expr(other)))

    def __radd__(self, other: int) -> Expr:
        return Add((_expr(other), self))

    def __sub__(self, other: Expr | int) -> Expr:
        return Add((self, Mul(_expr(other), -1)))

    def __neg__(self) -> Expr:
        return Mul(self, -1)

    def __mul__(self, c: int) -> Expr:
        return Mul(self, _int(c, "*"))

    def __rmul__(self, c: int) -> Expr:
        return Mul(self, _int(c, "*"))

    def __floordiv__(self, c: int) -> Expr:
        return FloorDiv(self, _int(c, "//"))

    def __mod__(self, c: int) -> Expr:
        return Mod(self, _int(c, "%"))

    def lt(self, c: int) -> Expr:
        return Lt(self, _int(c, "<"))

    def ge(self, c: int) -> Expr:
        return Ge(self, _int(c, ">="))

    # ---- facts every node provides ----------------------------------------------------------------
    @property
    def vmin(self) -> int:
        return self.bounds[0]

    @property
    def vmax(self) -> int:
        return self.bounds[1]

    @property
    def bounds(self) -> tuple[int, int]:
        raise NotImplementedError

    @property
    def children(self) -> tuple[Expr, ...]:
        return ()

    def with_children(self, children: tuple[Expr, ...]) -> Expr:
        return self

    @cached_property
    def ops(self) -> int:
        """How many arithmetic operations this expression lowers to (before CSE): the size measure
        that simplification never increases. An n-term sum or n-clause conjunction is n-1 operations."""
        if self.is_leaf:
            return 0
        own = len(self.children) - 1 if isinstance(self, (Add, And)) else 1
        return own + sum(c.ops for c in self.children)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def vars(self) -> set[Var]:
        out: set[Var] = set()
        stack: list[Expr] = [self]
        while stack:
            e = stack.pop()
            if isinstance(e, Var):
                out.add(e)
            stack.extend(e.children)
        return out

    def evaluate(self, env: Mapping[str, object]):
        """The value with variables taken from `env` (ints or numpy integer arrays: vectorized)."""
        raise NotImplementedError

    def substitute(self, mapping: Mapping[str, Expr]) -> Expr:
        """Replace variables by name (no simplification)."""
        if isinstance(self, Var):
            return mapping.get(self.name, self)
        if self.is_leaf:
            return self
        return self.with_children(tuple(c.substitute(mapping) for c in self.children))

    def render(self) -> str:
        raise NotImplementedError

    def _wrap(self, child: Expr, min_prec: int) -> str:
        s = child.render()
        return f"({s})" if child._prec < min_prec else s

    def __str__(self) -> str:
        return self.render()


def _int(c, what: str) -> int:
    if isinstance(c, bool) or not isinstance(c, int):
        raise SymbolicError(f"the right operand of {what} must be a Python int (a stride or a size), got {c!r}")
    return c


def _expr(x: Expr | int) -> Expr:
    if isinstance(x, Expr):
        return x
    return Num(_int(x, "+"))


# ---- the nodes ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Num(Expr):
    """An integer constant."""

    value: int
    _prec = 9

    @property
    def bounds(self) -> tuple[int, int]:
        return (self.value, self.value)

    def evaluate(self, env):
        return self.value

    def render(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Var(Expr):
    """A loop variable taking every integer value in [lo, hi] (inclusive, as tinygrad's Variable)."""

    name: str
    lo: int
    hi: int
    _prec = 9

    def __post_init__(self):
        if self.lo > self.hi:
            raise SymbolicError(f"Var {self.name}: empty range [{self.lo}, {self.hi}]")

    @property
    def bounds(self) -> tuple[int, int]:
        return (self.lo, self.hi)

    def evaluate(self, env):
        return env[self.name]

    def render(self) -> str:
        return self.name


@dataclass(frozen=True)
class Add(Expr):
    """The sum of two or more terms (n-ary: `sum_of` builds it)."""

    terms: tuple[Expr, ...]
    _prec = 4

    @property
    def children(self):
        return self.terms

    def with_children(self, children):
        return Add(children)

    @cached_property
    def bounds(self) -> tuple[int, int]:
        return (sum(t.vmin for t in self.terms), sum(t.vmax for t in self.terms))

    def evaluate(self, env):
        out = self.terms[0].evaluate(env)
        for t in self.terms[1:]:
            out = out + t.evaluate(env)
        return out

    def render(self) -> str:
        first = self.terms[0]
        if isinstance(first, Mul) and first.c < 0:  # -x*6 reads better than x*-6 (and is the same in Python)
            parts = [f"-{Mul(first.x, -first.c).render()}" if first.c != -1 else f"-{first._wrap(first.x, 7)}"]
        else:
            parts = [self._wrap(first, 5)]  # a nested sum shows its parentheses: (x + y) + z
        for t in self.terms[1:]:
            if isinstance(t, Num) and t.value < 0:
                parts.append(f"- {-t.value}")
            elif isinstance(t, Mul) and t.c < 0:
                parts.append(f"- {Mul(t.x, -t.c).render()}" if t.c != -1 else f"- {t._wrap(t.x, 5)}")
            else:
                parts.append(f"+ {self._wrap(t, 5)}")
        return " ".join(parts)


@dataclass(frozen=True)
class _XConst(Expr):
    """The shape shared by Mul, FloorDiv, Mod, Lt and Ge: one expression `x` and a Python int `c`
    (a stride, a size or a bound). Only `x` is a child: rewriting never touches `c`.

    Those five are not decorated again: they add no field, so this class's generated methods (`__init__`,
    `__eq__` and `__hash__` of (x, c), `__repr__` by the class's own name, frozen) are already theirs, and
    each @dataclass costs ~0.4 ms of `import shrimpgrad`'s first realize (issue 12, W7). Two nodes of different
    classes are still unequal: the generated `__eq__` compares classes first."""

    x: Expr
    c: int
    _divides = False  # FloorDiv and Mod: `c` must be positive

    def __post_init__(self):
        if self._divides:
            _positive(self.c, type(self).__name__)

    @property
    def children(self):
        return (self.x,)

    def with_children(self, children):
        return type(self)(children[0], self.c)


class Mul(_XConst):
    """x * c."""

    _prec = 6

    @cached_property
    def bounds(self) -> tuple[int, int]:
        a, b = self.x.vmin * self.c, self.x.vmax * self.c
        return (min(a, b), max(a, b))

    def evaluate(self, env):
        return self.x.evaluate(env) * self.c

    def render(self) -> str:
        return f"{self._wrap(self.x, 7)}*{self.c}"


def _positive(c: int, what: str) -> None:
    if c <= 0:
        raise SymbolicError(f"{what} by {c}: index math only divides by positive sizes")


class FloorDiv(_XConst):
    """x // c, rounding toward -infinity (c > 0)."""

    _prec = 6
    _divides = True

    @cached_property
    def bounds(self) -> tuple[int, int]:
        return (self.x.vmin // self.c, self.x.vmax // self.c)  # floor division is monotonic for c > 0

    def evaluate(self, env):
        return self.x.evaluate(env) // self.c

    def render(self) -> str:
        return f"{self._wrap(self.x, 7)}//{self.c}"


class Mod(_XConst):
    """x % c, in [0, c) (c > 0)."""

    _prec = 6
    _divides = True

    @cached_property
    def bounds(self) -> tuple[int, int]:
        lo, hi = self.x.vmin, self.x.vmax
        if lo // self.c == hi // self.c:  # the whole range sits in one block of c
            return (lo % self.c, hi % self.c)
        return (0, self.c - 1)

    def evaluate(self, env):
        return self.x.evaluate(env) % self.c

    def render(self) -> str:
        return f"{self._wrap(self.x, 7)}%{self.c}"


class Lt(_XConst):
    """x < c, as 0 or 1."""

    _prec = 3

    @property
    def bounds(self) -> tuple[int, int]:
        return (0, 1)

    def evaluate(self, env):
        return (self.x.evaluate(env) < self.c) * 1  # * 1: a 0/1 integer, also for numpy arrays

    def render(self) -> str:
        return f"{self._wrap(self.x, 4)} < {self.c}"


class Ge(_XConst):
    """x >= c, as 0 or 1."""

    _prec = 3

    @property
    def bounds(self) -> tuple[int, int]:
        return (0, 1)

    def evaluate(self, env):
        return (self.x.evaluate(env) >= self.c) * 1

    def render(self) -> str:
        return f"{self._wrap(self.x, 4)} >= {self.c}"


@dataclass(frozen=True)
class And(Expr):
    """All clauses hold, as 0 or 1. Clauses are conditions (0/1 valued)."""

    clauses: tuple[Expr, ...]
    _prec = 1

    @property
    def children(self):
        return self.clauses

    def with_children(self, children):
        return And(children)

    @property
    def bounds(self) -> tuple[int, int]:
        return (min(c.vmin for c in self.clauses), max(c.vmax for c in self.clauses) if self.clauses else 1)

    def evaluate(self, env):
        out = 1
        for c in self.clauses:
            out = out & c.evaluate(env)
        return out

    def render(self) -> str:
        return " and ".join(self._wrap(c, 2) for c in self.clauses)


# ---- small constructors the rules use ----------------------------------------------------------

def sum_of(terms: Iterable[Expr]) -> Expr:
    """An Add of `terms`, or the single term, or 0 when there are none."""
    terms = tuple(terms)
    return Num(0) if not terms else terms[0] if len(terms) == 1 else Add(terms)


def all_of(clauses: Iterable[Expr]) -> Expr:
    """An And of `clauses`, or the single clause, or true (1) when there are none."""
    clauses = tuple(clauses)
    return Num(1) if not clauses else clauses[0] if len(clauses) == 1 else And(clauses)


def terms_of(e: Expr) -> tuple[Expr, ...]:
    return e.terms if isinstance(e, Add) else (e,)


def coefficient(t: Expr) -> int:
    """The constant factor of a sum term: 4 for x*4, 5 for the number 5, 1 otherwise."""
    return t.c if isinstance(t, Mul) else t.value if isinstance(t, Num) else 1


def divide_term(t: Expr, g: int) -> Expr:
    """A term whose coefficient is a multiple of g, divided by g (x*8 / 4 -> x*2, x*4 / 4 -> x)."""
    if isinstance(t, Num):
        return Num(t.value // g)
    assert isinstance(t, Mul) and t.c % g == 0, (t, g)
    return t.x if t.c == g else Mul(t.x, t.c // g)
