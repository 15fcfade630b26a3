"""The CUDA dialect of stage 04's renderer: the same walk over the same Program, other spellings.

    C_DIALECT (stage 04)                      CUDA_DIALECT (here)
    void E_16(float* restrict data0, ...)      extern "C" __global__ void E_16(float* __restrict__ data0, ...)
    static inline float max_float32(...)       static __device__ inline float max_float32(...)
    typedef _Float16 half;                     #include <cuda_fp16.h>   (half = __half; computed in float)
    unsigned short* (bfloat16's bits)          the same, and the same bf16_to_float/bf16_round helpers (stage
                                               04's alu.py; no cuda_bf16.h needed)
    #include <math.h> (INFINITY, NAN)          #define INFINITY / NAN by their bits (NVRTC has no math.h)
    a + b on int32 (-fwrapv wraps)             (int)((unsigned int)a + (unsigned int)b): CUDA C++ has no
                                               -fwrapv, unsigned arithmetic wraps by definition
    SPECIAL gidx0 (no C spelling)              int gidx0 = blockIdx.x;   int lidx0 = threadIdx.x;
                                               no threads of its own: int gidx0 = blockIdx.x * 128 +
                                               threadIdx.x; if (gidx0 >= N) return;   (launch.py)
    DEFINE_LOCAL, BARRIER (no C spelling)      __shared__ float temp0[16];   __syncthreads();
    #pragma GCC unroll 4 / #pragma omp         #pragma unroll 4 / (no OpenMP: the grid is the parallelism)

`extern "C"` keeps the kernel's name unmangled, so the driver finds it by the Program's name.
Everything else (floor div/mod helpers, NaN-propagating max, exact literals, float16 rounding after
every op) is stage 04's, shared: the CUDA computes the same numbers as the C.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from shrimpgrad.c.dialect import Dialect, fma_setting
from shrimpgrad.c.renderer import render_kernel, to_text
from shrimpgrad.linearize import Program

from .launch import Launch, launch_for
from .tensor_cores import TileMatmul, render_tile_matmul
from .vectorize import VECTOR_LOAD, vector_lanes, vectorize_enabled

_AXES = "xyz"


def special_lines(name: str, size: int, launch: Launch | None = None) -> tuple[str, ...]:
    """gidx<d> is blockIdx.<x|y|z>, lidx<d> is threadIdx.<x|y|z>. When the launch splits x into blocks
    (a Program without threads, launch.py), gidx0 is blockIdx.x * blockDim + threadIdx.x, and a grid
    rounded up to whole blocks is followed by the bounds guard."""
    if launch is not None and launch.split_x and name == "gidx0":
        lines = [f"int gidx0 = blockIdx.x * {launch.block[0]} + threadIdx.x;  /* 0..{size - 1} */"]
        if launch.guard is not None:
            lines.append(f"if (gidx0 >= {launch.guard}) return;  /* the grid is rounded up to whole blocks */")
        return tuple(lines)
    which = "blockIdx" if name.startswith("gidx") else "threadIdx"
    return (f"int {name} = {which}.{_AXES[int(name[-1])]};  /* 0..{size - 1} */",)


CUDA_DIALECT = Dialect(
    "CUDA",
    kernel_prefix='extern "C" __global__ void',
    restrict="__restrict__",
    helper_prefix="static __device__ inline",
    half_preamble=("#include <cuda_fp16.h>  /* half = __half: storage only, computed in float */",),
    math_preamble=(),  # sqrtf, exp2f, ... are CUDA built-ins
    constants_preamble=("#define INFINITY __int_as_float(0x7f800000)", "#define NAN __int_as_float(0x7fffffff)"),
    bool_preamble=(),  # bool is C++'s
    unroll="#pragma unroll {n}",
    openmp=False,
    special=special_lines,
    shared="__shared__",
    barrier="__syncthreads();",
    wrap_signed=True,
    # an accumulation acc + a*b as fmaf(a, b, acc): a GPU's multiply-add is one instruction, at the rate of an add
    # (SHRIMPGRAD_FMA=0 turns it off; NVRTC's --fmad=false still keeps every other a*b + c apart)
    fma=fma_setting(default=True),
)


def dialect_for(launch: Launch) -> Dialect:
    """CUDA_DIALECT with the SPECIAL spelling of this launch (the gidx0 split and its guard), and VECTORIZE's
    float4 loads (vectorize.py) unless SHRIMPGRAD_CUDA_VECTORIZE=0."""
    dialect = replace(CUDA_DIALECT, special=partial(special_lines, launch=launch)) if launch.split_x else CUDA_DIALECT
    if vectorize_enabled():
        dialect = replace(dialect, vector_loads=vector_lanes, vector_load=VECTOR_LOAD)
    return dialect


def render_cuda(program: Program, comments: bool = True, launch: Launch | None = None) -> str:
    """The CUDA C source of `program` for `launch` (default: launch_for(program)). Linearize the kernel with
    gpu=True for blockIdx/threadIdx indices; a CPU-style Program renders too, as one thread running the loops.
    Stage 04's renderer writes it, groups of four neighbouring float loads as one float4 load (VECTORIZE,
    vectorize.py, through the dialect's vector_loads hook; unless SHRIMPGRAD_CUDA_VECTORIZE=0)."""
    rendered = render_kernel(program, openmp=False, dialect=dialect_for(launch or launch_for(program)))
    return to_text(rendered, comments=comments)


def cuda_sources(program: Program, launch: Launch | None = None,
                 tile: TileMatmul | None = None) -> tuple[Launch, str, str]:
    """(launch, the source to show, the source to compile) of a kernel: its Program's loop nest (compiled without
    the comments, which name user lines: moving a line changes no CUBIN), or, with a rule-5 plan `tile`, the
    tensor-core template (one text: it names no user lines; the Program only names the kernel)."""
    if tile is not None:
        source = render_tile_matmul(tile, program.name)
        return tile.launch, source, source
    launch = launch or launch_for(program)
    return launch, render_cuda(program, launch=launch), render_cuda(program, comments=False, launch=launch)


__all__ = ["CUDA_DIALECT", "cuda_sources", "dialect_for", "render_cuda", "special_lines"]
