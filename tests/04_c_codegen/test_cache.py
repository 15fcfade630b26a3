"""The compile cache: misses, hits (disk and memory), corrupt entries rebuilt, keys, folder location and privacy."""

import hashlib
import os
import stat

import numpy as np
import pytest
from program_builders import elementwise_add, run_c

from shrimpgrad.c import CProgram, clear_loaded, compile_c, compile_stats, render
from shrimpgrad.c import cache as cache_module
from shrimpgrad.c.cache import CacheError, cache_key, cache_root, entry_paths, lookup


def kernel_source(name: str) -> str:
    return render(elementwise_add(8, name=name), comments=False)


def test_miss_then_memory_hit_then_disk_hit(fresh_cache):
    p = elementwise_add(8, name="E_hits")
    assert CProgram(p).origin == "compiled"
    assert CProgram(p).origin == "memory"
    clear_loaded()
    assert CProgram(p).origin == "disk cache"
    assert (compile_stats.compiled, compile_stats.memory_hits, compile_stats.cache_hits) == (1, 1, 1)


def test_entry_layout_and_checksum(fresh_cache):
    compiled = compile_c(kernel_source("E_layout"), "E_layout")
    so, checksum = entry_paths(compiled.key)
    assert compiled.path == so and so.parent == fresh_cache / "c"
    digest, name = checksum.read_text().split()
    assert digest == hashlib.sha256(so.read_bytes()).hexdigest() and name == so.name  # `sha256sum -c` format
    assert [p.name for p in so.parent.iterdir() if p.name.startswith(".")] == [], "no temporary files left"


def truncate(path):
    data = path.read_bytes()
    with open(path, "r+b") as f:  # in place, like a full disk or a killed writer would leave it
        f.truncate(len(data) // 2)


def flip_bytes(path):
    data = bytearray(path.read_bytes())
    for k in range(64, 96):
        data[k] ^= 0xFF
    with open(path, "r+b") as f:
        f.write(data)


@pytest.mark.parametrize("damage", [truncate, flip_bytes])
def test_corrupt_entry_is_rebuilt_never_loaded(fresh_cache, damage):
    # compile_c only builds the file (no dlopen), so this process never maps the bytes we damage
    src = kernel_source(f"E_{damage.__name__}")
    first = compile_c(src, "E_damaged")
    damage(first.path)
    assert lookup(first.key) is None, "the checksum catches the damage"
    second = compile_c(src, "E_damaged")
    assert second.origin == "compiled" and compile_stats.corrupt == 2 and compile_stats.compiled == 2
    assert lookup(second.key) == second.path
    # the rebuilt library loads and runs
    out = run_c(elementwise_add(8, name=f"E_{damage.__name__}"), [np.ones(8, np.float32), np.ones(8, np.float32)])
    assert out[0].tolist() == [2.0] * 8


def test_missing_checksum_is_a_miss(fresh_cache):
    src = kernel_source("E_nosum")
    first = compile_c(src, "E_nosum")
    entry_paths(first.key)[1].unlink()
    assert compile_c(src, "E_nosum").origin == "compiled"


def test_key_covers_source_flags_compiler_and_cpu(monkeypatch):
    base = cache_key("src", ("-O2",), "gcc 12")
    assert len({base, cache_key("src2", ("-O2",), "gcc 12"), cache_key("src", ("-O3",), "gcc 12"),
                cache_key("src", ("-O2",), "gcc 13")}) == 4
    monkeypatch.setattr(cache_module, "cpu_identity", lambda: "another CPU")
    assert cache_key("src", ("-O2",), "gcc 12") != base


def test_comments_and_provenance_do_not_change_the_binary(fresh_cache):
    """CProgram compiles the comment-free source: moving user code (new file:line) reuses the binary."""
    a = CProgram(elementwise_add(8, name="E_prov"))
    from program_builders import ProgramBuilder

    from shrimpgrad.graph import Ops, dtypes
    b = ProgramBuilder(8)
    out, x, y = b.glob(0, dtypes.float32, True), b.glob(1, dtypes.float32), b.glob(2, dtypes.float32)
    i = b.range("gidx0", 8)
    b.store(out, i, b.alu(Ops.ADD, b.load(x, i, meta="Tensor.add at other.py:99"), b.load(y, i)))
    b.end(i)
    moved = CProgram(b.build("E_prov"))
    assert moved.key == a.key and moved.origin == "memory" and "other.py:99" in moved.source


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("SHRIMPGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "shrimpgrad"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "shrimpgrad"


def test_cache_folder_is_private(fresh_cache):
    compile_c(kernel_source("E_private"), "E_private")
    for folder in (fresh_cache, fresh_cache / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_an_existing_open_folder_is_made_private(monkeypatch, tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(open_dir))
    cache_module.c_cache_dir()
    assert stat.S_IMODE(open_dir.stat().st_mode) == 0o700


def test_a_folder_owned_by_someone_else_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(tmp_path / "theirs"))
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(CacheError, match="another user"):
        cache_module.c_cache_dir()
