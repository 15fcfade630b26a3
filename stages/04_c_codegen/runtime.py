"""Run a Program on numpy arrays: render -> compile (cached) -> dlopen with ctypes -> call.

    prog = CProgram(program)          # renders, compiles or loads from the cache, dlopens
    seconds = prog([out, a, b])       # flat C-contiguous numpy arrays, in DEFINE_GLOBAL order

Loaded libraries are kept in a small in-process LRU dict keyed by the cache key, so building the
same CProgram 10,000 times (a training loop realizing the same kernel) dlopens one library once.
Before every call the buffers are checked, because C checks nothing: the count, each dtype,
C-contiguity, writability of outputs, that no output overlaps another buffer (the kernel's
pointers are `restrict`), and that each buffer has at least the element count its DEFINE_GLOBAL
declares (stage 03 writes the kernel buffer's size there; every access the Program makes lies
inside it). A wrong buffer raises ArgumentError instead of corrupting memory.
"""

from __future__ import annotations

import ctypes
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from shrimpgrad.graph.notebook import attach_reprs
from shrimpgrad.linearize import Program

from .cache import compile_stats, log
from .compiler import compile_c, source_key
from .renderer import render

MAX_LOADED = 512  # libraries kept referenced by the LRU dict

# OpenMP's wait policy (threads sleep between kernels) is set with the package: see __init__.py.


class ArgumentError(ValueError):
    """The buffers passed to a CProgram don't match what its kernel expects."""


# An evicted library is not unloaded (ctypes never dlcloses; a function pointer may still be held
# somewhere), the dict only stops growing. Loading it again later is a cheap dlopen of a file that
# is already mapped.
_loaded: OrderedDict[str, ctypes.CDLL] = OrderedDict()
_lock = threading.Lock()


# Each array's data pointer, remembered: `arr.ctypes.data` builds a ctypes helper object (~3 us on the 2-core VM),
# which was most of what launching a small kernel cost. A live array's pointer changes only when `resize` moves its
# memory (numpy doesn't allow assigning `.data`), and numpy refuses to resize an array that has a weak reference,
# which each entry holds (so it doesn't keep the array alive either); the byte count is compared as well. An entry
# is used only for the same array, and goes when the array does.
_pointers: dict[int, tuple[weakref.ref, int, int]] = {}


def data_pointer(arr: np.ndarray) -> int:
    """`arr.ctypes.data`, remembered per array (see `_pointers`)."""
    key = id(arr)
    entry = _pointers.get(key)
    if entry is not None and entry[0]() is arr and entry[2] == arr.nbytes:
        return entry[1]
    ptr = arr.ctypes.data
    _pointers[key] = (weakref.ref(arr, lambda _, key=key: _pointers.pop(key, None)), ptr, arr.nbytes)
    return ptr


def clear_loaded() -> None:
    """Forget the in-process libraries (tests use it to force a disk-cache lookup)."""
    with _lock:
        _loaded.clear()


