"""The CUDA for any Tensor program, without a GPU: schedule, linearize for the GPU, render, NVRTC-compile.

    kernels = shrimpgrad.cuda.source_for(t)        # t: a Tensor (or several, or graph Nodes); nothing runs
    print(kernels)                                  # each kernel: its opts, launch, CUBIN size and CUDA source
    kernels[0].source, kernels[0].cubin, kernels[0].launch

This is exactly what device "CUDA" would build for those kernels (same opts policy, same launch,
same source, same NVRTC options), minus loading and running it. `EMIT=cuda` prints the same for
every kernel a program realizes, on any device.

Stage 05 does not import the front end: a Tensor is read through its `.node` attribute (the lazy graph).
A graph with `Tensor.to(...)` copies is shown as if it all ran on the GPU (a COPY moves values, it
computes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shrimpgrad.graph import Node, Ops, rewrite
from shrimpgrad.linearize import Opt, Program, linearize
from shrimpgrad.schedule import Kernel, create_schedule

from .compiler import DEFAULT_ARCH, CompiledCUBIN, compile_cuda
from .dialect import cuda_sources
from .launch import Launch
from .opts import H200, GPULimits, choose_opts, choose_tile, policy_name
from .tensor_cores import TileMatmul


@dataclass(frozen=True)
class CUDAKernel:
    """One kernel as device CUDA builds it: `source` (CUDA C), `launch`, `opts`, and `cubin` (None if not compiled)."""

    kernel: Kernel
    program: Program
    opts: tuple[Opt, ...]
    launch: Launch
    source: str
    cubin: CompiledCUBIN | None = None
    policy: str = ""
    tile: TileMatmul | None = None  # rule 5: the tensor-core plan it was rendered from, or None (a loop nest)

    @property
    def name(self) -> str:
        return self.program.name

    def header(self) -> str:
        """Three comment lines: the kernel and its opts, the launch, the CUBIN."""
        opts = ", ".join(str(o) for o in self.opts) or ("tensor cores, rule 5" if self.tile else "none")
        cubin = f"CUBIN {len(self.cubin.cubin)} bytes ({self.cubin.origin})" if self.cubin else "not compiled"
        return f"// kernel {self.name}: opts [{opts}] ({self.policy} policy)\n// launch {self.launch}\n// {cubin}"

    def __str__(self) -> str:
        return f"{self.header()}\n{self.source}"

    def __repr__(self) -> str:  # not the dataclass's: it would print the whole kernel AST
        return f"<CUDAKernel {self.name} opts={[str(o) for o in self.opts]} {self.launch}>"


class CUDAKernels(list):
    """A list of CUDAKernel that prints as their sources, one after another."""

    def __str__(self) -> str:
        return "\n".join(str(k) for k in self)


def cuda_kernel(kernel: Kernel, policy: str | None = None, limits: GPULimits = H200, compile: bool = True,
                arch: str = DEFAULT_ARCH) -> CUDAKernel:
    """One scheduled kernel, linearized with the GPU opts policy, rendered, and (compile=True) NVRTC-compiled;
    a float16 matmul rendered from the tensor-core template instead (rule 5, opts.choose_tile)."""
    tile = choose_tile(kernel, policy, limits)
    opts = choose_opts(kernel, policy, limits) if tile is None else ()
    program = linearize(kernel, opts, gpu=True)
    launch, source, compiled_source = cuda_sources(program, tile=tile)
    cubin = compile_cuda(compiled_source, program.name, arch, display_source=source) if compile else None
    return CUDAKernel(kernel, program, opts, launch, source, cubin, policy_name(policy), tile)


def _roots(items: Sequence) -> list[Node]:
    roots = []
    for t in items:
        node = t if isinstance(t, Node) else getattr(t, "node", None)
        if not isinstance(node, Node):
            raise TypeError(f"source_for takes Tensors or graph Nodes, got {type(t).__name__}")
        roots.append(node)
    # a COPY moves values between devices and computes nothing: show the program as if it all ran on the GPU
    return rewrite(roots, lambda n: n.src[0] if n.op is Ops.COPY else n)


def source_for(*tensors, policy: str | None = None, compile: bool = True, arch: str = DEFAULT_ARCH,
               limits: GPULimits = H200) -> CUDAKernels:
    """The CUDA kernels that compute `tensors` (Tensors or Nodes), without running anything or needing a GPU.

    policy: the opts policy (opts.POLICIES; default $SHRIMPGRAD_CUDA_OPTS or "heuristic"); compile: run
    NVRTC too (for `arch`, default sm_90), so each kernel carries its CUBIN. An already realized tensor
    needs no kernel: the list is then empty."""
    roots = [r for r in _roots(tensors) if r.op is not Ops.BUFFER]
    if not roots:
        return CUDAKernels()
    schedule = create_schedule(roots)
    return CUDAKernels(cuda_kernel(k, policy, limits, compile, arch) for k in schedule.kernels)


__all__ = ["CUDAKernel", "CUDAKernels", "cuda_kernel", "source_for"]
