"""Stage 03 — the linearizer (`shrimpgrad.linearize`): one Kernel -> a flat Program of UOps.

    linearize(kernel, opts=(), gpu=False) -> Program      the named passes of lower.py
    interpret(program, buffers)                            the PYTHON device (numpy, vectorized)
    Opt(OptKind.UPCAST | LOCAL | GROUP, axis, amount)      optimizations, applied before lowering
    print_program(program)                                 the DEBUG=3 dump

See README.md in this folder.
"""

from .index import index_and_valid
from .interpret import InterpretError, interpret
from .lower import PASSES, LinearizeError, Lowering, linearize, lower, lowering_steps
from .opts import LoopPlan, Opt, OptError, OptKind, Role, apply_opts, default_opts
from .symbolic import RULES, simplify
from .uops import NO_VALUE, LoopKind, Program, ProgramError, UOp, UOps, verify

__all__ = ["NO_VALUE", "LoopKind", "Program", "ProgramError", "UOp", "UOps", "verify",
           "linearize", "lower", "lowering_steps", "Lowering", "LinearizeError", "PASSES",
           "interpret", "InterpretError",
           "Opt", "OptKind", "OptError", "Role", "LoopPlan", "apply_opts", "default_opts",
           "index_and_valid", "simplify", "RULES"]
