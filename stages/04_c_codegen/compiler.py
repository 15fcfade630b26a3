"""Compile C source to a shared object with the system C compiler, through the disk cache.

    cc -O2 -march=native -fPIC -shared -ffp-contract=off -fwrapv -fno-trapping-math [-fopenmp] -x c - -o <entry>.so -lm

The compiler is `cc` (gcc here), or whatever SHRIMPGRAD_CC names (e.g. `clang`). It is run with
an argument list (subprocess, no shell: nothing in a kernel name or path is ever interpreted by
a shell) and reads the source from stdin. The flags are fixed, and logged (logger
"shrimpgrad.c", level INFO) with every compile; each one is there for a reason:

    -O2                   optimize (-O3 adds little for these loops and compiles slower)
    -march=native         use every instruction this CPU has (AVX-512, F16C for float16 conversions);
                          that is why the CPU is part of the cache key
    -fPIC -shared         a shared object that ctypes can dlopen
    -ffp-contract=off     never fuse a*b+c into one FMA: an FMA rounds once instead of twice, so
                          results would differ from numpy's (which rounds after every op)
    -fwrapv               signed integer overflow wraps (two's complement), as numpy's ints do;
                          without it overflow is undefined behaviour and the optimizer may assume
                          it never happens
    -fno-trapping-math    float operations never trap (nobody enables FP exceptions), so the
                          vectorizer may compute both sides of a `c ? a : b` and blend them: without
                          it, a loop with a select after a float op (exp2/log2 below: alu.py) stays
                          scalar. It changes no result: every operation still rounds as IEEE says
    -fopenmp              only when the source contains `#pragma omp` (see renderer.py)
    -lm                   link math.h's functions (sinf, exp2f, ...)

Deliberately NOT -ffast-math: it lets the compiler assume no NaN or infinity exists (so
`a != a` folds to false and np.maximum's NaN rule breaks), reorder sums (different rounding),
and, when linking a shared object, it can switch the whole process to flush denormals to zero,
which would change numpy's own results too.
"""

from __future__ import annotations

import os
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import cache
from .cache import compile_stats, log

# subprocess and shlex are imported where the compiler is run: a process whose kernels are all in the disk cache
# (and whose compiler's --version is remembered) never runs it, and importing them costs ~5-8 ms of a cold start.

FLAGS: tuple[str, ...] = ("-O2", "-march=native", "-fPIC", "-shared", "-ffp-contract=off", "-fwrapv",
                          "-fno-trapping-math")
OPENMP_FLAGS: tuple[str, ...] = ("-fopenmp",)
LIBS: tuple[str, ...] = ("-lm",)
TIMEOUT_S = 300


class CompileError(RuntimeError):
    """The C compiler rejected a source (its message is included) or could not be run."""


def c_compiler() -> str:
    """The compiler to run: $SHRIMPGRAD_CC (e.g. `clang`), else `cc`, the system's C compiler."""
    return os.environ.get("SHRIMPGRAD_CC") or "cc"


@lru_cache(maxsize=8)
def compiler_version(cc: str) -> str:
    """`cc --version`'s full text: a compiler upgrade changes it, and with it every cache key.

    Remembered in the cache folder per compiler *file* (`_compiler_file`): running the compiler takes ~4 ms (and
    importing subprocess ~5 ms) of every new process's first kernel, even when every kernel is in the disk cache.
    An upgraded compiler is a new file (another inode, size or modification time), so it is asked again."""
    identity = _compiler_file(cc)
    if identity is None:
        return _ask_compiler_version(cc)  # not found on PATH: let running it say what is wrong
    folder = cache.cache_dir(cache.COMPILERS_SPACE)
    remembered = folder / f"{cache.sha256_hex(identity.encode())[:32]}{cache.COMPILERS_SPACE.suffix}"
    try:
        if cache._not_ours(remembered) is None:
            return remembered.read_text()
    except OSError:
        pass  # not remembered yet
    version = _ask_compiler_version(cc)
    try:
        tmp = remembered.with_name(f".{remembered.name}.{os.getpid()}.{cache._random_tag()}.tmp")
        tmp.write_text(version)
        os.replace(tmp, remembered)  # atomic, as cache.store: a concurrent reader sees all of it or nothing
    except OSError:
        pass  # can't remember it: ask again next process
    return version


