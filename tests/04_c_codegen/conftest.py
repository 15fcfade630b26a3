"""Stage-04 test setup: every test compiles into a temporary cache folder, never the user's ~/.cache.

The session shares one folder (so each kernel compiles once per test run); tests about the cache
itself ask for `fresh_cache`, a new empty folder with the in-process library dict cleared."""

import pytest

from shrimpgrad.c import clear_loaded, compile_stats


@pytest.fixture(scope="session", autouse=True)
def session_cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("shrimpgrad-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHRIMPGRAD_CACHE_DIR", str(path))
        yield path


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder, no library loaded in this process, counters at zero."""
    path = tmp_path / "cache"
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(path))
    clear_loaded()
    compile_stats.reset()
    yield path
    clear_loaded()
