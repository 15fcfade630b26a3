"""Stage-05 test setup: `fresh_cache` (an empty kernel cache folder, counters at zero), and `gpu`, the skip mark
of the tests that launch kernels (marker `cuda`; `make test-cuda` runs them on a machine with an NVIDIA GPU)."""

import pytest

from shrimpgrad.c import compile_stats


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(path))
    compile_stats.reset()
    yield path
