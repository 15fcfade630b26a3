"""Devices: where memory lives and how a scheduled `Kernel` becomes something that runs there.

`Device[name]` is the record of one device (tinygrad's names: `Device.DEFAULT` is a string, `Device["C"]` an
object). It holds everything the runtime needs to know about the device, and nothing else does:

    allocator      alloc / free / copyin / copyout of the device's memory, behind a pool of freed buffers
    build          how a stage-03 `Program` becomes a runner (compile C, interpret, NVRTC ...)
    opts           the stage-03 kernel optimizations chosen *for this device* before linearizing
    dtypes, is_gpu what it supports

    C       stage 03 linearize -> stage 04 render C, compile (cached on disk), call through ctypes
    PYTHON  stage 03 linearize -> stage 03's UOp interpreter (slow, but every step is Python you can read)
    CUDA    stage 03 linearize (GPU opts, gpu=True) -> stage 05 render CUDA, NVRTC, launch (needs an NVIDIA GPU)

EMIT=cuda prints each kernel's CUDA on any device: on CUDA the source it runs, elsewhere what CUDA would run
(stage 05's `cuda_kernel`: the GPU opts, rendered and NVRTC-compiled; no GPU needed).

C and PYTHON keep their memory as host numpy arrays, each device its own; a copy between them is a memcpy.
`kernel_runner(kernel, device)` is memoized on the kernel's AST: the AST names buffers by position, not
identity, so the same computation on new tensors (every step of a training loop) reuses the same program.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shrimpgrad.graph import ALL_DTYPES, DType
from shrimpgrad.helpers import DEVICE, NOOPT, dump_console
from shrimpgrad.schedule import Kernel, kernel_flops

# Stages 03 and 04 are imported when a device is first used (each device's maker in _Devices below) or a kernel is
# first built, not with shrimpgrad: together ~25 ms of `import shrimpgrad` (issue 12, W7) that a program which never
# realizes anything doesn't need.
if TYPE_CHECKING:
    from shrimpgrad.linearize import Opt, Program


class NoDeviceError(RuntimeError):
    """The device exists in ShrimpGrad but not on this machine (e.g. CUDA without an NVIDIA GPU)."""


# ---- memory ----------------------------------------------------------------------------------------------------

class HostAllocator:
    """Host memory as flat numpy arrays (devices C and PYTHON). A handle IS the array."""

    def alloc(self, size: int, dtype: DType) -> np.ndarray:
        return np.empty(size, dtype=dtype.np)  # kernels write every element of a fresh buffer: no need to zero

    def free(self, handle: np.ndarray) -> None:
        pass  # numpy frees the array when the last reference goes

    def copyin(self, handle: np.ndarray, host: np.ndarray) -> None:
        np.copyto(handle, host.reshape(-1), casting="no")

    def copyout(self, host: np.ndarray, handle: np.ndarray) -> None:
        np.copyto(host.reshape(-1), handle, casting="no")

    def as_host(self, handle: np.ndarray) -> np.ndarray | None:
        """The handle's memory as a numpy array when the host can read it directly (no copy), else None."""
        return handle


