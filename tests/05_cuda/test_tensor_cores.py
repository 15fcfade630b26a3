"""Rule 5, TENSOR_CORES (tensor_cores.py). Without a GPU: which kernels the template takes (every operand layout,
float16 and bfloat16, batches, A and B one buffer) and which it refuses and why, and that each plan's CUDA
NVRTC-compiles. On the GPU (marker `cuda`): every plan computes the matmul numpy computes in float64, within the
output dtype's rounding, and the same values as the loop nest with the rule switched off."""

import numpy as np
import pytest

from shrimpgrad import Tensor, dtypes
from shrimpgrad.cuda import GPULimits, choose_tile, cuda_available, source_for
from shrimpgrad.cuda.opts import RULES_OFF_ENV
from shrimpgrad.cuda.tensor_cores import (
    CONFIGS,
    TileConfig,
    plan_tile_matmul,
    render_tile_matmul,
    tile_matmul,
    why_not_tiled,
)
from shrimpgrad.schedule import create_schedule

RNG = np.random.default_rng(16)
F16, BF16 = dtypes.float16, dtypes.bfloat16


def kernel_of(tensor):
    (kernel,) = create_schedule([tensor.node]).kernels
    return kernel


def operands(m, n, k, dtype, layout, batch=()):
    """Empty A (m x k) and B (k x n) Tensors of `dtype`, stored as `layout` says: "nn" both row-major, "t?" A
    stored transposed ([k][m]), "?t" B stored transposed ([n][k])."""
    a = Tensor.empty(*batch, k, m, dtype=dtype).transpose(-1, -2) if layout[0] == "t" else \
        Tensor.empty(*batch, m, k, dtype=dtype)
    b = Tensor.empty(*batch, n, k, dtype=dtype).transpose(-1, -2) if layout[1] == "t" else \
        Tensor.empty(*batch, k, n, dtype=dtype)
    return a, b


LAYOUTS = {"nn": ("[m][k]", "[k][n]"), "tn": ("[k][m]", "[k][n]"), "nt": ("[m][k]", "[n][k]"),
           "tt": ("[k][m]", "[n][k]")}


