"""Stage-04 test setup. tests/conftest.py already points SHRIMPGRAD_CACHE_DIR at one temporary folder for
the session (so each kernel compiles once per test run, never into the user's ~/.cache); tests about the
cache itself ask for `fresh_cache`, a new empty folder with the in-process library dict cleared."""

import pytest

from shrimpgrad.c import clear_loaded, compile_stats


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder, no library loaded in this process, counters at zero."""
    path = tmp_path / "cache"
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(path))
    clear_loaded()
    compile_stats.reset()
    yield path
    clear_loaded()
