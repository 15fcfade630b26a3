"""Stage 05 — CUDA (`shrimpgrad.cuda`): the same Program rendered with stage 04's renderer in the CUDA dialect.

    render_cuda(program) -> str      CUDA C source (dialect.py)
    CUDA_DIALECT                     the Dialect record: compare it with shrimpgrad.c.dialect.C_DIALECT

Work in progress: the NVRTC compiler and the driver runtime are not written yet.
"""

from .dialect import CUDA_DIALECT, render_cuda

__all__ = ["CUDA_DIALECT", "render_cuda"]
