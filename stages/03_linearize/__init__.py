"""Stage 03 — the linearizer (`shrimpgrad.linearize`): one Kernel -> a flat Program of UOps.

See README.md in this folder.
"""

from .uops import NO_VALUE, LoopKind, Program, ProgramError, UOp, UOps, verify

__all__ = ["NO_VALUE", "LoopKind", "Program", "ProgramError", "UOp", "UOps", "verify"]
