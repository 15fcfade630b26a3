"""The README's generated blocks: each function returns the exact text the README quotes (test_readme checks)."""

from example_kernels import flipped_row_max, matmul

from shrimpgrad.graph import ShapeTracker
from shrimpgrad.linearize import Opt, OptKind, apply_opts
from shrimpgrad.linearize.index import index_and_valid
from shrimpgrad.linearize.symbolic import Num, Var, simplify
from shrimpgrad.linearize.viz import steps


def _loop_vars(shape):
    return [Var(f"i{k}", 0, s - 1) if s > 1 else Num(0) for k, s in enumerate(shape)]


def index_examples() -> str:
    base = ShapeTracker.from_shape((4, 6))
    padded_rows = ShapeTracker.from_shape((3, 4)).pad(((0, 0), (1, 1)))
    cases = [
        ("a 4x6 buffer", base),
        ("pad ((1, 1), (0, 2))", base.pad(((1, 1), (0, 2)))),
        ("shrink ((1, 3), (2, 5))", base.shrink(((1, 3), (2, 5)))),
        ("flip rows", base.flip((True, False))),
        ("transpose, then flatten (2 views)", base.permute((1, 0)).reshape((24,))),
        ("3x4 padded to 3x6, split to 3x2x3 (2 views)", padded_rows.reshape((3, 2, 3))),
        ("pad then shrink to padding only", padded_rows.shrink(((0, 3), (0, 1)))),
    ]
    lines = [f"{'view':<46} {'index':<28} valid"]
    for name, st in cases:
        idx, valid = index_and_valid(st, _loop_vars(st.shape))
        lines.append(f"{name:<46} {str(idx):<28} {valid}")
    return "\n".join(lines)


def simplify_trace() -> str:
    x, y = Var("x", 0, 7), Var("y", 0, 3)
    log = []
    out = simplify(((x * 4 + y) * 3 + 2) // 3 % 4, log)
    return "\n".join([*(str(rw) for rw in log), f"result: {out}"])


def steps_example() -> str:
    return "\n".join(name for name, _ in steps(flipped_row_max()))


def plan_example() -> str:
    opts = (Opt(OptKind.LOCAL, 1, 2), Opt(OptKind.UPCAST, 0, 2), Opt(OptKind.GROUP, 2, 4))
    plan = apply_opts(matmul(4, 4, 8), opts)
    lines = [plan.describe()]
    for axis, parts in enumerate(plan.parts):
        values = {p.name: p.var for p in parts}
        lines.append(f"axis {axis}: " + " ".join(map(str, parts)) + f"  ->  i{axis} = {plan.axis_expr(axis, values)}")
    return "\n".join(lines)


if __name__ == "__main__":
    for f in (index_examples, simplify_trace, steps_example, plan_example):
        print(f"--- {f.__name__}\n{f()}")
