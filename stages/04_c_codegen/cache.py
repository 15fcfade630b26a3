"""The on-disk cache of compiled kernels: compile a source once per machine, not once per process.

Layout (one private folder per user, mode 0700), one sub-folder per backend (a `CacheSpace`):

    $SHRIMPGRAD_CACHE_DIR                  default: $XDG_CACHE_HOME/shrimpgrad, else ~/.cache/shrimpgrad
      c/                                   C_SPACE (this stage)
        <key>.so                           the compiled shared object
        <key>.so.sha256                    its checksum, in `sha256sum -c` format
        failed/<kernel>-<key[:12]>.c       sources that did not compile, kept for reading
      cuda/                                stage 05's space: <key>.cubin, <key>.cubin.sha256, failed/*.cu
      compilers/<hash>.version             a C compiler file's `--version` text (compiler.compiler_version)

The key is sha256(source, compiler flags, the compiler's --version text, the target machine):
anything that changes the bytes the compiler would produce changes the key. For C the target is
this CPU's identity, because we compile with -march=native: a .so built on an AVX-512 machine
would crash with SIGILL on one without (a home folder shared over NFS between different machines,
say). For CUDA it is the GPU architecture the CUBIN is for (sm_90).

Safety rules, each with the failure it prevents:
* Writes are atomic: the compiler writes a temporary file in the same folder, then `os.replace`
  renames it over the entry. Two processes compiling the same kernel at once both succeed, and a
  reader never sees half a file. (Overwriting an existing .so in place would also corrupt the
  code of any process that has it loaded.)
* Every entry is verified before `dlopen`: its bytes must hash to the checksum next to it. A
  truncated or damaged .so (a full disk, a killed process, a flipped bit) is rebuilt, never
  loaded: loading a corrupt shared object can crash the whole Python process.
* The folder is private: we load and run whatever code is in it, so a folder other users can
  write to would let them run code as us. We create it with mode 0700 and refuse one that
  another user owns. Each entry is checked too: a file owned by someone else, or writable by
  group or others, is never loaded (it is rebuilt, and the rebuilt file replaces it).
* A cache we can't write to (a read-only folder, a full disk: less than 16 MiB free) is not an
  error: this process warns once (CacheWarning) and uses a private temporary folder instead,
  removed when the process exits. Kernels then compile once per process instead of once per machine.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

# Not imported here: logging, shutil, tempfile, secrets, subprocess, hashlib. Every `import shrimpgrad` imports this
# module (realize.py's compile_stats), and those cost ~20-30 ms of a cold start together (hashlib ~4 ms: it loads
# OpenSSL); they are imported where (and when) they are needed.


class _Log:
    """The "shrimpgrad.c" logger (compiler flags, cache hits, damaged entries), imported when a record can be seen.

    A program can only have configured logging after importing it, so while `logging` is not in sys.modules an
    INFO record would go nowhere and is dropped without importing it; a WARNING is always logged (logging's
    last-resort handler prints it)."""

    @staticmethod
    def info(message: str, *args) -> None:
        if "logging" in sys.modules:
            sys.modules["logging"].getLogger("shrimpgrad.c").info(message, *args)

    @staticmethod
    def warning(message: str, *args) -> None:
        import logging
        logging.getLogger("shrimpgrad.c").warning(message, *args)


log = _Log()

CACHE_FORMAT = "shrimpgrad-c-cache-1"  # part of every key: change it to invalidate all entries


class CacheError(RuntimeError):
    """The cache folder can't be used safely (owned by another user, not a folder, ...)."""


class CacheWarning(UserWarning):
    """The cache folder can't be written: this process uses a private temporary one instead."""


class CacheSpace(NamedTuple):
    """One backend's part of the cache: its sub-folder, the suffix of its entries and of its failed sources.
    (A NamedTuple, not a dataclass: an immutable record, made in ~0.06 ms at import where a frozen dataclass
    takes ~0.5 ms; issue 12, W7.)"""

    folder: str
    suffix: str  # ".so": what the compiler writes
    source_suffix: str  # ".c": how a failed source is saved


