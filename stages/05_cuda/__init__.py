"""Stage 05 — CUDA (`shrimpgrad.cuda`): the same Program rendered with stage 04's renderer in the CUDA dialect,
compiled by NVRTC to a CUBIN, launched with the CUDA driver API.

    source_for(tensor) -> CUDAKernels                  the CUDA (and CUBIN) of any Tensor program, no GPU needed
    choose_opts(kernel, policy=None) -> opts           the GPU opts policy (opts.py; SHRIMPGRAD_CUDA_OPTS)
    choose_tile(kernel) -> TileMatmul | None           rule 5: a float16 matmul on the tensor cores (tensor_cores.py)
    launch_for(program) -> Launch                       grid, block, bounds guard (launch.py)
    render_cuda(program, launch=None) -> str            CUDA C source (dialect.py); CUDA_DIALECT vs C_DIALECT
    compile_cuda(source, name, arch="sm_90")            NVRTC -> CompiledCUBIN, disk-cached (compiler.py)

    CUDAAllocator(): alloc(nbytes) -> int, free(ptr), copyin(ptr, host), copyout(host, ptr)   (runtime.py)
    CUDAProgram(program)(buffers: list[int]) -> seconds (.enqueue(buffers): no wait); EventTimer(): GPU time
    cuda_available(); NoCUDAError; device_limits()
    print_cuda(src), side_by_side(program), KernelView(program)   seeing it (viz.py)

See README.md in this folder.
"""

from .compiler import CompiledCUBIN, CUDACompileError, compile_cuda, nvrtc_version
from .dialect import CUDA_DIALECT, render_cuda
from .launch import Launch, launch_for
from .opts import H200, POLICIES, GPULimits, choose_opts, choose_tile, heuristic_opts
from .runtime import (
    CUDAAllocator,
    CUDAError,
    CUDAProgram,
    EventTimer,
    NoCUDAError,
    cuda_available,
    device_arch,
    device_limits,
    driver_version,
)
from .source import CUDAKernel, CUDAKernels, cuda_kernel, source_for
from .tensor_cores import TileMatmul, tile_matmul, why_not_tiled

__all__ = ["CUDA_DIALECT", "render_cuda", "compile_cuda", "CompiledCUBIN", "CUDACompileError", "nvrtc_version",
           "Launch", "launch_for", "GPULimits", "H200", "POLICIES", "choose_opts", "choose_tile", "heuristic_opts",
           "TileMatmul", "tile_matmul", "why_not_tiled",
           "CUDAAllocator", "CUDAProgram", "EventTimer", "CUDAError", "NoCUDAError", "cuda_available", "device_arch",
           "device_limits", "driver_version",
           "CUDAKernel", "CUDAKernels", "cuda_kernel", "source_for"]