# ---- which kernels are tiled -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F16, BF16])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_is_tiled_and_its_cuda_compiles(layout, dtype):
    a, b = operands(256, 256, 64, dtype, layout)
    kernel = kernel_of(a @ b)
    plan = plan_tile_matmul(kernel)
    assert (plan.m, plan.n, plan.k, plan.dtype, plan.out_dtype) == (256, 256, 64, dtype, dtype)
    want_a, want_b = LAYOUTS[layout]
    assert f"A {want_a}, B {want_b}" in str(plan)
    ptx = {F16: "f16", BF16: "bf16"}[dtype]
    (k,) = source_for(a @ b)  # what device CUDA builds: the template, NVRTC-compiled
    assert k.tile == plan and k.opts == ()
    assert f"mma.sync.aligned.m16n8k16.row.col.f32.{ptx}.{ptx}.f32" in k.source
    assert ("ldmatrix_x4_trans(a[mi]" in k.source) == (layout[0] == "t")
    assert ("ldmatrix_x4_trans(t," in k.source) == (layout[1] == "n")
    assert "tensor cores, rule 5" in k.header() and str(plan) in k.source
    assert k.cubin is not None and k.cubin.cubin[:4] == b"\x7fELF"
    assert k.launch.grid == (256 // plan.config.bn, 256 // plan.config.bm, 1)


def test_a_batched_matmul_runs_its_batches_on_grid_z():
    a, b = operands(128, 256, 32, F16, "nn", batch=(2, 3))
    plan = tile_matmul(kernel_of(a @ b))
    assert plan.batch == (2, 3) and plan.launch.grid[2] == 6
    assert plan.a.batch_strides == (3 * 128 * 32, 128 * 32) and plan.c.batch_strides == (3 * 128 * 256, 128 * 256)
    b1 = Tensor.empty(32, 256, dtype=F16)  # one B for every batch: broadcast, stride 0
    assert tile_matmul(kernel_of(a @ b1)).b.batch_strides == (0, 0)


def test_x_at_x_transposed_reads_one_buffer_twice():
    x = Tensor.empty(256, 64, dtype=F16)
    (k,) = source_for(x @ x.T)
    assert k.tile.a.buf == k.tile.b.buf == 1 and k.tile.bufs == 2
    assert "data2" not in k.source


def test_float32_of_float16_inputs_is_tiled_too():
    # float(a) * float(b) of two float16s is exact in float32: the tensor cores compute the same products
    a, b = operands(128, 256, 32, F16, "nn")
    plan = tile_matmul(kernel_of(a.float() @ b.float()))
    assert plan is not None and plan.out_dtype == dtypes.float32


@pytest.mark.parametrize("build, reason", [
    (lambda: Tensor.empty(256, 64) @ Tensor.empty(64, 256), "float32: tensor cores take float16 or bfloat16"),
    (lambda: Tensor.empty(100, 64, dtype=F16) @ Tensor.empty(64, 256, dtype=F16), "not a multiple of any block"),
    (lambda: Tensor.empty(256, 40, dtype=F16) @ Tensor.empty(40, 256, dtype=F16), "not a multiple of any block"),
    (lambda: Tensor.empty(256, 64).half() @ Tensor.empty(64, 256, dtype=F16), "realize the float16 tensor first"),
    (lambda: Tensor.empty(256, 64, dtype=F16).sum(axis=1), "not of products"),
    (lambda: Tensor.empty(256, 64, dtype=F16).max(axis=1), "not a float32 sum"),
    (lambda: Tensor.empty(256, 62, dtype=F16).pad(((0, 0), (0, 2))) @ Tensor.empty(64, 256, dtype=F16), "masked"),
    (lambda: Tensor.empty(256, 64, dtype=F16) @ Tensor.empty(64, 256, dtype=BF16), "float16 and bfloat16"),
    (lambda: Tensor.empty(4, 16, 34, 34, dtype=F16).conv2d(Tensor.empty(128, 16, 3, 3, dtype=F16)), "axes"),
])
def test_what_is_not_tiled_says_why(build, reason):
    kernel = create_schedule([build().node]).kernels[-1]
    assert tile_matmul(kernel) is None
    assert reason in why_not_tiled(kernel)


def test_an_unaligned_view_is_not_tiled():
    # an offset of 1 element: a 16-byte copy of A would start 2 bytes past an aligned address
    a = Tensor.empty(256 * 64 + 1, dtype=F16)[1:].reshape(256, 64)
    b = Tensor.empty(64, 256, dtype=F16)
    assert "multiples of 8 elements" in why_not_tiled(kernel_of(a @ b))


def test_the_rule_is_switchable_and_only_the_heuristic_has_it(monkeypatch):
    a, b = operands(256, 256, 64, F16, "nn")
    kernel = kernel_of(a @ b)
    assert choose_tile(kernel) is not None
    assert choose_tile(kernel, "threads") is None and choose_tile(kernel, "none") is None
    monkeypatch.setenv(RULES_OFF_ENV, "tensor_cores")
    assert choose_tile(kernel) is None
    (k,) = source_for(a @ b)
    assert k.tile is None and "mma.sync" not in k.source and k.opts  # rule 3's register blocking instead


def test_a_tile_that_needs_too_much_shared_memory_falls_back_to_a_smaller_one():
    a, b = operands(256, 256, 64, F16, "nn")
    kernel = kernel_of(a @ b)
    big = tile_matmul(kernel)
    assert big.config == CONFIGS[0]
    small = choose_tile(kernel, limits=GPULimits("a small GPU", max_dynamic_shared_bytes=big.shared_bytes - 1))
    assert small is not None and small.shared_bytes < big.shared_bytes
    assert choose_tile(kernel, limits=GPULimits("a tiny GPU", max_dynamic_shared_bytes=1024)) is None


# ---- on the GPU: the values ------------------------------------------------------------------------------------

needs_gpu = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")


def _device_operand(values: np.ndarray, dtype, transposed: bool):
    """A realized CUDA tensor of `dtype` holding `values`, stored transposed when asked (then viewed back)."""
    stored = np.ascontiguousarray(np.swapaxes(values, -1, -2)) if transposed else values
    t = Tensor(stored.astype(np.float32), device="CUDA").cast(dtype).realize()
    return t.transpose(-1, -2) if transposed else t


def _reference(a: np.ndarray, b: np.ndarray, dtype) -> np.ndarray:
    """The matmul of the values as stored in `dtype` (rounded through it), in float64."""
    def rounded(x):
        return Tensor(x.astype(np.float32)).cast(dtype).float().numpy().astype(np.float64)
    return rounded(a) @ rounded(b)


@pytest.mark.parametrize("out", ["same", "float32"])
@pytest.mark.parametrize("dtype", [F16, BF16])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(256, 256, 64, ()), (128, 256, 96, (3,))])
@pytest.mark.cuda
@needs_gpu
def test_the_tensor_cores_compute_the_matmul(shape, layout, dtype, out, monkeypatch):
    m, n, k, batch = shape
    a, b = RNG.standard_normal((*batch, m, k)), RNG.standard_normal((*batch, k, n))
    ta, tb = _device_operand(a, dtype, layout[0] == "t"), _device_operand(b, dtype, layout[1] == "t")
    expr = (ta.float() @ tb.float()) if out == "float32" else ta @ tb
    assert choose_tile(kernel_of(expr)) is not None
    got = expr.float().numpy() if out == "same" else expr.numpy()
    want = _reference(a, b, dtype)
    # float32 sums in another order (within 1e-5 of the magnitudes summed), then one rounding to the output
    scale = np.abs(a) @ np.abs(b) if not batch else np.einsum("...ij,...jk->...ik", np.abs(a), np.abs(b))
    ulp = {"float32": 2 ** -23, F16: 2 ** -10, BF16: 2 ** -7}[dtype if out == "same" else "float32"]
    np.testing.assert_array_less(np.abs(got - want), 1e-5 * scale + ulp * np.abs(want) + 1e-6)
    monkeypatch.setenv(RULES_OFF_ENV, "tensor_cores")  # the loop nest (rule 3) computes the same values
    off = ((ta.float() @ tb.float()) if out == "float32" else ta @ tb)
    off = off.float().numpy() if out == "same" else off.numpy()
    np.testing.assert_array_less(np.abs(got - off), 2e-5 * scale + 2 * ulp * np.abs(want) + 1e-6)


