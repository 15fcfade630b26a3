"""Stage-05 test setup: `fresh_cache` (an empty kernel cache folder, counters at zero), and `gpu`, the skip mark
of the tests that launch kernels (marker `cuda`; `make test-cuda` runs them on a machine with an NVIDIA GPU)."""

import pytest

from shrimpgrad.c import compile_stats


@pytest.fixture(autouse=True)
def plain_matmul_graphs(monkeypatch):
    """Without a GPU these tests build C-device Tensors and linearize their kernels for CUDA. The front end's PANELS
    (shrimpgrad/reduce.py) rewrites a large float32 matmul on the C device into a copy of w and a matmul over its
    panels, a layout for the CPU's caches; a CUDA Tensor never gets it, so neither do the C Tensors standing in here."""
    monkeypatch.setenv("SHRIMPGRAD_MATMUL_PANELS", "0")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(path))
    compile_stats.reset()
    yield path
