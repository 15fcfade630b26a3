"""Row kernels (stage 02's rule F5) on CUDA. Without a GPU: each one renders with the opts policy's launch (a block
per row, GROUP threads striped over every loop of the row) and NVRTC compiles it. On a GPU (marker `cuda`): CUDA
computes what the interpreter computes, and what the separate kernels (SHRIMPGRAD_FUSE_ROWS=0) compute."""

import numpy as np
import pytest

pytest.importorskip("cuda.bindings.nvrtc")

from shrimpgrad import Tensor  # noqa: E402
from shrimpgrad.cuda import choose_opts, cuda_available, source_for  # noqa: E402
from shrimpgrad.graph import BufferRef, Ops, alu, buffer, dtypes, movement, reduce  # noqa: E402
from shrimpgrad.linearize import OptKind, interpret, linearize, row_phases  # noqa: E402
from shrimpgrad.schedule import create_schedule  # noqa: E402

RNG = np.random.default_rng(0)
F32 = dtypes.float32


def softmax_kernel(rows: int, n: int):
    x = buffer(BufferRef(rows * n, F32), (rows, n))
    e = alu(Ops.EXP2, alu(Ops.SUB, x, movement(Ops.EXPAND, reduce(x, Ops.MAX, (1,)), (rows, n))))
    (k,) = create_schedule([alu(Ops.DIV, e, movement(Ops.EXPAND, reduce(e, Ops.ADD, (1,)), (rows, n)))]).kernels
    return k


@pytest.mark.parametrize("rows, n", [(8192, 8192), (2048, 2048), (65536, 512), (6, 40), (1000, 10)])
def test_the_policy_gives_row_kernels_a_block_per_row(rows, n):
    k = softmax_kernel(rows, n)
    opts = choose_opts(k)
    groups = [o for o in opts if o.kind is OptKind.GROUP]
    if n >= 32:  # a block's threads share each row, however many rows there are: about 32 elements per thread
        assert groups and groups[0].axis == 1 and groups[0].amount == {8192: 256, 2048: 64, 512: 32, 40: 20}[n]
        p = linearize(k, opts, gpu=True)
        assert p.global_size[0] * p.global_size[1] * p.global_size[2] * (p.local_size[1]) == rows
    else:  # rows too short to share: a thread per row
        assert not groups


def test_row_kernels_render_and_compile():
    x = Tensor(RNG.standard_normal((64, 256)).astype(np.float32), requires_grad=True)
    labels = Tensor(RNG.integers(0, 256, 64).astype(np.int32))
    programs = [x.softmax(-1), x.log_softmax(-1), x.layernorm(), x.logsumexp(axis=-1),
                x - x.mean(axis=-1, keepdim=True), x.sparse_categorical_crossentropy(labels)]
    loss = x.softmax(-1).square().sum() + x.layernorm().sum()
    loss.backward()
    programs.append(x.grad)
    row_kernels = 0
    for t in programs:
        for k in source_for(t):
            assert k.cubin is not None and k.cubin.cubin[:4] == b"\x7fELF"
            row_kernels += "__syncthreads();" in k.source and k.source.count("for (") >= 2
    assert row_kernels >= len(programs) - 1  # every program above has at least one row kernel with GROUP threads


def test_the_softmax_source_has_three_loops_and_two_barriers():
    (k,) = source_for(Tensor(RNG.standard_normal((128, 1024)).astype(np.float32)).softmax(-1))
    assert k.source.count("for (") == 3 and k.source.count("__syncthreads();") == 2, k.source


def test_each_row_kernel_program_interprets_like_numpy():
    """The GPU program (gpu=True, the policy's opts) on the PYTHON interpreter: a block per row gives the rows."""
    for rows, n in [(6, 40), (4, 64), (3, 256)]:
        k = softmax_kernel(rows, n)
        assert row_phases(k).count == 3
        x = (RNG.standard_normal(rows * n) * 3).astype(np.float32)
        out = np.zeros(rows * n, np.float32)
        interpret(linearize(k, choose_opts(k), gpu=True), [out, x])
        v = x.reshape(rows, n)
        want = 2 ** (v - v.max(1, keepdims=True))
        np.testing.assert_allclose(out.reshape(rows, n), want / want.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)


# ---- on the GPU ----------------------------------------------------------------------------------------------

gpu = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("rows, n", [(6, 40), (64, 64), (300, 512), (17, 4096), (2048, 2048)])
def test_row_kernels_on_cuda_equal_the_interpreter(rows, n):
    from test_gpu import run_cuda

    k = softmax_kernel(rows, n)
    program = linearize(k, choose_opts(k), gpu=True)
    x = (RNG.standard_normal(rows * n) * 3).astype(np.float32)
    want = [np.zeros(rows * n, np.float32), x.copy()]
    interpret(program, want)
    got = run_cuda(program, [np.zeros(rows * n, np.float32), x], extra=3)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6, atol=1e-8)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "layernorm", "cross entropy"])
def test_row_kernels_on_cuda_equal_the_separate_kernels(name, monkeypatch):
    from shrimpgrad.helpers import Context
    from shrimpgrad.realize import clear_schedule_cache

    x = (RNG.standard_normal((96, 1000)) * 3).astype(np.float32)
    labels = RNG.integers(0, 1000, 96).astype(np.int32)
    build = {"softmax": lambda t: t.softmax(-1), "log_softmax": lambda t: t.log_softmax(-1),
             "layernorm": lambda t: t.layernorm(),
             "cross entropy": lambda t: t.sparse_categorical_crossentropy(Tensor(labels))}[name]
    values = []
    for rows in ("1", "0"):
        monkeypatch.setenv("SHRIMPGRAD_FUSE_ROWS", rows)
        clear_schedule_cache()
        with Context(DEVICE="CUDA"):
            t = Tensor(x, requires_grad=True)
            out = build(t)
            (out.sum() if out.ndim else out).backward()
            values.append((out.numpy(), t.grad.numpy()))
    clear_schedule_cache()
    for a, b in zip(*values):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
