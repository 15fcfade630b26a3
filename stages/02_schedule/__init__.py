"""Stage 02 — the scheduler (`shrimpgrad.schedule`): lazy graph -> ordered list of fused Kernels.

See README.md in this folder.
"""

from .kernel import Kernel, KernelError, KNode, KOps, verify

__all__ = ["Kernel", "KernelError", "KNode", "KOps", "verify"]
