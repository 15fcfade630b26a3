"""CUDA C -> CUBIN with NVRTC (`cuda.bindings.nvrtc`), on any machine: compiling needs no GPU.

    compile_cuda(source, name, arch="sm_90") -> CompiledCUBIN   the CUBIN for that GPU architecture, cached

A CUBIN is the GPU's machine code for one architecture (sm_90 = Hopper, the H200), in an ELF file;
the driver loads it as is (~25 us). PTX, the portable alternative, would be JIT-compiled by the
driver on every load (~66 ms) and fails on a driver older than the NVRTC that wrote it. NVRTC is
the CUDA compiler as a library: no nvcc, no shell, no temporary files; it ships as a pip wheel
(nvidia-cuda-nvrtc), so a learner without a GPU can still compile every kernel. Its options are
fixed and logged (logger "shrimpgrad.cuda", level INFO):

    --gpu-architecture=sm_90   the CUBIN's architecture (a CUBIN only runs on that compute capability)
    --fmad=false               the compiler fuses no a*b+c into an FMA on its own (C: -ffp-contract=off; numpy rounds
                               twice); only the fmaf(a, b, acc) that stage 04's FMA rule writes for an accumulation
                               is fused (an explicit fmaf always is; SHRIMPGRAD_FMA=0: none)
    --prec-div=true --prec-sqrt=true --ftz=false   IEEE division, square root and denormals (the defaults, stated)
    --include-path=<dir>       only for float16 kernels: the folder of cuda_fp16.h (NVRTC has no built-in
                               copy; the header ships in the nvidia-cuda-runtime wheel, found by cuda.pathfinder)

The disk cache is stage 04's (shrimpgrad.c.cache), in its own space `cuda/`: entries are
`<key>.cubin` with a sha256 checksum, written atomically, verified before loading. The key hashes
the source, the options, NVRTC's version (and, for float16, the cuda_fp16 headers' bytes) and the
arch: a new NVRTC, another GPU or another header compiles again. A source NVRTC rejects is saved
as `cuda/failed/<kernel>-<key>.cu`, its path printed, and CUDACompileError carries NVRTC's log.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shrimpgrad.c import cache
from shrimpgrad.c.cache import CacheSpace, compile_stats

log = logging.getLogger("shrimpgrad.cuda")

DEFAULT_ARCH = "sm_90"  # the H200 (and H100); the runtime asks the GPU for its own
OPTIONS: tuple[str, ...] = ("--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--ftz=false")
CUDA_SPACE = CacheSpace("cuda", ".cubin", ".cu")
FP16_HEADERS = ("cuda_fp16.h", "cuda_fp16.hpp")


class CUDACompileError(RuntimeError):
    """NVRTC rejected a source (its log is in the message) or could not be loaded."""


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        raise CUDACompileError("NVRTC is not installed: pip install cuda-bindings nvidia-cuda-nvrtc "
                               "(or `pip install -e '.[cuda]'`)") from None
    return nvrtc


@lru_cache(maxsize=1)
def nvrtc_version() -> str:
    """NVRTC's version, e.g. "nvrtc 13.5" (part of every cache key)."""
    err, major, minor = _nvrtc().nvrtcVersion()
    _check(err, "nvrtcVersion")
    return f"nvrtc {major}.{minor}"


@lru_cache(maxsize=1)
def fp16_include_dir() -> Path:
    """The folder holding cuda_fp16.h: from the nvidia-cuda-runtime wheel (or a CUDA toolkit), via cuda.pathfinder."""
    found = None
    try:
        from cuda.pathfinder import find_nvidia_header_directory
        found = find_nvidia_header_directory("cudart")
    except Exception as e:  # noqa: BLE001 - an old or missing cuda-pathfinder: say what to install
        log.info("cuda.pathfinder could not look for cuda_fp16.h: %s", e)
    if not found or not (Path(found) / FP16_HEADERS[0]).exists():
        raise CUDACompileError("float16 kernels need cuda_fp16.h, which NVRTC does not ship: pip install "
                               "nvidia-cuda-runtime (the header's wheel; `pip install -e '.[cuda]'` has it)")
    return Path(found)


@lru_cache(maxsize=1)
def _fp16_headers_hash() -> str:
    d = fp16_include_dir()
    return cache.sha256_hex(b"".join((d / h).read_bytes() for h in FP16_HEADERS if (d / h).exists()))[:16]


def uses_fp16(source: str) -> bool:
    return "#include <cuda_fp16.h>" in source


def nvrtc_options(arch: str = DEFAULT_ARCH, source: str = "") -> list[str]:
    """The options for `source`: the arch, OPTIONS, and cuda_fp16.h's folder when the source includes it."""
    include = [f"--include-path={fp16_include_dir()}"] if uses_fp16(source) else []
    return [f"--gpu-architecture={arch}", *OPTIONS, *include]


def source_key(source: str, arch: str = DEFAULT_ARCH) -> str:
    """The cache key: source, options, NVRTC's version (+ the fp16 headers' hash when used) and the arch."""
    version = nvrtc_version() + (f" fp16-headers:{_fp16_headers_hash()}" if uses_fp16(source) else "")
    return cache.cache_key(source, tuple(nvrtc_options(arch, source)), version, target=arch)


@dataclass(frozen=True)
class CompiledCUBIN:
    """A CUBIN and how we got it (`origin`: "compiled" or "disk cache")."""

    cubin: bytes
    key: str
    origin: str
    seconds: float

    def __len__(self) -> int:
        return len(self.cubin)


def _check(result, call: str, log_text: str = "") -> None:
    nvrtc = _nvrtc()
    if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, msg = nvrtc.nvrtcGetErrorString(result)
        raise CUDACompileError(f"{call} failed: {msg.decode()}\n{log_text}".rstrip())


def nvrtc_compile(source: str, name: str, options: list[str]) -> bytes:
    """One NVRTC run: the CUBIN, or CUDACompileError with NVRTC's log."""
    nvrtc = _nvrtc()
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


def compile_cuda(source: str, name: str = "kernel", arch: str = DEFAULT_ARCH,
                 display_source: str | None = None) -> CompiledCUBIN:
    """The CUBIN of `source` for `arch`: from the disk cache when a verified entry exists, else NVRTC now.

    On an NVRTC error: CUDACompileError with NVRTC's log; `display_source` (the commented version) or
    `source` is saved in the cache's cuda/failed/ folder and its path printed."""
    start = time.perf_counter()
    options = nvrtc_options(arch, source)
    key = source_key(source, arch)
    path = cache.lookup(key, CUDA_SPACE)
    if path is not None:
        compile_stats.cache_hits += 1
        log.info("kernel %s: loaded from the cache (%s)", name, path)
        return CompiledCUBIN(path.read_bytes(), key, "disk cache", time.perf_counter() - start)

    def build(output: Path) -> None:
        try:
            output.write_bytes(nvrtc_compile(source, name, options))
        except CUDACompileError as e:
            saved = cache.save_failed_source(name, key, display_source or source, CUDA_SPACE)
            print(f"shrimpgrad.cuda: kernel {name} did not compile; its source is saved at {saved}", file=sys.stderr)
            raise CUDACompileError(f"kernel {name} did not compile (nvrtc {' '.join(options)}).\n{e}\n"
                                   f"(the source is saved at {saved})") from None

    path = cache.store(key, build, CUDA_SPACE)
    compile_stats.compiled += 1
    return CompiledCUBIN(path.read_bytes(), key, "compiled", time.perf_counter() - start)