class CProgram:
    """A Program compiled for this CPU and ready to run.

    Attributes: `source` (the C, with comments), `origin` ("compiled", "disk cache" or "memory": where
    the binary came from, for DEBUG=1), `key` (the cache key), `compile_seconds`."""

    def __init__(self, program: Program, openmp: bool = True):
        self.program, self.name = program, program.name
        self.source = render(program, comments=True, openmp=openmp)
        # Compile the comment-free source: comments carry user file:line provenance, which should not
        # make an edit elsewhere in a user's script recompile every kernel. Same code, same line numbers.
        compiled_source = render(program, comments=False, openmp=openmp)
        self.key = source_key(compiled_source)
        start = time.perf_counter()
        with _lock:
            lib = _loaded.get(self.key)
            if lib is not None:
                _loaded.move_to_end(self.key)
                compile_stats.memory_hits += 1
                self.origin = "memory"
            else:
                compiled = compile_c(compiled_source, program.name, display_source=self.source)
                lib = ctypes.CDLL(str(compiled.path))  # compile_c verified the file's checksum first
                _loaded[self.key] = lib
                while len(_loaded) > MAX_LOADED:
                    _loaded.popitem(last=False)
                self.origin = compiled.origin
        self.compile_seconds = time.perf_counter() - start
        self._lib = lib  # keep the library referenced as long as the program lives
        self._fn = lib[program.name]
        self._fn.argtypes = [ctypes.c_void_p] * len(program.globals)
        self._fn.restype = None
        self._globals = program.globals
        # what each buffer must be, read once (the check below runs before every launch): dtype, output?, elements
        self._expect = tuple((g.dtype.np, bool(g.arg[2]), g.arg[3]) for g in program.globals)
        self._outputs = tuple(i for i, g in enumerate(program.globals) if g.arg[2])
        log.info("kernel %s: %s (%.1f ms)", self.name, self.origin, self.compile_seconds * 1e3)

    def __call__(self, buffers: Sequence[np.ndarray]) -> float:
        """Run the kernel on `buffers` (one per DEFINE_GLOBAL, in index order); returns elapsed seconds."""
        pointers = self.check(buffers)
        start = time.perf_counter()
        self._fn(*pointers)
        return time.perf_counter() - start

    def check(self, buffers: Sequence[np.ndarray]) -> list[int]:
        """Raise ArgumentError if `buffers` can't safely be passed to the kernel; else their data pointers."""
        if len(buffers) != len(self._globals):
            raise ArgumentError(f"kernel {self.name} takes {len(self._globals)} buffers "
                                f"({', '.join(self._describe(g) for g in self._globals)}), got {len(buffers)}")
        pointers, ends = [], []
        for (dtype, is_output, size), buf in zip(self._expect, buffers):
            if not (isinstance(buf, np.ndarray) and buf.dtype == dtype and buf.flags.c_contiguous
                    and (not is_output or buf.flags.writeable) and buf.size >= size):
                g = self._globals[len(pointers)]  # the message is made only now: this runs before every launch
                raise ArgumentError(f"kernel {self.name}, buffer {g.arg[0]} ({self._describe(g)}): "
                                    f"{self._problem(g, buf)}")
            pointer = data_pointer(buf)
            pointers.append(pointer)
            ends.append(pointer + buf.nbytes)
        # No output may overlap another buffer (they are `restrict`). Each is C-contiguous, so it spans exactly
        # [pointer, end): what np.may_share_memory compares, here as integers. An empty buffer overlaps nothing.
        for i in self._outputs:
            start, end = pointers[i], ends[i]
            if start == end:
                continue
            for j, (other, other_end) in enumerate(zip(pointers, ends)):
                if j != i and other < end and start < other_end and other != other_end:
                    raise ArgumentError(f"kernel {self.name}: output buffer {self._globals[i].arg[0]} overlaps buffer "
                                        f"{self._globals[j].arg[0]}; buffers are `restrict` pointers and must not "
                                        "overlap (pass a copy)")
        return pointers

    @staticmethod
    def _problem(g, buf) -> str | None:
        """What is wrong with passing `buf` for the DEFINE_GLOBAL `g`, or None."""
        _, _, is_output, size = g.arg
        if not isinstance(buf, np.ndarray):
            return f"expected a numpy array, got {type(buf).__name__}"
        if buf.dtype != g.dtype.np:
            return (f"got dtype {buf.dtype}; pass an array of dtype {g.dtype.np_name} "
                    f"(e.g. arr.astype(np.{g.dtype.np_name}))")
        if not buf.flags.c_contiguous:
            return f"the array is not C-contiguous (strides {buf.strides}); pass np.ascontiguousarray(arr)"
        if is_output and not buf.flags.writeable:
            return "the kernel writes this buffer but the array is read-only"
        if buf.size < size:
            return (f"the kernel uses {size} elements but the array has only {buf.size}; "
                    f"pass an array of at least {size} elements")
        return None

    @staticmethod
    def _describe(g) -> str:
        index, name, is_output, size = g.arg
        return f"data{index}: {size} x {g.dtype.name} {'output' if is_output else 'input'}" + (
            f" '{name}'" if name != f"data{index}" else "")

    def __repr__(self) -> str:
        return f"CProgram({self.name!r}, {len(self._globals)} buffers, {self.origin}, key={self.key[:12]})"


# Pictures: `rich.print(prog)` and `prog` alone in a notebook cell show a CProgram's source, drawn by viz.py, which
# attach_reprs imports only when a picture is drawn. Attached here rather than in the package's __init__ (where the
# other stages attach theirs): the package imports this module lazily, so only here do they reach every CProgram,
# however the module was imported.
attach_reprs(CProgram, "shrimpgrad.c.viz", rich="program_panel", html="program_html")