def _compiler_file(cc: str) -> str | None:
    """Which file `cc` runs and which version of that file: its real path (a symlink such as cc -> gcc-12 resolved),
    inode, size and modification times; None when it is not an executable file (on PATH, for a bare name)."""
    folders = [""] if os.sep in cc else os.environ.get("PATH", os.defpath).split(os.pathsep)
    for folder in folders:
        path = os.path.join(folder, cc) if folder else cc
        if os.path.isfile(path) and os.access(path, os.X_OK):
            real = os.path.realpath(path)
            st = os.stat(real)
            return f"{real}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    return None


def _ask_compiler_version(cc: str) -> str:
    """Run `cc --version`."""
    import subprocess
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60, check=True)
    except FileNotFoundError:
        raise CompileError(f"C compiler {cc!r} not found: install gcc (apt-get install gcc), or set SHRIMPGRAD_CC "
                           f"to the compiler to use") from None
    except subprocess.CalledProcessError as e:
        raise CompileError(f"`{cc} --version` failed ({e.returncode}): {e.stderr.strip()}") from None
    return out.stdout.strip()


def flags_for(source: str) -> tuple[str, ...]:
    """FLAGS, plus -fopenmp when the source asks for it with `#pragma omp`."""
    return FLAGS + (OPENMP_FLAGS if "#pragma omp" in source else ())


def compiler_command(source: str, output: Path, cc: str | None = None) -> list[str]:
    """The exact argument list that compiles `source` (read from stdin) into `output`."""
    return [cc or c_compiler(), *flags_for(source), "-x", "c", "-", "-o", str(output), *LIBS]


def source_key(source: str, cc: str | None = None) -> str:
    """The cache key of `source` with this machine's compiler (`cc`, default c_compiler()), flags and CPU."""
    return cache.cache_key(source, flags_for(source), compiler_version(cc or c_compiler()))


class CompiledKernel(NamedTuple):
    """A verified shared object in the cache, and how we got it. (A NamedTuple, not a dataclass: an immutable
    record, made in ~0.06 ms at import where a frozen dataclass takes ~0.5 ms; issue 12, W7.)"""

    path: Path
    key: str
    origin: str  # "compiled" (the compiler ran) or "disk cache"
    seconds: float  # time spent compiling, or checking the cache entry


def compile_c(source: str, name: str, display_source: str | None = None) -> CompiledKernel:
    """A shared object for `source`: from the cache if a verified entry exists, else compiled now.

    On a compiler error, raises CompileError with the compiler's message; `display_source` (the
    commented version of the same code, with the same line numbers) or `source` is saved in the
    cache folder and its path printed, so the failing code can be opened."""
    start = time.perf_counter()
    cc = c_compiler()
    key = source_key(source, cc)
    path = cache.lookup(key)
    if path is not None:
        compile_stats.cache_hits += 1
        log.info("kernel %s: loaded from the cache (%s)", name, path)
        return CompiledKernel(path, key, "disk cache", time.perf_counter() - start)

    def build(output: Path) -> None:
        import shlex
        import subprocess
        cmd = compiler_command(source, output, cc)
        log.info("kernel %s: compiling: %s", name, shlex.join(cmd))
        try:
            result = subprocess.run(cmd, input=source, capture_output=True, text=True, timeout=TIMEOUT_S)
        except FileNotFoundError:
            compiler_version(cc)  # raises the "not found" CompileError
            raise
        except subprocess.TimeoutExpired:
            _fail(name, key, display_source or source, cmd, f"the compiler ran longer than {TIMEOUT_S} s")
        if result.returncode != 0:
            _fail(name, key, display_source or source, cmd, result.stderr.strip() or result.stdout.strip())

    path = cache.store(key, build)
    compile_stats.compiled += 1
    return CompiledKernel(path, key, "compiled", time.perf_counter() - start)


def _fail(name: str, key: str, source: str, cmd: list[str], message: str) -> None:
    import shlex
    saved = cache.save_failed_source(name, key, source)
    print(f"shrimpgrad.c: kernel {name} did not compile; its source is saved at {saved}", file=sys.stderr)
    raise CompileError(f"kernel {name} did not compile.\ncommand: {shlex.join(cmd)}\n{message}\n"
                       f"(the compiler reads the source from stdin, so it calls the file <stdin>; the source, "
                       f"with the same line numbers, is saved at {saved})")
