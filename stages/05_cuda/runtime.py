"""Run a Program on the GPU with the CUDA driver API (`cuda.bindings.driver`), in the primary context.

    alloc = CUDAAllocator()                      # raises NoCUDAError without a GPU
    ptr = alloc.alloc(nbytes); alloc.copyin(ptr, host); alloc.copyout(host, ptr); alloc.free(ptr)
    seconds = CUDAProgram(program)([out_ptr, in_ptr, ...])   # render, NVRTC -> CUBIN, load, launch, synchronize

The device's *primary* context is used (cuDevicePrimaryCtxRetain), the one the CUDA runtime, torch and
CuPy use, so they can share the process. Launch dimensions come from launch.py: the Program's own
grid and block when it has threads, else its x positions in blocks of 128 with a bounds guard.
CUBINs come from the disk cache when they can (compiler.py). Every driver error becomes CUDAError
naming the call and the driver's error string.
"""

from __future__ import annotations

import ctypes
import threading
import time

import numpy as np

from shrimpgrad.graph.switches import switch
from shrimpgrad.linearize import Program

from .compiler import compile_cuda
from .dialect import cuda_sources
from .launch import Launch
from .opts import GPULimits
from .tensor_cores import TileMatmul
from .vectorize import vectorized_buffers


class NoCUDAError(RuntimeError):
    """No usable CUDA GPU in this process."""


class CUDAError(RuntimeError):
    """A CUDA driver call failed (the message names the call and the driver's error string)."""


_lock = threading.Lock()
_state: dict = {}
_current = threading.local()  # .ctx: the context this thread made current (cuCtxSetCurrent once, not per call)
_sizes: dict[int, int] = {}  # device pointer -> bytes, for the buffer-size check
# Bumped by every free: a launch whose pointers equal the last call's skips the size check only while this is
# unchanged, since a freed pointer may be handed out again, smaller, at the same address (CUDAProgram.enqueue).
_frees = 0


def _driver():
    try:
        from cuda.bindings import driver
    except ImportError:
        raise NoCUDAError("no CUDA GPU found: cuda-bindings is not installed (pip install cuda-bindings "
                          "nvidia-cuda-nvrtc). Use device 'C' or 'PYTHON'; shrimpgrad.cuda.render_cuda and "
                          "compile_cuda still show and compile the CUDA source without a GPU") from None
    return driver


def _check(result, call: str):
    driver = _driver()
    err, rest = result[0], result[1:]
    if err != driver.CUresult.CUDA_SUCCESS:
        _, msg = driver.cuGetErrorString(err)
        raise CUDAError(f"{call} failed: {err.name}: {msg.decode() if msg else '?'}")
    return rest[0] if len(rest) == 1 else rest


def _context():
    """Initialize the driver once and make the primary context of device 0 current in this thread."""
    driver = _driver()
    with _lock:
        if "ctx" not in _state:
            try:
                (err,) = driver.cuInit(0)
            except Exception as e:  # no libcuda.so (no NVIDIA driver): cuda-bindings fails to load it
                raise NoCUDAError(f"no CUDA GPU found: the NVIDIA driver library did not load ({type(e).__name__}"
                                  "). Use device 'C' or 'PYTHON'; shrimpgrad.cuda.render_cuda and compile_cuda "
                                  "work without a GPU") from None
            if err != driver.CUresult.CUDA_SUCCESS:
                raise NoCUDAError(f"no CUDA GPU found (cuInit: {err.name}). Use device 'C' or 'PYTHON'; "
                                  "shrimpgrad.cuda.render_cuda and compile_cuda work without a GPU")
            count = _check(driver.cuDeviceGetCount(), "cuDeviceGetCount")
            if count == 0:
                raise NoCUDAError("no CUDA GPU found (the driver sees 0 devices). Use device 'C' or 'PYTHON'")
            dev = _check(driver.cuDeviceGet(0), "cuDeviceGet")
            _state["dev"] = dev
            _state["ctx"] = _check(driver.cuDevicePrimaryCtxRetain(dev), "cuDevicePrimaryCtxRetain")
            major = _check(driver.cuDeviceGetAttribute(
                driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), "cuDeviceGetAttribute")
            minor = _check(driver.cuDeviceGetAttribute(
                driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), "cuDeviceGetAttribute")
            _state["arch"] = f"sm_{major}{minor}"
    if getattr(_current, "ctx", None) is not _state["ctx"]:  # once per thread: a context is current per thread
        _check(driver.cuCtxSetCurrent(_state["ctx"]), "cuCtxSetCurrent")
        _current.ctx = _state["ctx"]
    return driver


