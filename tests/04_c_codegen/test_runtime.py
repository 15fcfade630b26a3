"""CProgram: runs kernels, returns the time, refuses buffers smaller than their DEFINE_GLOBAL's declared size."""

import numpy as np
import pytest
from program_builders import ProgramBuilder, elementwise_add, max_rows, pad_1d, store_if, sum_rows

from shrimpgrad.c import ArgumentError, CProgram, clear_loaded
from shrimpgrad.c import runtime as runtime_module
from shrimpgrad.graph import dtypes
from shrimpgrad.linearize import LoopKind

F32 = np.float32


def test_runs_and_returns_elapsed_seconds():
    prog = CProgram(elementwise_add())
    out, a, b = np.zeros(16, F32), np.arange(16, dtype=F32), np.full(16, 2.0, F32)
    seconds = prog([out, a, b])
    assert isinstance(seconds, float) and 0 < seconds < 1
    np.testing.assert_array_equal(out, a + b)


def test_reductions_gates_and_if_blocks():
    x = np.arange(32, dtype=F32) - 10
    out = np.zeros(4, F32)
    CProgram(sum_rows())([out, x])
    np.testing.assert_array_equal(out, x.reshape(4, 8).sum(axis=1))
    CProgram(max_rows())([out, x])
    np.testing.assert_array_equal(out, x.reshape(4, 8).max(axis=1))
    padded = np.full(7, -1.0, F32)
    CProgram(pad_1d())([padded, x[:4].copy()])
    np.testing.assert_array_equal(padded, np.pad(x[:4], (1, 2)))
    kept = np.full(8, -1.0, F32)
    CProgram(store_if())([kept, x[:8].copy()])
    np.testing.assert_array_equal(kept, np.where(np.arange(8) % 2 == 0, x[:8] * 2, -1.0))


def test_openmp_kernel_gives_the_same_result():
    n = 1 << 16
    prog = CProgram(elementwise_add(n, name="E_omp"))
    assert "#pragma omp parallel for" in prog.source
    a, b, out = np.random.default_rng(0).standard_normal((3, n)).astype(F32)
    prog([out, a, b])
    np.testing.assert_array_equal(out, a + b)


def test_memory_cache_loads_each_library_once(monkeypatch):
    clear_loaded()
    progs = [CProgram(elementwise_add(8, name="E_many")) for _ in range(100)]
    assert len({id(p._lib) for p in progs}) == 1
    assert [p.origin for p in progs[1:]] == ["memory"] * 99
    monkeypatch.setattr(runtime_module, "MAX_LOADED", 2)
    for k in range(4):
        CProgram(elementwise_add(8, name=f"E_lru{k}"))
    assert list(runtime_module._loaded)[-2:] == [CProgram(elementwise_add(8, name=f"E_lru{k}")).key for k in (2, 3)]
    assert len(runtime_module._loaded) == 2


# ---- bad arguments -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def add():
    return CProgram(elementwise_add())


def ok_buffers():
    return [np.zeros(16, F32), np.zeros(16, F32), np.zeros(16, F32)]


def test_wrong_number_of_buffers(add):
    with pytest.raises(ArgumentError, match=r"takes 3 buffers \(data0: 16 x float32 output"):
        add(ok_buffers()[:2])


def test_wrong_dtype(add):
    bufs = ok_buffers()
    bufs[1] = bufs[1].astype(np.float64)
    with pytest.raises(ArgumentError, match="buffer 1.*got dtype float64.*float32"):
        add(bufs)


def test_not_an_array(add):
    with pytest.raises(ArgumentError, match="expected a numpy array, got list"):
        add([np.zeros(16, F32), [0.0] * 16, np.zeros(16, F32)])


def test_not_contiguous(add):
    bufs = ok_buffers()
    bufs[2] = np.zeros(32, F32)[::2]
    with pytest.raises(ArgumentError, match="not C-contiguous.*ascontiguousarray"):
        add(bufs)


def test_read_only_output(add):
    bufs = ok_buffers()
    bufs[0].flags.writeable = False
    with pytest.raises(ArgumentError, match="read-only"):
        add(bufs)


def test_output_overlapping_an_input(add):
    a = np.zeros(16, F32)
    with pytest.raises(ArgumentError, match="overlaps"):
        add([a, a, np.zeros(16, F32)])


def test_buffer_too_small(add):
    bufs = ok_buffers()
    bufs[2] = np.zeros(15, F32)
    with pytest.raises(ArgumentError, match="uses 16 elements but the array has only 15"):
        add(bufs)
    bigger = ok_buffers()
    bigger[1] = np.zeros(100, F32)  # more than needed is fine
    add(bigger)


def test_the_declared_size_is_what_is_checked():
    """pad_1d reads data1[i - 1] for i in 0..6, gated to the 4 real elements; its DEFINE_GLOBAL says 4."""
    prog = CProgram(pad_1d())
    assert [g.arg[3] for g in prog.program.globals] == [7, 4]
    prog([np.zeros(7, F32), np.zeros(4, F32)])
    with pytest.raises(ArgumentError, match=r"buffer 1 \(data1: 4 x float32 input\): the kernel uses 4 elements but "
                                            r"the array has only 3"):
        prog([np.zeros(7, F32), np.zeros(3, F32)])


def test_empty_loop_needs_no_elements():
    b = ProgramBuilder(0)
    out = b.glob(0, dtypes.float32, True)
    i = b.range("gidx0", 0, LoopKind.GLOBAL)
    b.store(out, i, b.const(1.0, dtypes.float32))
    b.end(i)
    CProgram(b.build("E_empty"))([np.zeros(0, F32)])


def test_data_pointers_are_remembered_per_live_array_only():
    # CProgram reads each buffer's address through runtime.data_pointer (arr.ctypes.data costs microseconds): it must
    # be the array's address, and the memo entry must go with the array (a new array may get the same id)
    import gc

    a = np.zeros(16, np.float32)
    assert runtime_module.data_pointer(a) == a.ctypes.data
    assert runtime_module.data_pointer(a) == a.ctypes.data  # the remembered answer
    key = id(a)
    assert key in runtime_module._pointers
    del a
    gc.collect()
    assert key not in runtime_module._pointers
    b = np.ones(4, np.float64)
    assert runtime_module.data_pointer(b) == b.ctypes.data
