"""Stage 03 — the linearizer (`shrimpgrad.linearize`): one Kernel -> a flat Program of UOps.

    linearize(kernel, opts=(), gpu=False) -> Program      the named passes of lower.py
    interpret(program, buffers)                            the PYTHON device (numpy, vectorized)
    Opt(OptKind.UPCAST | LOCAL | GROUP, axis, amount)      optimizations, applied before lowering
    print_program(program)                                 the DEBUG=3 dump (viz.py)
    steps(kernel), explain(kernel)                         watch a lowering (steps.py)

See README.md in this folder.
"""

from shrimpgrad.graph.notebook import attach_reprs, viz_exports

from .index import index_and_valid
from .interpret import InterpretError, interpret
from .lower import PASSES, LinearizeError, LoopNest, Lowering, RowPhases, UOpMaker, linearize, lower, row_phases
from .opts import LoopPlan, Opt, OptError, OptKind, apply_opts, default_opts
from .symbolic import RULES, simplify
from .uops import NO_VALUE, LoopKind, Program, ProgramError, UOp, UOps, verify

__all__ = ["NO_VALUE", "LoopKind", "Program", "ProgramError", "UOp", "UOps", "verify",
           "linearize", "lower", "Lowering", "LoopNest", "UOpMaker", "LinearizeError", "PASSES", "RowPhases",
           "row_phases",
           "interpret", "InterpretError",
           "Opt", "OptKind", "OptError", "LoopPlan", "apply_opts", "default_opts",
           "index_and_valid", "simplify", "RULES",
           "format_program", "print_program", "program_table", "to_dot", "to_python"]

# Pictures (viz.py): `rich.print(p)` is the UOp table, `p.to_dot()` the graphviz DAG, and `p` alone in a notebook
# cell shows it as SVG. Attached here so uops.py never imports viz.py (which imports it).
attach_reprs(Program, f"{__name__}.viz", rich="program_table", picture="to_dot", text="format_program")
__getattr__ = viz_exports(__name__, "format_program", "print_program", "program_table", "to_dot", "to_python")
