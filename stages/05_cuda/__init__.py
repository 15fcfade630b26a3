"""Stage 05 — CUDA (`shrimpgrad.cuda`): the same Program rendered with stage 04's renderer in the CUDA dialect.

    render_cuda(program) -> str                        CUDA C source (dialect.py)
    compile_cuda(source, name, arch="sm_90") -> bytes  NVRTC -> CUBIN, no GPU needed (compiler.py)
    CUDA_DIALECT                                       compare it with shrimpgrad.c.dialect.C_DIALECT

    CUDAAllocator(): alloc(nbytes) -> int, free(ptr), copyin(ptr, host), copyout(host, ptr)   (runtime.py)
    CUDAProgram(program)(buffers: list[int]) -> seconds; cuda_available(); NoCUDAError

Work in progress: the disk cache, float16 headers, GPU opt choice, README and viz are not written yet.
"""

from .compiler import CUDACompileError, compile_cuda
from .dialect import CUDA_DIALECT, render_cuda
from .runtime import CUDAAllocator, CUDAError, CUDAProgram, NoCUDAError, cuda_available

__all__ = ["CUDA_DIALECT", "render_cuda", "compile_cuda", "CUDACompileError",
           "CUDAAllocator", "CUDAProgram", "CUDAError", "NoCUDAError", "cuda_available"]