C_SPACE = CacheSpace("c", ".so", ".c")
COMPILERS_SPACE = CacheSpace("compilers", ".version", "")  # what each compiler file says its version is (compiler.py)


@dataclass
class CompileStats:
    """What happened to each kernel a CProgram needed (the front end's GlobalCounters read these)."""

    compiled: int = 0  # the compiler ran (a cache miss)
    cache_hits: int = 0  # loaded from the disk cache, checksum verified
    memory_hits: int = 0  # already loaded in this process: nothing read from disk
    corrupt: int = 0  # disk entries whose checksum did not match: rebuilt

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)

    def __str__(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


compile_stats = CompileStats()


# ---- where ---------------------------------------------------------------------------------

def cache_root() -> Path:
    """$SHRIMPGRAD_CACHE_DIR, else $XDG_CACHE_HOME/shrimpgrad, else ~/.cache/shrimpgrad (read on every call,
    so a test or a `with` block can move it)."""
    if os.environ.get("SHRIMPGRAD_CACHE_DIR"):
        return Path(os.environ["SHRIMPGRAD_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "shrimpgrad"


def cache_dir(space: CacheSpace = C_SPACE) -> Path:
    """The folder holding one backend's compiled kernels, created private (0700) if missing; a private
    temporary folder instead if that one can't be written (see the module docstring)."""
    configured = cache_root()
    root = _fallbacks.get(configured, configured)
    path = root / space.folder
    try:
        _ensure_private_dir(root)
        _ensure_private_dir(path)
        problem = _unwritable(path)
    except CacheError:
        raise
    except OSError as e:
        problem = f"can't be created ({e.strerror or e})"
    if problem is None:
        return path
    if root is not configured:
        raise CacheError(f"neither the cache folder {configured} nor the temporary one {root} can be written "
                         f"({problem}); set SHRIMPGRAD_CACHE_DIR to a folder with free space that you can write")
    import atexit
    import shutil
    import tempfile
    fallback = _fallbacks[configured] = Path(tempfile.mkdtemp(prefix="shrimpgrad-cache-"))  # mode 0700
    atexit.register(shutil.rmtree, fallback, ignore_errors=True)
    warnings.warn(f"shrimpgrad: the kernel cache {path} {problem}; this process compiles into {fallback} instead "
                  f"(removed at exit). Set SHRIMPGRAD_CACHE_DIR to a writable folder to keep compiled kernels",
                  CacheWarning, stacklevel=2)
    return cache_dir(space)


_fallbacks: dict[Path, Path] = {}  # configured cache root -> this process's temporary stand-in
MIN_FREE_BYTES = 16 * 2**20  # below this, a compile would likely fail half-way: write elsewhere


def _unwritable(path: Path) -> str | None:
    """Why new entries can't go into `path`, or None if they can."""
    if not os.access(path, os.W_OK | os.X_OK):
        return "is read-only"
    st = os.statvfs(path)  # what shutil.disk_usage(path).free computes (shutil is not imported to start up)
    if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
        return f"has less than {MIN_FREE_BYTES // 2**20} MiB free"
    return None


def c_cache_dir() -> Path:
    """The folder holding compiled C kernels."""
    return cache_dir(C_SPACE)


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise CacheError(f"cache folder {path} belongs to another user (uid {st.st_uid}); shrimpgrad loads code from "
                         f"it, so it must be yours. Set SHRIMPGRAD_CACHE_DIR to a folder of your own")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours but readable/writable by others: make it private


def entry_paths(key: str, space: CacheSpace = C_SPACE) -> tuple[Path, Path]:
    """The compiled file (a shared object for C) and its checksum file for `key`."""
    d = cache_dir(space)
    return d / f"{key}{space.suffix}", d / f"{key}{space.suffix}.sha256"


# ---- the key ---------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def cpu_identity() -> str:
    """This CPU's model name and a hash of its feature flags: what -march=native compiles for."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith(("model name", "Model"))),
                 platform.machine())
    features = next((ln.split(":", 1)[1] for ln in info.splitlines() if ln.startswith(("flags", "Features"))), "")
    return f"{model} flags:{sha256_hex(' '.join(sorted(features.split())).encode())[:16]}"


def cache_key(source: str, flags: tuple[str, ...], compiler_version: str, target: str | None = None) -> str:
    """sha256 over everything that decides the compiled bytes (fields separated by NUL, which none contains).
    `target`: the machine the code is for; default this CPU (C), stage 05 passes the GPU architecture."""
    parts = (CACHE_FORMAT, source, " ".join(flags), compiler_version, cpu_identity() if target is None else target)
    return sha256_hex("\0".join(parts).encode())


def sha256_hex(data: bytes) -> str:
    """The sha256 of `data` as hex: every hash of the cache (keys, checksums, the compilers' and CPU's identities)."""
    import hashlib  # here, not at the top: see the note on imports there

    return hashlib.sha256(data).hexdigest()


# ---- read and write --------------------------------------------------------------------------

def _sha256_file(path: Path) -> str:
    return sha256_hex(path.read_bytes())


def lookup(key: str, space: CacheSpace = C_SPACE) -> Path | None:
    """The verified entry for `key`, or None if it is missing or corrupt (then the caller rebuilds it)."""
    so, checksum = entry_paths(key, space)
    try:
        untrusted = next((f"{p} {why}" for p in (so, checksum) if (why := _not_ours(p))), None)
        if untrusted:
            log.warning("cache entry %s: not loading it, rebuilding it", untrusted)
            return None
        expected = checksum.read_text().split()[0]
        actual = _sha256_file(so)
    except (OSError, IndexError):
        return None  # missing (or half of an entry): a miss
    if actual != expected:
        compile_stats.corrupt += 1
        log.warning("cache entry %s is corrupt (sha256 %s, expected %s): rebuilding it", so, actual[:12], expected[:12])
        return None
    return so


def _not_ours(path: Path) -> str | None:
    """Why a cache file must not be trusted (its owner, its permissions), or None. Raises OSError if missing."""
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"is writable by {'group and others' if st.st_mode & 0o022 == 0o022 else 'group or others'}"
    return None


def _random_tag() -> str:
    """8 random hex digits for a temporary file's name (secrets.token_hex(4) without importing secrets)."""
    return os.urandom(4).hex()


def store(key: str, build: Callable[[Path], None], space: CacheSpace = C_SPACE) -> Path:
    """Run `build(tmp_path)` (the compiler writing a .so, or a .cubin) and install the result as the entry for `key`.

    Both files are written under temporary names in the cache folder and renamed into place with
    os.replace, which is atomic: concurrent writers each install a complete entry, last one wins."""
    so, checksum = entry_paths(key, space)
    tag = f"{os.getpid()}.{_random_tag()}"
    tmp_so, tmp_sum = so.with_name(f".{key}.{tag}{space.suffix}.tmp"), so.with_name(f".{key}.{tag}.sha256.tmp")
    try:
        build(tmp_so)
        tmp_sum.write_text(f"{_sha256_file(tmp_so)}  {so.name}\n")
        os.replace(tmp_so, so)
        os.replace(tmp_sum, checksum)
    finally:
        for tmp in (tmp_so, tmp_sum):
            tmp.unlink(missing_ok=True)
    return so


def save_failed_source(name: str, key: str, source: str, space: CacheSpace = C_SPACE) -> Path:
    """Keep a source that did not compile, so its path can be printed and the file opened."""
    folder = cache_dir(space) / "failed"
    _ensure_private_dir(folder)
    path = folder / f"{name}-{key[:12]}{space.source_suffix}"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_random_tag()}.tmp")
    tmp.write_text(source)
    os.replace(tmp, path)
    return path