class BufferPool:
    """Freed buffers of one device, kept by (size, dtype) and handed out again.

    Why: a fresh large host allocation costs page faults on first touch, which dominate an elementwise kernel;
    a training step frees and allocates the same sizes every step. Safety: the runtime returns a buffer here
    only when no graph node can read it any more (its `BufferRef` died) or, for a schedule's temporary, after
    the last kernel that reads it, so nothing handed out is still read by a live tensor."""

    def __init__(self, allocator, max_bytes: int = 1 << 30):
        self.allocator, self.max_bytes, self.held_bytes = allocator, max_bytes, 0
        # keyed by the dtype's name, which names it: a str's hash is cached, a DType's __hash__ is a Python call
        # (twice per buffer, and a training step or a replay makes and frees its temporaries every time)
        self.free_lists: dict[tuple[int, str], list[Any]] = {}
        self.reused = self.allocated = 0

    def alloc(self, size: int, dtype: DType) -> Any:
        free = self.free_lists.get((size, dtype.name))
        if free:
            self.held_bytes -= size * dtype.itemsize
            self.reused += 1
            return free.pop()
        self.allocated += 1
        return self.allocator.alloc(size, dtype)

    def free(self, handle: Any, size: int, dtype: DType) -> None:
        nbytes = size * dtype.itemsize
        if self.held_bytes + nbytes > self.max_bytes:  # keep the pool bounded: give the memory back
            self.allocator.free(handle)
            return
        self.free_lists.setdefault((size, dtype.name), []).append(handle)
        self.held_bytes += nbytes

    def clear(self) -> None:
        for handles in self.free_lists.values():
            for h in handles:
                self.allocator.free(h)
        self.free_lists.clear()
        self.held_bytes = 0


# ---- running kernels -------------------------------------------------------------------------------------------

@dataclass
class KernelRunner:
    """A kernel ready to run: `runner.run(handles) -> seconds`. `origin` says where the code came from
    ("compiled", "disk cache", "memory" for C and CUDA; "interpreted" for PYTHON)."""

    program: Program
    origin: str
    run: Callable[[Sequence[Any]], float]
    source: str | None = None  # the generated source, when there is one
    flops: int = 0  # kernel_flops of the AST: counted once here, not walked again on every run
    cuda_dump: str | None = None  # EMIT=cuda on a device other than CUDA: the CUDA it would run, made once
    origins: tuple = ()  # the provenance of the kernel it was built for (its source's comments name these)


def _python_runner(program: Program) -> KernelRunner:
    from shrimpgrad.linearize import interpret  # stage 03's interpreter: see the imports at the top

    def run(buffers: Sequence[np.ndarray]) -> float:
        start = time.perf_counter()
        interpret(program, buffers)
        return time.perf_counter() - start

    return KernelRunner(program, "interpreted", run)


def _c_runner(program: Program) -> KernelRunner:
    from shrimpgrad.c import CProgram  # stage 04: see the imports at the top

    prog = CProgram(program)
    return KernelRunner(program, prog.origin, prog, prog.source)


# ---- the device records -------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)  # its own __repr__ (below): no generated one to make
class DeviceSpec:
    """Everything the runtime knows about one device (see the module docstring)."""

    name: str
    allocator: Any
    build: Callable[..., KernelRunner]  # build(program), or build(program, tile) for a kernel `tile` planned
    opts: Callable[[Kernel], tuple[Opt, ...]]
    # A plan of the device's own for some kernels instead of stage 03's loop nest, or None (CUDA: stage 05's rule
    # 5, a float16 matmul on the tensor cores). The plan is part of the runner cache's key.
    tile: Callable[[Kernel], Any] | None = None
    dtypes: frozenset[DType] = field(default=frozenset(ALL_DTYPES))
    is_gpu: bool = False
    pool: BufferPool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", BufferPool(self.allocator))

    def __repr__(self) -> str:
        return f"<Device {self.name}{' (GPU)' if self.is_gpu else ''}>"


def _c_device() -> DeviceSpec:
    """The C record, made on first use: stage 04's CPU opts policy (choose_c_opts), its compiled C programs."""
    from shrimpgrad.c import choose_c_opts  # stage 04 (with stage 03): see the imports at the top

    return DeviceSpec("C", HostAllocator(), _c_runner, choose_c_opts)


def _python_device() -> DeviceSpec:
    """The PYTHON record, made on first use: stage 03's opts for no GPU (none), so the interpreter runs the plain
    loop nest."""
    from shrimpgrad.linearize import default_opts  # stage 03: see the imports at the top

    return DeviceSpec("PYTHON", HostAllocator(), _python_runner, lambda kernel: default_opts(kernel, gpu=False))


