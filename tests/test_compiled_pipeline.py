"""The compiled pipeline as a user sees it: memory stays flat, DEBUG levels print each stage,
a warm cache compiles nothing in a new process, GlobalCounters count kernels."""

import gc
import os
import subprocess
import sys

import numpy as np
import pytest

from shrimpgrad import Context, GlobalCounters, Tensor
from shrimpgrad.realize import _storage


def test_memory_stays_flat_over_10000_realizes():
    x = Tensor(np.arange(16, dtype=np.float32).reshape(4, 4))
    for _ in range(100):  # warm up: compile, fill caches
        (x * 2 + 1).relu().sum().numpy()
    gc.collect()
    buffers_before, rss_before = len(_storage), _resident_bytes()
    for _ in range(10_000):
        (x * 2 + 1).relu().sum().numpy()
    gc.collect()
    grown = _resident_bytes() - rss_before
    assert len(_storage) == buffers_before, "buffers of dead tensors were not freed"
    # a leak of one small buffer or one graph per realize would be several MB; allocator noise is far less
    assert grown < 4_000_000, f"resident memory grew by {grown} bytes over 10,000 realizes"


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_global_counters_count_kernels_and_work():
    a, b = Tensor.rand(8, 8), Tensor.rand(8, 8)
    a.realize(), b.realize()
    GlobalCounters.reset()
    (a * b + 1).relu().numpy()
    assert GlobalCounters.kernel_count == 1  # relu(a*b+c) is one fused kernel
    assert GlobalCounters.global_ops >= 3 * 64
    assert GlobalCounters.global_mem >= 3 * 64 * 4
    assert GlobalCounters.time_sum_s > 0


@pytest.mark.parametrize("level, expected", [
    (1, "E_"),  # a kernel line
    (2, "schedule:"),  # the schedule table
    (3, "DEFINE_GLOBAL"),  # the UOps
    (4, "void "),  # the C source
])
def test_debug_levels_print_their_stage(level, expected, capsys):
    x = Tensor(np.arange(6, dtype=np.float32))
    with Context(DEBUG=level):
        (x * 3 + 1).numpy()
    out = capsys.readouterr().out
    assert expected in out, out[-2000:]


def test_each_dump_names_the_stage_that_printed_it(capsys):
    x = Tensor(np.arange(6, dtype=np.float32))
    with Context(DEBUG=4):
        (x * 3 + 1).numpy()
    out = capsys.readouterr().out
    headers = ["stage 02 schedule: 1 kernel(s)", "# stage 03 UOps", "// stage 04 C"]
    assert all(h in out for h in headers), out[-2000:]
    assert [out.index(h) for h in headers] == sorted(out.index(h) for h in headers)  # in pipeline order
    # the loop the UOp dump names is the loop variable of the C (one name per loop across stages)
    assert "gidx0 GLOBAL" in out and "for (int gidx0 = 0; gidx0 < 6; gidx0++)" in out


def test_emit_prints_only_the_named_stage(capsys):
    x = Tensor(np.arange(6, dtype=np.float32))
    with Context(EMIT="c"):
        (x * 5 - 1).numpy()
    out = capsys.readouterr().out
    assert "void " in out and "DEFINE_GLOBAL" not in out


_PROGRAM = """
import numpy as np
from shrimpgrad import GlobalCounters, Tensor
x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
print((x.softmax(-1) * 2).sum(0).numpy().tolist())
print("compiled", GlobalCounters.compile_count, "cached", GlobalCounters.cache_hits)
"""


def test_a_second_process_compiles_nothing(tmp_path):
    env = dict(os.environ, SHRIMPGRAD_CACHE_DIR=str(tmp_path / "cache"))
    first = subprocess.run([sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.splitlines()[0] == second.stdout.splitlines()[0]
    assert "compiled 0 " not in first.stdout
    assert "compiled 0 " in second.stdout, second.stdout
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_an_unknown_emit_name_is_a_clear_error():
    with Context(EMIT="schedul"), pytest.raises(ValueError, match="unknown dump name.*'schedul'.*valid names: kernels"):
        (Tensor([1.0]) + 1).numpy()
