"""CUDA C -> CUBIN with NVRTC (`cuda.bindings.nvrtc`), on any machine: compiling needs no GPU.

    compile_cuda(source, name, arch="sm_90") -> bytes     the CUBIN for that GPU architecture

A CUBIN is the GPU's machine code for one architecture (sm_90 = Hopper, the H200); the driver loads
it as is (~25 us). PTX, the portable alternative, would be JIT-compiled by the driver on every load
(~66 ms) and fails on a driver older than the NVRTC that wrote it. NVRTC is the CUDA compiler as a
library: no nvcc, no shell, no temporary files. Its options are fixed and logged:

    --gpu-architecture=sm_90   the CUBIN's architecture (a CUBIN only runs on that compute capability)
    --fmad=false               never fuse a*b+c into an FMA (the C backend's -ffp-contract=off: numpy rounds twice)
    --prec-div=true --prec-sqrt=true --ftz=false   IEEE division, square root and denormals (the defaults, stated)

Not yet: stage 04's content-hash disk cache (the key would include NVRTC's version and the arch), and
float16: NVRTC 13 has no built-in cuda_fp16.h, so kernels using half need the header's folder
(e.g. from the nvidia-cuda-runtime wheel) passed with --include-path; that is not wired up yet.
"""

from __future__ import annotations

import logging

log = logging.getLogger("shrimpgrad.cuda")

DEFAULT_ARCH = "sm_90"
OPTIONS: tuple[str, ...] = ("--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--ftz=false")


class CUDACompileError(RuntimeError):
    """NVRTC rejected a source (its log is in the message) or could not be loaded."""


def nvrtc_options(arch: str = DEFAULT_ARCH) -> list[str]:
    return [f"--gpu-architecture={arch}", *OPTIONS]


def _check(result, call: str, log_text: str = "") -> None:
    from cuda.bindings import nvrtc

    if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, msg = nvrtc.nvrtcGetErrorString(result)
        raise CUDACompileError(f"{call} failed: {msg.decode()}\n{log_text}".rstrip())


def compile_cuda(source: str, name: str = "kernel", arch: str = DEFAULT_ARCH) -> bytes:
    """The CUBIN of `source` for `arch`; a compile error raises CUDACompileError with NVRTC's log."""
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        raise CUDACompileError("NVRTC is not installed: pip install cuda-bindings nvidia-cuda-nvrtc") from None
    options = nvrtc_options(arch)
    log.info("kernel %s: nvrtc %s", name, " ".join(options))
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], [])
    _check(err, "nvrtcCreateProgram")
    try:
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(options), [o.encode() for o in options])
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            _, size = nvrtc.nvrtcGetProgramLogSize(prog)
            buf = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, buf)
            _check(err, f"nvrtcCompileProgram of kernel {name}", buf.decode(errors="replace").rstrip("\0 "))
        err, size = nvrtc.nvrtcGetCUBINSize(prog)
        _check(err, "nvrtcGetCUBINSize")
        cubin = b" " * size
        (err,) = nvrtc.nvrtcGetCUBIN(prog, cubin)
        _check(err, "nvrtcGetCUBIN")
        return cubin
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
