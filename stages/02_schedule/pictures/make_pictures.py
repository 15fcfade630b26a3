"""Render the README's pictures: `python stages/02_schedule/pictures/make_pictures.py` (needs Graphviz's `dot`).

Each picture is `to_dot(create_schedule(roots))` of one README example: a cluster per kernel (its
AST, labelled with the rule that drew it) and the buffers between kernels as cylinders."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2] / "tests" / "02_schedule"))  # the reference programs

from schedule_programs import REFERENCE_PROGRAMS  # noqa: E402

from shrimpgrad.graph import BufferRef, Ops, alu, assign, broadcast_const, buffer, dtypes, movement  # noqa: E402
from shrimpgrad.schedule import create_schedule, to_dot  # noqa: E402


def pad_of_exp2():
    x = buffer(BufferRef(6, dtypes.float32), (2, 3))
    return [movement(Ops.PAD, alu(Ops.EXP2, x), ((1, 1), (0, 2)))]


def assign_after_read():
    x = buffer(BufferRef(4, dtypes.float32), (4,))
    bump = assign(x, alu(Ops.ADD, x, broadcast_const(1.0, dtypes.float32, (4,))))
    return [bump, alu(Ops.MUL, x, broadcast_const(2.0, dtypes.float32, (4,)))]


PICTURES = {
    "elementwise_chain": lambda: REFERENCE_PROGRAMS["elementwise chain relu(a*b+c)"]()[0],
    "softmax": lambda: REFERENCE_PROGRAMS["softmax"]()[0],
    "pad_of_exp2": pad_of_exp2,
    "matmul_relu_sum": lambda: REFERENCE_PROGRAMS["(x @ w).relu().sum()"]()[0],
    "assign_after_read": assign_after_read,
}

if __name__ == "__main__":
    for name, build in PICTURES.items():
        path = HERE / f"{name}.svg"
        path.write_bytes(to_dot(create_schedule(build())).pipe(format="svg"))
        print("wrote", path)