class _BytesAllocator:
    """A stage allocator that counts bytes (`alloc(nbytes)`, e.g. stage 05's CUDAAllocator) seen through the
    runtime's interface (`alloc(size, dtype)`); its memory is not host memory (`as_host` is None)."""

    def __init__(self, inner):
        self.inner = inner

    def alloc(self, size: int, dtype: DType) -> Any:
        return self.inner.alloc(max(size * dtype.itemsize, 1))

    def free(self, handle: Any) -> None:
        self.inner.free(handle)

    def copyin(self, handle: Any, host: np.ndarray) -> None:
        self.inner.copyin(handle, np.ascontiguousarray(host).reshape(-1))

    def copyout(self, host: np.ndarray, handle: Any) -> None:
        self.inner.copyout(host, handle)

    def as_host(self, handle: Any) -> None:
        return None


def _cuda_device() -> DeviceSpec:
    """The CUDA record, made on first use: it needs cuda-bindings and a GPU (stage 05)."""
    try:
        from shrimpgrad import cuda  # stage 05; imported only when CUDA is asked for
    except ImportError as e:
        raise NoDeviceError(f"device 'CUDA': stage 05 can't be imported ({e}); install the extra with "
                            "`pip install -e '.[cuda]'`, or use device 'C'") from None
    if not cuda.cuda_available():
        raise NoDeviceError("device 'CUDA': no CUDA GPU was found on this machine (or its driver can't be loaded); "
                            "use device 'C' (default) or 'PYTHON'. Without a GPU you can still read and "
                            "NVRTC-compile the CUDA for a program: EMIT=cuda, or shrimpgrad.cuda.source_for(tensor)")

    def build(program: Program, tile=None) -> KernelRunner:
        prog = cuda.CUDAProgram(program, tile=tile)
        return KernelRunner(program, prog.origin, prog, f"// {program.name}: {prog.launch}\n{prog.source}")

    limits = cuda.device_limits()  # the opts policy (stage 05 opts.py, SHRIMPGRAD_CUDA_OPTS) stays within these
    return DeviceSpec("CUDA", _BytesAllocator(cuda.CUDAAllocator()), build,
                      lambda kernel: cuda.choose_opts(kernel, limits=limits), is_gpu=True,
                      tile=lambda kernel: cuda.choose_tile(kernel, limits=limits))


class _Devices:
    """`Device["C"]` -> its DeviceSpec (made once, on first use); `Device.DEFAULT` -> the default's name."""

    NAMES = ("C", "PYTHON", "CUDA")
    ALIASES = {"CPU": "C"}

    def __init__(self):
        self._made: dict[str, DeviceSpec] = {}
        self._makers: dict[str, Callable[[], DeviceSpec]] = {
            "C": _c_device, "PYTHON": _python_device, "CUDA": _cuda_device}

    def canonicalize(self, name: str | None) -> str:
        """"C" (default), "PYTHON" or "CUDA"; "CPU" is another name for "C"; the DEVICE setting changes the default."""
        key = str(name or DEVICE.value or "C").upper()
        key = self.ALIASES.get(key, key)
        if key not in self.NAMES:
            raise ValueError(f"unknown device {name!r}; valid devices are {', '.join(self.NAMES)} (CPU = C)")
        return key

    def __getitem__(self, name: str) -> DeviceSpec:
        made = self._made.get(name) if isinstance(name, str) else None  # asked for every buffer: the fast case first
        if made is not None:
            return made
        key = self.canonicalize(name)
        if key not in self._made:
            self._made[key] = self._makers[key]()
        return self._made[key]

    @property
    def DEFAULT(self) -> str:  # noqa: N802 - tinygrad's name
        return self.canonicalize(None)


Device = _Devices()


# ---- kernels -> runners, memoized --------------------------------------------------------------------------

_MAX_CACHED = 4096
_runners: OrderedDict[tuple, KernelRunner] = OrderedDict()


