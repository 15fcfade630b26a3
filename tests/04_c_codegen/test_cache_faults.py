"""The compile cache under faults (issue 17): a read-only folder or a full disk falls back to a private
temporary folder with a warning; entries owned by another user or writable by others are never loaded;
test sessions leave no cache behind. (Two processes compiling one kernel at once: test_processes.py;
corrupt entries: test_cache.py.)"""

import os
import shutil
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from program_builders import elementwise_add, run_c

from shrimpgrad.c import cache as cache_module
from shrimpgrad.c import compile_c, compile_stats, render
from shrimpgrad.c.cache import CacheError, CacheWarning, entry_paths, lookup


@pytest.fixture(autouse=True)
def _no_fallbacks_left():
    yield
    for fallback in cache_module._fallbacks.values():
        shutil.rmtree(fallback, ignore_errors=True)
    cache_module._fallbacks.clear()


def _source(name: str) -> str:
    return render(elementwise_add(8, name=name), comments=False)


def _pretend(monkeypatch, folder: Path, problem: str) -> None:
    """`folder` (and only it) can't be written: root ignores permission bits, so chmod can't show this."""
    real = cache_module._unwritable
    monkeypatch.setattr(cache_module, "_unwritable", lambda p: problem if Path(p).is_relative_to(folder) else real(p))


@pytest.mark.parametrize("problem", ["is read-only", "has less than 16 MiB free"])
def test_an_unwritable_cache_falls_back_to_a_private_temporary_folder(fresh_cache, monkeypatch, problem):
    _pretend(monkeypatch, fresh_cache, problem)
    with pytest.warns(CacheWarning, match=f"the kernel cache .* {problem}; this process compiles into"):
        compiled = compile_c(_source("E_fallback"), "E_fallback")
    fallback = cache_module._fallbacks[fresh_cache]
    assert compiled.path.parent == fallback / "c" and not compiled.path.is_relative_to(fresh_cache)
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per process, not once per kernel
        assert compile_c(_source("E_fallback"), "E_fallback").origin == "disk cache"
    out = run_c(elementwise_add(8, name="E_fallback2"), [np.ones(8, np.float32), np.ones(8, np.float32)])
    assert out[0].tolist() == [2.0] * 8


@pytest.mark.skipif(os.getuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_folder(fresh_cache):
    fresh_cache.mkdir(mode=0o500)
    try:
        with pytest.warns(CacheWarning, match="is read-only|can't be created"):
            compile_c(_source("E_readonly"), "E_readonly")
    finally:
        os.chmod(fresh_cache, 0o700)


def test_the_fallback_folder_is_removed_when_the_process_exits(tmp_path):
    program = f"""
import warnings
from shrimpgrad.c import cache
cache._unwritable = lambda p: "is read-only" if str(p).startswith({str(tmp_path / 'ro')!r}) else None
with warnings.catch_warnings(record=True):
    print(cache.cache_dir())
"""
    env = dict(os.environ, SHRIMPGRAD_CACHE_DIR=str(tmp_path / "ro"))
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    used = Path(out.stdout.strip())
    assert not used.is_relative_to(tmp_path / "ro") and used.name == "c"
    assert not used.parent.exists(), "the temporary cache outlived its process"


def test_no_writable_folder_at_all_is_a_clear_error(fresh_cache, monkeypatch):
    monkeypatch.setattr(cache_module, "_unwritable", lambda p: "has less than 16 MiB free")
    with pytest.warns(CacheWarning), pytest.raises(CacheError, match="neither the cache folder .* nor the temporary"):
        cache_module.cache_dir()


def test_an_entry_owned_by_another_user_is_rebuilt_never_loaded(fresh_cache, caplog):
    if os.getuid() != 0:
        pytest.skip("only root can give a file to another user")
    src = _source("E_theirs")
    first = compile_c(src, "E_theirs")
    os.chown(first.path, os.getuid() + 4242, -1)
    assert lookup(first.key) is None and "belongs to another user" in caplog.text
    second = compile_c(src, "E_theirs")
    assert second.origin == "compiled" and second.path.stat().st_uid == os.getuid()


@pytest.mark.parametrize("which", [0, 1], ids=["library", "checksum"])
def test_an_entry_writable_by_others_is_rebuilt_never_loaded(fresh_cache, caplog, which):
    src = _source(f"E_open{which}")
    first = compile_c(src, f"E_open{which}")
    os.chmod(entry_paths(first.key)[which], 0o666)
    assert lookup(first.key) is None and "writable by group and others" in caplog.text
    compile_stats.reset()
    second = compile_c(src, f"E_open{which}")
    assert second.origin == "compiled" and compile_stats.compiled == 1
    assert not entry_paths(second.key)[which].stat().st_mode & 0o022


def test_a_test_session_leaves_no_cache_behind(tmp_path):
    """tests/conftest.py's session cache is removed at exit (each `make test` used to leave ~36 MB in /tmp)."""
    env = {k: v for k, v in os.environ.items() if k != "SHRIMPGRAD_CACHE_DIR"}
    env["TMPDIR"] = str(tmp_path)
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/04_c_codegen/test_cache.py::test_miss_then_memory_hit_then_disk_hit"],
                       cwd=root, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:]
    assert not list(tmp_path.glob("shrimpgrad-test-cache-*")), "the session cache is still there"