# the last: 4 tile rows in groups of 3 (a group of 3, then one of 1)
@pytest.mark.parametrize("config", (*CONFIGS, TileConfig(64, 128, 32, 2, 2, 4, group_m=3)), ids=str)
@pytest.mark.cuda
@needs_gpu
def test_every_tile_config_computes_the_same_matmul(config):
    from shrimpgrad.cuda import CUDAAllocator, CUDAProgram
    from shrimpgrad.linearize import linearize

    m, n, k = 256, max(256, 2 * config.bn), 128  # two tile rows or more, two tile columns, two k-steps
    a = RNG.standard_normal((m, k)).astype(np.float16)
    b = RNG.standard_normal((k, n)).astype(np.float16)
    kernel = kernel_of(Tensor.empty(m, k, dtype=F16) @ Tensor.empty(k, n, dtype=F16))
    plan = plan_tile_matmul(kernel, configs=(config,))
    prog = CUDAProgram(linearize(kernel, (), gpu=True), tile=plan)
    assert prog.source == render_tile_matmul(plan, kernel.name)
    alloc = CUDAAllocator()
    ptrs = [alloc.alloc(m * n * 2), alloc.alloc(a.nbytes), alloc.alloc(b.nbytes)]
    try:
        alloc.copyin(ptrs[1], a)
        alloc.copyin(ptrs[2], b)
        prog(ptrs)
        got = np.empty((m, n), np.float16)
        alloc.copyout(got, ptrs[0])
        with pytest.raises(ValueError, match="16-byte copies"):
            prog([ptrs[0], ptrs[1] + 2, ptrs[2]])
    finally:
        for p in ptrs:
            alloc.free(p)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3, atol=2e-2)


@pytest.mark.cuda
@needs_gpu
def test_a_tile_whose_copies_leave_threads_idle_computes_the_matmul():
    # 7 warps (224 threads) copy a 64x64 A tile in 512 16-byte pieces: the third round has only 64 of them
    config = TileConfig(64, 224, 64, 1, 7, 4, group_m=8)
    a = RNG.standard_normal((64, 128))
    b = RNG.standard_normal((128, 448))
    ta, tb = _device_operand(a, F16, False), _device_operand(b, F16, False)
    kernel = kernel_of(ta @ tb)
    plan = plan_tile_matmul(kernel, configs=(config,))
    assert "if (c >= 512) break;" in render_tile_matmul(plan, kernel.name)
    assert choose_tile(kernel).config == config  # CONFIGS' 128-row tiles do not fit m = 64, 64x128 not n = 448
    got = (ta @ tb).float().numpy()
    np.testing.assert_allclose(got, _reference(a, b, F16), rtol=2e-3, atol=2e-2)


def test_tile_config_is_named():
    assert str(TileConfig()) == "block tile 128x256x32, 2x4 warps of 64x64, 3 stages"
    assert str(TileConfig(group_m=4)).endswith("3 stages, groups of 4 tile rows")


def test_grouped_tiles_render_the_block_mapping_and_compile():
    from shrimpgrad.cuda import compile_cuda

    kernel = kernel_of(Tensor.empty(512, 64, dtype=F16) @ Tensor.empty(64, 512, dtype=F16))
    plan = plan_tile_matmul(kernel, configs=(TileConfig(128, 128, 32, 2, 2, 4, group_m=3),))
    source = render_tile_matmul(plan, kernel.name)
    # 4 tile rows x 4 tile columns, groups of 3 rows: block i's group starts at row i / 12 * 3
    assert "first = i / 12 * 3" in source and "min(4 - first, 3)" in source
    compile_cuda(source, kernel.name)
    plain = render_tile_matmul(plan_tile_matmul(kernel, configs=(TileConfig(128, 128, 32, 2, 2, 4),)), kernel.name)
    assert "m0 = blockIdx.y * BM" in plain and "first = " not in plain


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_every_tile_config_renders_and_nvrtc_compiles(config):
    from shrimpgrad.cuda import compile_cuda

    m, n, k = 256, max(256, 2 * config.bn), 128  # the GPU test's shape for this config
    kernel = kernel_of(Tensor.empty(m, k, dtype=F16) @ Tensor.empty(k, n, dtype=F16))
    plan = plan_tile_matmul(kernel, configs=(config,))
    assert plan.config == config and plan.shared_bytes <= GPULimits("H200").max_dynamic_shared_bytes
    assert compile_cuda(render_tile_matmul(plan, kernel.name), kernel.name).cubin[:4] == b"\x7fELF"