def cuda_available() -> bool:
    """Whether a CUDA GPU can be used in this process."""
    try:
        _context()
        return True
    except (NoCUDAError, CUDAError):
        return False


def device_arch() -> str:
    """The GPU's architecture for NVRTC, e.g. sm_90."""
    _context()
    return _state["arch"]


def device_limits() -> GPULimits:
    """The present GPU's name and the limits the opts policy stays within (opts.py)."""
    driver = _context()
    if "limits" not in _state:
        attr, dev = driver.CUdevice_attribute, _state["dev"]

        def get(a) -> int:
            return int(_check(driver.cuDeviceGetAttribute(a, dev), f"cuDeviceGetAttribute({a.name})"))

        name = _check(driver.cuDeviceGetName(256, dev), "cuDeviceGetName")
        name = bytes(name).split(b"\0")[0].decode(errors="replace")
        _state["limits"] = GPULimits(f"{name} ({_state['arch']})",
                                     get(attr.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
                                     get(attr.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
                                     get(attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
                                     get(attr.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN))
    return _state["limits"]


def driver_version() -> str:
    """The CUDA version the driver supports, e.g. "13.0" (nvidia-smi shows the driver's own number)."""
    driver = _context()
    v = int(_check(driver.cuDriverGetVersion(), "cuDriverGetVersion"))
    return f"{v // 1000}.{v % 1000 // 10}"


class CUDAAllocator:
    """Device memory: pointers are ints."""

    def __init__(self) -> None:
        self.driver = _context()

    def alloc(self, nbytes: int) -> int:
        _context()
        ptr = int(_check(self.driver.cuMemAlloc(max(int(nbytes), 1)), f"cuMemAlloc({nbytes})"))
        _sizes[ptr] = int(nbytes)
        return ptr

    def free(self, ptr: int) -> None:
        global _frees
        _context()
        _check(self.driver.cuMemFree(self.driver.CUdeviceptr(ptr)), "cuMemFree")
        _sizes.pop(ptr, None)
        _frees += 1

    def copyin(self, ptr: int, host: np.ndarray) -> None:
        host = np.ascontiguousarray(host)
        self._fits(ptr, host.nbytes, "copyin")
        _context()
        _check(self.driver.cuMemcpyHtoD(self.driver.CUdeviceptr(ptr), host.ctypes.data, host.nbytes), "cuMemcpyHtoD")

    def copyout(self, host: np.ndarray, ptr: int) -> None:
        if not host.flags.c_contiguous or not host.flags.writeable:
            raise ValueError("copyout needs a writable C-contiguous numpy array")
        self._fits(ptr, host.nbytes, "copyout")
        _context()
        _check(self.driver.cuMemcpyDtoH(host.ctypes.data, self.driver.CUdeviceptr(ptr), host.nbytes), "cuMemcpyDtoH")

    @staticmethod
    def _fits(ptr: int, nbytes: int, what: str) -> None:
        if ptr in _sizes and nbytes > _sizes[ptr]:
            raise ValueError(f"{what}: {nbytes} bytes do not fit the {_sizes[ptr]}-byte allocation at {ptr:#x}")


SYNC_ENV = "SHRIMPGRAD_CUDA_SYNC"  # 0: launch without waiting (see CUDAProgram)


# Whether CUDAProgram waits for every kernel (the default) or only launches it ($SHRIMPGRAD_CUDA_SYNC=0). Read
# once, at import (as the C dialect's switches are): reading the environment on every launch was ~0.7 us of a 20 us
# replay.
SYNC_EACH_LAUNCH = switch(SYNC_ENV)


class CUDAProgram:
    """A Program compiled for this GPU: `__call__(buffers: list[int]) -> seconds` (launch + synchronize).
    `source` is the CUDA C (with comments), `launch` the grid/block, `origin` "compiled" or "disk cache".

    What a launch costs in Python is kept small, because a small kernel runs in a few microseconds and a
    training step launches hundreds (the "launch fast path"):
    * the CUfunction handle is looked up once, here (the runtime's runner cache keeps this object per kernel);
    * the kernel's arguments are *prepared*: a ctypes array of the buffer pointers and the `void**` array of
      their addresses that cuLaunchKernel reads, made once; a call with the buffers of the last call passes the
      same array again, other buffers are written into it (no per-call tuples for cuda-bindings to convert);
    * the buffer-size check runs only when the buffers change, or when memory was freed since it ran (a freed
      pointer can come back from cuMemAlloc at the same address with a smaller size);
    * the context is made current once per thread (`_context`), not per launch.
    `enqueue(buffers)` only enqueues the kernel (stream 0); `__call__` also waits for it, unless
    $SHRIMPGRAD_CUDA_SYNC=0: then it returns after the launch, its seconds are the launch's (not the
    kernel's), and a failing kernel is reported by the next call that waits (a copy to the host, say).
    Stream 0 runs kernels and copies in order, so not waiting never lets a copy see a half-written buffer."""

    def __init__(self, program: Program, launch: Launch | None = None, tile: TileMatmul | None = None):
        driver = _context()
        self.program, self.name, self.tile = program, program.name, tile
        self.launch, self.source, compiled_source = cuda_sources(program, launch, tile)
        shared = 0 if tile is None else tile.shared_bytes  # rule 5's tiles are dynamic shared memory
        compiled = compile_cuda(compiled_source, program.name, _state["arch"], display_source=self.source)
        self.cubin, self.origin = compiled.cubin, compiled.origin
        self.module = _check(driver.cuModuleLoadData(self.cubin), f"cuModuleLoadData({self.name})")
        self.function = _check(driver.cuModuleGetFunction(self.module, self.name.encode()),
                               f"cuModuleGetFunction({self.name})")
        if shared > 48 * 1024:  # past 48 KB a kernel must ask for its dynamic shared memory (the driver's opt-in)
            _check(driver.cuFuncSetAttribute(
                self.function, driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared),
                f"cuFuncSetAttribute({self.name}, MAX_DYNAMIC_SHARED_SIZE_BYTES={shared})")
        self.grid, self.block = self.launch.grid, self.launch.block
        self._globals = program.globals
        self._needs = tuple(g.arg[3] * g.dtype.itemsize for g in self._globals)  # bytes each buffer must hold
        # read through float4 (VECTORIZE) or cp.async's 16-byte copies (rule 5): 16-byte aligned pointers only
        self._aligned = vectorized_buffers(program) if tile is None else tuple(range(len(self._globals)))
        n = len(self._globals)
        self._values = (ctypes.c_void_p * max(n, 1))()  # the pointers, as the kernel's parameters
        self._addresses = (ctypes.c_void_p * max(n, 1))(
            *(ctypes.addressof(self._values) + i * ctypes.sizeof(ctypes.c_void_p) for i in range(n)))
        self._params = ctypes.addressof(self._addresses)  # the void** cuLaunchKernel reads
        self._bound: tuple = ()  # the buffers the arrays hold now
        self._bound_frees = -1  # _frees when they were checked
        self._args_lock = threading.Lock()  # two threads must not rewrite the arrays between set and launch
        self._launch_args = (self.function, *self.grid, *self.block, shared, 0, self._params, 0)
        self._what = f"cuLaunchKernel({self.name}, grid={self.grid}, block={self.block})"
        self._driver = driver
        # looked up once: a replay of a 1-kernel step is ~20 us, and each attribute, f-string or call counts
        self._launch, self._sync = driver.cuLaunchKernel, driver.cuCtxSynchronize
        self._ok = driver.CUresult.CUDA_SUCCESS
        self._sync_what = f"cuCtxSynchronize after {self.name} (or a kernel launched before it)"

    def _bind(self, buffers) -> None:
        if len(buffers) != len(self._globals):
            raise ValueError(f"kernel {self.name} takes {len(self._globals)} buffers, got {len(buffers)}")
        for g, need, ptr in zip(self._globals, self._needs, buffers):
            if ptr in _sizes and _sizes[ptr] < need:
                raise ValueError(f"kernel {self.name}, buffer {g.arg[0]}: needs {need} bytes, the allocation "
                                 f"has {_sizes[ptr]}")
        for i in self._aligned:
            if int(buffers[i]) % 16:
                why, fix = (("as float4 (VECTORIZE)", "SHRIMPGRAD_CUDA_VECTORIZE=0") if self.tile is None else
                            ("with 16-byte copies (tensor cores)", "SHRIMPGRAD_CUDA_RULES_OFF=tensor_cores"))
                raise ValueError(f"kernel {self.name}, buffer {i}: the kernel reads it {why}, so its pointer must be "
                                 f"16-byte aligned, got {int(buffers[i]):#x}; pass whole allocations or set {fix}")
        for i, ptr in enumerate(buffers):
            self._values[i] = int(ptr)
        self._bound, self._bound_frees = tuple(buffers), _frees

    def enqueue(self, buffers) -> None:
        """Enqueue the kernel on `buffers` (device pointers, DEFINE_GLOBAL order) without waiting for it."""
        with self._args_lock:
            if self._bound_frees != _frees or tuple(buffers) != self._bound:
                self._bind(buffers)
            (err,) = self._launch(*self._launch_args)
        if err != self._ok:
            _check((err,), self._what)

    def finish(self) -> None:
        """Wait for this kernel and every one launched before it (stream 0 runs them in order), unless
        $SHRIMPGRAD_CUDA_SYNC=0; a kernel that failed raises here. The runtime launches a run's kernels with
        `enqueue` and calls this once, after the last (realize.SlotRun): one wait per run, not per kernel."""
        if SYNC_EACH_LAUNCH:
            (err,) = self._sync()
            if err != self._ok:
                _check((err,), self._sync_what)

    def __call__(self, buffers) -> float:
        start = time.perf_counter()
        self.enqueue(buffers)
        self.finish()
        return time.perf_counter() - start


class EventTimer:
    """Kernel time measured by the GPU itself: CUDA events recorded on stream 0 around `fn` (what runs on the
    GPU between them, without Python's launch overhead as long as the GPU is kept busy)."""

    def __init__(self) -> None:
        self.driver = _context()
        flags = self.driver.CUevent_flags.CU_EVENT_DEFAULT
        self.start = _check(self.driver.cuEventCreate(flags), "cuEventCreate")
        self.stop = _check(self.driver.cuEventCreate(flags), "cuEventCreate")

    def __call__(self, fn, repeat: int = 1) -> float:
        """Seconds per call of `fn` (which launches work), over `repeat` calls between the two events."""
        _check(self.driver.cuEventRecord(self.start, 0), "cuEventRecord")
        for _ in range(repeat):
            fn()
        _check(self.driver.cuEventRecord(self.stop, 0), "cuEventRecord")
        _check(self.driver.cuEventSynchronize(self.stop), "cuEventSynchronize")
        return float(_check(self.driver.cuEventElapsedTime(self.start, self.stop), "cuEventElapsedTime")) / 1e3 / repeat