def _ast_key(ast) -> tuple:
    """The AST's structure as flat rows (op, dtype, arg, source positions): comparing two such keys is linear, while
    comparing two separately built ASTs node by node revisits shared subtrees once per path (exponential)."""
    order = ast.toposort()
    index = {id(n): i for i, n in enumerate(order)}
    return tuple((n.op, n.dtype, n.arg, tuple(index[id(s)] for s in n.src)) for n in order)


RUNNER_CACHE = "runner cache"  # where a kernel came from when its runner was built before: nothing compiled or loaded


def kernel_runner(kernel: Kernel, device: str) -> KernelRunner:
    """Linearize and build `kernel` for `device` (with the device's opts), or return the runner built earlier for
    the same AST. (The DEBUG/EMIT dumps are printed when an ExecItem runs: realize.run_items.)"""
    return lookup_runner(kernel, device)[0]


def lookup_runner(kernel: Kernel, device: str) -> tuple[KernelRunner, str]:
    """(runner, where it came from this time): the runner's own origin when it was built now ("compiled", "disk
    cache", "memory" for a library already loaded, "interpreted"), RUNNER_CACHE when it was built before."""
    spec = Device[device]
    # NOOPT=1 (tinygrad's switch): the plain loop nest on every device. A tile plan (CUDA's tensor cores) replaces
    # the opts: the Program then only names the kernel and its buffers.
    tile = spec.tile(kernel) if spec.tile is not None and not NOOPT else None
    opts = () if NOOPT or tile is not None else spec.opts(kernel)
    sizes = tuple(b.size for b in kernel.bufs)  # the globals' sizes are part of the code
    key = (spec.name, kernel.name, _ast_key(kernel.ast), sizes, opts, tile)
    runner = _runners.get(key)
    if runner is None:
        from shrimpgrad.linearize import linearize  # stage 03: see the imports at the top

        program = linearize(kernel, opts, gpu=spec.is_gpu)  # a GPU's loops are blockIdx/threadIdx
        runner = spec.build(program) if tile is None else spec.build(program, tile)
        runner.flops = kernel_flops(kernel)
        runner.origins = _ast_origins(kernel)
        _runners[key] = runner
        if len(_runners) > _MAX_CACHED:
            _runners.popitem(last=False)
        return runner, runner.origin
    _runners.move_to_end(key)
    return runner, runner.origin if runner.origin == "interpreted" else RUNNER_CACHE


def _ast_origins(kernel: Kernel) -> tuple:
    return tuple(o for n in kernel.ast.toposort() for o in n.origins)


def display_source(kernel: Kernel, runner: KernelRunner, device: str) -> str | None:
    """The source to show for `kernel` (DEBUG=4, EMIT=c): the runner's, unless the runner was built for an equal
    kernel from other user lines (the runner cache finds it by AST). Then its comments would name those lines,
    so on C the kernel is rendered again with its own provenance (the same code: the comments differ)."""
    if runner.source is None or Device.canonicalize(device) != "C" or runner.origins == _ast_origins(kernel):
        return runner.source
    from shrimpgrad.c import render as render_c  # stages 04 and 03: see the imports at the top
    from shrimpgrad.linearize import linearize

    spec = Device[device]
    return render_c(linearize(kernel, () if NOOPT else spec.opts(kernel), gpu=False))


def print_cuda_dump(kernel: Kernel, runner: KernelRunner, device: str) -> None:
    """EMIT=cuda: the CUDA of one kernel. On device CUDA the source it runs; on another device what CUDA would
    run (stage 05, NVRTC-compiled, no GPU needed), made once per runner."""
    if Device.canonicalize(device) == "CUDA":
        source = runner.source or ""
    else:
        if runner.cuda_dump is None:
            from shrimpgrad.cuda import cuda_kernel  # stage 05; needs cuda-bindings for NVRTC

            runner.cuda_dump = str(cuda_kernel(kernel))
        source = runner.cuda_dump
    from shrimpgrad.c.viz import CUDA_HEADER, print_source  # rich (and pygments) load when a dump is asked for

    print_source(source, console=dump_console(), header=CUDA_HEADER)
