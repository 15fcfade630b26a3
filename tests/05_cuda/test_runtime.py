"""The CUDA runtime: the no-GPU error here; results on the GPU (marker `cuda`, skipped without one)."""

import numpy as np
import pytest
from example_kernels import matmul
from program_builders import elementwise_add, sum_rows

from shrimpgrad.cuda import CUDAAllocator, CUDAProgram, NoCUDAError, cuda_available
from shrimpgrad.linearize import Opt, OptKind, linearize

gpu = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")


def test_no_gpu_is_a_clear_error():
    if cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(NoCUDAError, match="no CUDA GPU found"):
        CUDAAllocator()


def _run(program, inputs, n_out):
    alloc = CUDAAllocator()
    out = alloc.alloc(n_out * 4)
    ptrs = [alloc.alloc(a.nbytes) for a in inputs]
    for p, a in zip(ptrs, inputs):
        alloc.copyin(p, a)
    seconds = CUDAProgram(program)([out, *ptrs])
    host = np.zeros(n_out, np.float32)
    alloc.copyout(host, out)
    for p in (out, *ptrs):
        alloc.free(p)
    assert seconds > 0
    return host


@pytest.mark.cuda
@gpu
def test_elementwise_and_reduce_match_numpy():
    a, b = np.arange(16, dtype=np.float32), np.full(16, 2.0, np.float32)
    np.testing.assert_array_equal(_run(elementwise_add(), [a, b], 16), a + b)
    x = np.arange(32, dtype=np.float32)
    np.testing.assert_array_equal(_run(sum_rows(), [x], 4), x.reshape(4, 8).sum(1))


@pytest.mark.cuda
@gpu
def test_shared_memory_group_matmul_matches_numpy():
    p = linearize(matmul(4, 4, 8), [Opt(OptKind.LOCAL, 1, 2), Opt(OptKind.GROUP, 2, 2)], gpu=True)
    a, b = np.arange(32, dtype=np.float32), np.arange(32, dtype=np.float32) / 7
    np.testing.assert_allclose(_run(p, [a, b], 16), (a.reshape(4, 8) @ b.reshape(8, 4)).reshape(16), rtol=1e-6)


@pytest.mark.cuda
@gpu
def test_prepared_arguments_follow_new_buffers_and_sync_0_still_copies_finished_values(monkeypatch):
    """The launch fast path keeps the last buffers' argument array: a call on other buffers must use those; with
    SHRIMPGRAD_CUDA_SYNC=0 nothing waits per kernel, and a copy to the host still sees every kernel's result."""
    import shrimpgrad.cuda.runtime as runtime
    from shrimpgrad import Tensor

    a, b = np.arange(16, dtype=np.float32), np.full(16, 2.0, np.float32)
    alloc = CUDAAllocator()
    prog = CUDAProgram(elementwise_add())
    ptrs = [alloc.alloc(64) for _ in range(5)]
    try:
        for p, v in zip(ptrs[1:], (a, b, b, a * 3)):
            alloc.copyin(p, v)
        outs = []
        for args in ([ptrs[0], ptrs[1], ptrs[2]], [ptrs[0], ptrs[3], ptrs[4]], [ptrs[0], ptrs[3], ptrs[4]]):
            prog(args)
            host = np.zeros(16, np.float32)
            alloc.copyout(host, ptrs[0])
            outs.append(host)
    finally:
        for p in ptrs:
            alloc.free(p)
    np.testing.assert_array_equal(outs[0], a + b)
    np.testing.assert_array_equal(outs[1], b + a * 3)
    np.testing.assert_array_equal(outs[2], b + a * 3)
    monkeypatch.setattr(runtime, "SYNC_EACH_LAUNCH", False)  # what SHRIMPGRAD_CUDA_SYNC=0 at import sets
    x = np.arange(1 << 20, dtype=np.float32)
    t = Tensor(x, device="CUDA")
    for _ in range(3):
        t = (t * 2 + 1).realize()
    np.testing.assert_array_equal(t.numpy(), ((x * 2 + 1) * 2 + 1) * 2 + 1)
