"""Rule 5, TENSOR_CORES: a float16 / bfloat16 matmul kernel rendered from a tile template onto the tensor cores.

    tile = tile_matmul(kernel)          # a TileMatmul plan, or None (why_not_tiled(kernel) says why not)
    source = render_tile_matmul(tile, name)          # the CUDA C of that plan; tile.launch, tile.shared_bytes

Why a template, and not one more Opt: a tensor core multiplies a 16x16 tile of A by a 16x8 tile of B in one
warp-wide instruction (`mma.sync.m16n8k16`), each of the warp's 32 threads holding a fixed, scattered piece of
each tile in its registers. Stage 03's loop nest has no words for "this warp holds that tile"; a matmul on the
tensor cores is instead a known plan, written once here, that the kernel's AST is matched against. What it
computes is exactly the kernel's: C[m][n] = sum over k of float(A[m][k]) * float(B[k][n]), the products exact
(two float16s multiply exactly in float32) and summed in float32, then rounded to the output's dtype -- in
another order than the loop nest's k = 0, 1, 2, ... (as GROUP's sums are): CUDA equals C within float tolerance.

The plan, per block of THREADS = 32 x warps_m x warps_n threads, for a BM x BN tile of C:

  1. Staging, cp.async pipeline: the block's A tile (BM x BK) and B tile (BK x BN) for the next STAGES - 1
     steps of k are copied global -> shared memory by `cp.async` (16 bytes per thread per copy, asynchronous:
     the copies of step k+2 fly while the tensor cores work on step k). Each tile keeps its operand's layout in
     global memory (row-major A is stored [m][k], a transposed one [k][m]), each row padded by 8 halves so the
     8 rows one `ldmatrix` reads fall in 8 different shared-memory bank groups (no bank conflicts).
  2. Fragments, ldmatrix: each warp owns a TM x TN piece of the block's tile (warp tile); for every 16 of k it
     loads its A fragments (TM/16 tiles of 16x16) and B fragments (TN/8 tiles of 16x8) from shared memory with
     `ldmatrix.x4` -- `.trans` when the operand is stored the other way round, so either layout yields the
     registers mma wants.
  3. Multiply, mma.sync: (TM/16) x (TN/8) `mma.sync.aligned.m16n8k16.row.col.f32.{f16|bf16}` per 16 of k, each
     accumulating a 16x8 float32 tile in 4 registers per thread: the warp tile's accumulators live in
     registers for the whole k loop.
  4. Epilogue: each thread rounds its accumulators to the output dtype (`cvt.rn`, round to nearest even, the
     same rounding as stage 04's) and stores them; two neighbouring columns at once when the output is
     contiguous along n.

A kernel is tiled when it is exactly `STORE(CAST?(REDUCE(ADD, k)(MUL(CAST f32(LOAD A), CAST f32(LOAD B)))))`,
A and B float16 (or both bfloat16), each read through one unmasked view with non-negative strides, contiguous
along k or along its own output axis, with every other stride and offset a multiple of 8 elements (16 bytes:
`cp.async`'s alignment), M, N, K multiples of the block tile. Anything else keeps the loop nest (rules 1-4),
and `why_not_tiled(kernel)` says which condition failed. `SHRIMPGRAD_CUDA_RULES_OFF=tensor_cores` turns the
rule off; stage 05's README has the measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shrimpgrad.graph import Ops, dtypes
from shrimpgrad.schedule import Kernel, KNode, KOps

from .launch import Launch

WARP = 32
PAD = 8  # halves of padding per shared-memory row: 16 bytes, so ldmatrix's 8 rows hit 8 different bank groups
CHUNK = 8  # halves per cp.async (16 bytes)
MMA_M, MMA_N, MMA_K = 16, 8, 16  # mma.sync.m16n8k16
INPUT_DTYPES = {dtypes.float16: "f16", dtypes.bfloat16: "bf16"}  # the operand types mma.sync takes (PTX names)
MAX_SHARED = 227 * 1024  # dynamic shared memory a block may opt in to on the H200 (GPULimits reads the GPU's own)


@dataclass(frozen=True)
class TileConfig:
    """One block's share of the work: a bm x bn tile of C, k in steps of bk, warps_m x warps_n warps, `stages`
    k-steps of A and B tiles in flight in shared memory."""

    bm: int = 128
    bn: int = 256
    bk: int = 32
    warps_m: int = 2
    warps_n: int = 4
    stages: int = 3
    group_m: int = 1  # blocks walk C in groups of group_m tile rows, column by column (1: row by row); see _tile_lines

    @property
    def threads(self) -> int:
        return WARP * self.warps_m * self.warps_n

    @property
    def warp_tile(self) -> tuple[int, int]:
        return self.bm // self.warps_m, self.bn // self.warps_n

    def __str__(self) -> str:
        tm, tn = self.warp_tile
        group = f", groups of {self.group_m} tile rows" if self.group_m > 1 else ""
        return (f"block tile {self.bm}x{self.bn}x{self.bk}, {self.warps_m}x{self.warps_n} warps of {tm}x{tn}, "
                f"{self.stages} stages{group}")


# Tried in this order: the first that divides the matmul (and fits the GPU's shared memory) is used. Chosen by
# `benchmarks/bench_tensor_cores.py --sweep` (476 configs on the H200, 4096^3 float16): 128x128x64 with 4 warps of
# 64x64, 3 stages, groups of 8 tile rows was the best (348 TFLOP/s; 128x256x32, the classic large tile, 284); most of
# the top 15 share bk = 64 (half the barriers per flop of bk = 32) and 64x64 warp tiles (each loaded fragment feeds
# 4 or 8 mma). The others cover k a multiple of 32 only, and matmuls too small for 128-row tiles. 64x224 (7 warps)
# is for a convolution's matmul (m = 64 channels, n = 56 x 56 positions): of 250 configs swept for G5's it was the
# best (159 TFLOP/s; 64x64: 126), since every block re-reads all of A (the weight) and a wider tile re-reads it less.
CONFIGS = (TileConfig(128, 128, 64, 2, 2, 3, group_m=8), TileConfig(128, 128, 32, 2, 2, 4, group_m=8),
           TileConfig(64, 128, 32, 2, 2, 4), TileConfig(64, 224, 64, 1, 7, 4, group_m=8),
           TileConfig(64, 64, 64, 1, 2, 4))


@dataclass(frozen=True)
class MatrixView:
    """Where element (i, j) of one operand's matrix is in its buffer: `offset + i * strides[0] + j * strides[1]`
    plus `batch_strides[b] * index_b` for each batch axis. `buf`: the kernel parameter (stage 02's buffer index)."""

    buf: int
    offset: int
    strides: tuple[int, int]
    batch_strides: tuple[int, ...]

    def contiguous(self, axis: int) -> bool:
        return self.strides[axis] == 1


@dataclass(frozen=True)
class TileMatmul:
    """A kernel planned for the tensor cores: C (m x n, per batch index) = A (m x k) @ B (k x n), inputs `dtype`,
    accumulated in float32, stored as `out_dtype`."""

    m: int
    n: int
    k: int
    batch: tuple[int, ...]  # sizes of the batch axes (grid z)
    bufs: int  # the kernel's parameters (2 when A and B are one buffer: x @ x.T)
    dtype: object  # float16 or bfloat16
    out_dtype: object
    a: MatrixView  # strides (m, k)
    b: MatrixView  # strides (k, n)
    c: MatrixView  # strides (m, n)
    config: TileConfig

    @property
    def launch(self) -> Launch:
        return Launch((self.n // self.config.bn, self.m // self.config.bm, math.prod(self.batch)),
                      (self.config.threads, 1, 1))

    @property
    def shared_bytes(self) -> int:
        """Dynamic shared memory per block: `stages` copies of the padded A and B tiles (2 bytes per element)."""
        return self.config.stages * (_tile_elems(self, "a") + _tile_elems(self, "b")) * 2

    def __str__(self) -> str:
        batch = f"{' x '.join(map(str, self.batch))} x " if self.batch else ""
        return (f"tensor cores: {batch}({self.m}x{self.k} @ {self.k}x{self.n}) {INPUT_DTYPES[self.dtype]}, f32 "
                f"accumulate -> {self.out_dtype.name}; {self.config}; A {_layout(self, 'a')}, B {_layout(self, 'b')}")


class NotTiled(Exception):
    """Why a kernel is not a tensor-core matmul (the message is the condition that failed)."""


# ---- matching the kernel AST --------------------------------------------------------------------------------------

def _load_of(node: KNode) -> KNode:
    """LOAD under `CAST float32(LOAD float16/bfloat16)`."""
    if node.op is KOps.LOAD:  # a float32 matmul multiplies its LOADs directly: say which dtype it is
        raise NotTiled(f"an operand is {node.dtype.name}: tensor cores take float16 or bfloat16")
    inner = node.src[0] if node.op is KOps.ALU and node.arg is Ops.CAST and node.src else None
    if inner is not None and inner.op is KOps.ALU and inner.arg is Ops.CAST and inner.dtype in INPUT_DTYPES:
        raise NotTiled(f"an operand is cast to {inner.dtype.name} in this kernel, so it is read as "
                       f"{inner.src[0].dtype.name}: realize the {inner.dtype.name} tensor first")
    if not (inner is not None and node.dtype == dtypes.float32 and inner.op is KOps.LOAD):
        raise NotTiled("a product's operand is not a float16/bfloat16 LOAD cast to float32")
    load = node.src[0]
    if load.dtype not in INPUT_DTYPES:
        raise NotTiled(f"an operand is {load.dtype.name}: tensor cores take float16 or bfloat16")
    return load


def _single_view(node: KNode, what: str):
    st = node.arg[1]
    if len(st.views) != 1:
        raise NotTiled(f"{what} is read through {len(st.views)} stacked views (a reshape of a permuted tensor)")
    view = st.views[0]
    if view.mask is not None:
        raise NotTiled(f"{what} is masked (padding)")
    if any(s < 0 for s in view.strides) or view.offset < 0:
        raise NotTiled(f"{what} has a negative stride (a flip)")
    return view


def _find(kernel: Kernel) -> tuple[KNode, KNode, KNode, KNode]:
    """(STORE, REDUCE, LOAD a, LOAD b) of a matmul-shaped AST, or NotTiled."""
    sink = kernel.ast
    if kernel.n_outputs != 1 or len(sink.src) != 1 or sink.src[0].op is not KOps.STORE:
        raise NotTiled("the kernel does not store exactly one output")
    store = sink.src[0]
    value = store.src[0]
    if value.op is KOps.ALU and value.arg is Ops.CAST:
        value = value.src[0]
    if value.op is not KOps.REDUCE or value.arg[0] is not Ops.ADD or value.dtype != dtypes.float32:
        raise NotTiled("the stored value is not a float32 sum (REDUCE ADD), possibly cast")
    mul = value.src[0]
    if not (mul.op is KOps.ALU and mul.arg is Ops.MUL and len(mul.src) == 2):
        raise NotTiled("the sum is not of products a * b")
    a, b = (_load_of(s) for s in mul.src)
    if a.dtype != b.dtype:
        raise NotTiled(f"the operands are {a.dtype.name} and {b.dtype.name}: mma takes two of one type")
    return store, value, a, b


def _match(kernel: Kernel) -> dict:
    store, reduce, la, lb = _find(kernel)
    if store.dtype not in (dtypes.float16, dtypes.bfloat16, dtypes.float32):
        raise NotTiled(f"the output is {store.dtype.name}")
    shape = kernel.full_shape
    axes = [ax for ax in reduce.arg[1] if shape[ax] > 1]
    if len(axes) != 1:
        raise NotTiled(f"the sum runs over {len(axes)} axes of size > 1 (a matmul sums over one, k)")
    (kax,) = axes
    va, vb, vc = _single_view(la, "A"), _single_view(lb, "B"), _single_view(store, "the output")
    outer = [ax for ax in range(len(shape)) if ax != kax and shape[ax] > 1]
    m_axes = [ax for ax in outer if vb.strides[ax] == 0 and va.strides[ax] != 0]
    n_axes = [ax for ax in outer if va.strides[ax] == 0 and vb.strides[ax] != 0]
    if not m_axes or not n_axes:
        raise NotTiled("no pair of output axes along which one operand is broadcast and the other not "
                       "(a matmul's rows and columns)")
    if va.strides[kax] == 0 or vb.strides[kax] == 0:
        raise NotTiled("an operand is broadcast along the summed axis")
    # the innermost such axes are the matrix's rows and columns; outer ones are batch axes with one operand
    # broadcast (one B for every batch)
    mx, nx = m_axes[-1], n_axes[-1]
    if mx > nx:  # name the operands so that A varies along the first output axis (C's rows)
        la, lb, va, vb, mx, nx = lb, la, vb, va, nx, mx
    batch = [ax for ax in outer if ax not in (mx, nx)]

    def matrix(load: KNode, view, i: int, j: int) -> MatrixView:
        return MatrixView(load.arg[0], view.offset, (view.strides[i], view.strides[j]),
                          tuple(view.strides[ax] for ax in batch))

    return dict(m=shape[mx], n=shape[nx], k=shape[kax], batch=tuple(shape[ax] for ax in batch), bufs=len(kernel.bufs),
                dtype=la.dtype, out_dtype=store.dtype,
                a=matrix(la, va, mx, kax), b=matrix(lb, vb, kax, nx), c=matrix(store, vc, mx, nx))


def _check_layout(name: str, view: MatrixView, *, along: tuple[str, str]) -> None:
    """An operand must be contiguous along one of its two matrix axes (a 16-byte copy reads 8 neighbours), and
    its other stride, batch strides and offset multiples of 8 elements (so each copy starts 16-byte aligned)."""
    if not (view.contiguous(0) or view.contiguous(1)):
        raise NotTiled(f"{name} is contiguous along neither {along[0]} nor {along[1]} (strides {view.strides})")
    other = view.strides[0] if view.contiguous(1) else view.strides[1]
    if any(s % CHUNK for s in (other, *view.batch_strides, view.offset)):
        raise NotTiled(f"{name}'s strides {view.strides}, batch strides {view.batch_strides} and offset "
                       f"{view.offset} are not all multiples of {CHUNK} elements (16 bytes)")


def _fits(fields: dict, config: TileConfig, max_shared: int) -> bool:
    tm, tn = config.warp_tile
    plan = TileMatmul(**fields, config=config)
    return (fields["m"] % config.bm == 0 and fields["n"] % config.bn == 0 and fields["k"] % config.bk == 0
            and config.bm % config.warps_m == 0 and config.bn % config.warps_n == 0
            and tm % MMA_M == 0 and tn % (2 * MMA_N) == 0 and config.bk % MMA_K == 0
            and plan.shared_bytes <= max_shared)


def plan_tile_matmul(kernel: Kernel, max_shared: int = MAX_SHARED, configs=CONFIGS) -> TileMatmul:
    """The tensor-core plan of `kernel` with the first of `configs` that fits, or NotTiled saying why not."""
    fields = _match(kernel)
    _check_layout("A", fields["a"], along=("m", "k"))
    _check_layout("B", fields["b"], along=("k", "n"))
    c = fields["c"]
    if c.contiguous(1) and any(s % 2 for s in (c.strides[0], *c.batch_strides, c.offset)):
        raise NotTiled(f"the output's strides {c.strides}, batch strides {c.batch_strides} and offset {c.offset} "
                       "are not all even (its stores write 2 neighbouring columns at once)")
    for config in configs:
        if _fits(fields, config, max_shared):
            return TileMatmul(**fields, config=config)
    raise NotTiled(f"{fields['m']}x{fields['n']}x{fields['k']} (m x n x k) is not a multiple of any block tile "
                   f"({', '.join(f'{c.bm}x{c.bn}x{c.bk}' for c in configs)}), or it needs more shared memory")


def tile_matmul(kernel: Kernel, max_shared: int = MAX_SHARED) -> TileMatmul | None:
    """The tensor-core plan of `kernel`, or None when it is not a matmul the template covers."""
    try:
        return plan_tile_matmul(kernel, max_shared)
    except NotTiled:
        return None


def why_not_tiled(kernel: Kernel) -> str | None:
    """None when `kernel` is tiled for the tensor cores, else the condition that failed, in words."""
    try:
        plan_tile_matmul(kernel)
        return None
    except NotTiled as e:
        return str(e)


# ---- the shared-memory tiles ---------------------------------------------------------------------------------------

def _k_major(plan: TileMatmul, x: str) -> bool:
    """Whether operand x ("a" or "b") is contiguous along k: A stored [m][k], B stored [n][k]."""
    return plan.a.contiguous(1) if x == "a" else plan.b.contiguous(0)


def _layout(plan: TileMatmul, x: str) -> str:
    return ("[m][k]" if _k_major(plan, x) else "[k][m]") if x == "a" else ("[n][k]" if _k_major(plan, x) else "[k][n]")


def _tile_shape(plan: TileMatmul, x: str) -> tuple[int, int]:
    """(rows, columns) of operand x's tile in shared memory: its global layout, the contiguous axis last."""
    cfg = plan.config
    other = cfg.bm if x == "a" else cfg.bn
    return (other, cfg.bk) if _k_major(plan, x) else (cfg.bk, other)


def _tile_elems(plan: TileMatmul, x: str, padded: bool = True) -> int:
    rows, cols = _tile_shape(plan, x)
    return rows * (cols + PAD if padded else cols)


# ---- rendering ---------------------------------------------------------------------------------------------------

_HELPERS = r"""/* PTX the CUDA C++ compiler has no spelling for, one instruction each */
static __device__ inline unsigned smem_address(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
/* 16 bytes global -> shared, asynchronously (completes at the cp.async.wait_group of its commit group) */
static __device__ inline void cp_async16(unsigned dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(dst), "l"(src));
}
static __device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> static __device__ inline void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }
/* four 8x8 tiles of 16-bit values from shared memory: lane l gives the address of row l % 8 of tile l / 8 */
static __device__ inline void ldmatrix_x4(unsigned* r, unsigned address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
/* the same, each tile transposed on the way (for an operand stored the other way round) */
static __device__ inline void ldmatrix_x4_trans(unsigned* r, unsigned address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}
/* c (16x8 float32) += a (16x16) @ b (16x8): one warp-wide tensor-core instruction */
static __device__ inline void mma_16x8x16(float* c, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.{T}.{T}.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}"""

_STORE_HELPERS = {
    dtypes.float16: r"""/* two floats rounded to the nearest float16 (ties to even), packed: the low half is `lo` */
static __device__ inline unsigned pack2(float lo, float hi) {
  unsigned r; asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo)); return r;
}""",
    dtypes.bfloat16: r"""/* two floats rounded to the nearest bfloat16 (ties to even), packed: the low half is `lo` */
static __device__ inline unsigned pack2(float lo, float hi) {
  unsigned r; asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo)); return r;
}""",
}


def _batch_lines(plan: TileMatmul) -> list[str]:
    """blockIdx.z split into the batch indices (innermost last), each adding its stride to the three offsets."""
    if not plan.batch:
        return []
    lines = ["  int z = blockIdx.z;  /* the batch index */"]
    for i in reversed(range(len(plan.batch))):
        size = plan.batch[i]
        lines.append(f"  {{ int b = z % {size}; z /= {size};  /* batch axis {i} */")
        lines.append(f"    a_off += b * {plan.a.batch_strides[i]}; b_off += b * {plan.b.batch_strides[i]}; "
                     f"c_off += b * {plan.c.batch_strides[i]}; }}")
    return lines


def _tile_lines(plan: TileMatmul) -> list[str]:
    """m0, n0: the block's tile of C. Row by row, the blocks running at once read a few rows of A tiles and all
    of B; in groups of group_m tile rows walked column by column (Triton's GROUP_SIZE_M), they read group_m rows
    of A and fewer columns of B, so more of both stays in L2 between the blocks that share them."""
    group, rows, cols = plan.config.group_m, plan.m // plan.config.bm, plan.n // plan.config.bn
    if group == 1 or rows <= 1:
        return ["  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;  /* the block's tile of C */"]
    return [f"  /* the block's tile of C: block i of the grid, in groups of {group} tile rows, column by column */",
            f"  const int i = blockIdx.y * {cols} + blockIdx.x, first = i / {group * cols} * {group};",
            f"  const int rows = min({rows} - first, {group}), j = i % {group * cols};",
            "  const int m0 = (first + j % rows) * BM, n0 = j / rows * BN;"]


def _copy_lines(plan: TileMatmul, x: str) -> list[str]:
    """The cp.async loop that stages operand x's tile for k-step `kt` into shared tile `dst`."""
    view = plan.a if x == "a" else plan.b
    rows, cols = _tile_shape(plan, x)
    per_row = cols // CHUNK
    start = "m0" if x == "a" else "n0"
    own = 0 if x == "a" else 1  # the operand's own (non-k) axis in its strides
    kax = 1 - own
    if _k_major(plan, x):  # rows are m (or n), columns k
        src = f"{x}_off + ({start} + row) * {view.strides[own]} + kt * BK + col"
    else:  # rows are k, columns m (or n)
        src = f"{x}_off + (kt * BK + row) * {view.strides[kax]} + {start} + col"
    total = rows * per_row
    count = -(-total // plan.config.threads)
    # a tile whose copies are not a multiple of the threads (7 warps for a 448-wide tile) leaves some idle
    guard = [] if total % plan.config.threads == 0 else [f"    if (c >= {total}) break;"]
    return ["  #pragma unroll",
            f"  for (int i = 0; i < {count}; i++) {{  /* {rows} rows x {per_row} copies of 16 bytes */",
            f"    int c = threadIdx.x + i * THREADS, row = c / {per_row}, col = c % {per_row} * 8;",
            *guard,
            f"    cp_async16(smem_address(dst + row * {cols + PAD} + col), {x.upper()} + {src});",
            "  }"]


def _fragment_lines(plan: TileMatmul) -> list[str]:
    """ldmatrix addresses of the A and B fragments for 16 of k at `kk` (see the lane formulas in the comments)."""
    a_ld, b_ld = _tile_shape(plan, "a")[1] + PAD, _tile_shape(plan, "b")[1] + PAD
    if _k_major(plan, "a"):  # As[m][k]: lane l points at row l % 16, k half l / 16
        a = [f"ldmatrix_x4(a[mi], smem_address(As + (wm * TM + mi * 16 + lane % 16) * {a_ld} + kk + lane / 16 * 8));"]
    else:  # As[k][m]: tile j = l / 8 is (m half j % 2, k half j / 2), transposed
        a = [f"ldmatrix_x4_trans(a[mi], smem_address(As + (kk + lane / 16 * 8 + lane % 8) * {a_ld} "
             f"+ wm * TM + mi * 16 + lane / 8 % 2 * 8));"]
    if _k_major(plan, "b"):  # Bs[n][k]: tile j is (n block j / 2, k half j % 2)
        b = [f"ldmatrix_x4(t, smem_address(Bs + (wn * TN + ni * 8 + lane / 16 * 8 + lane % 8) * {b_ld} "
             f"+ kk + lane / 8 % 2 * 8));"]
    else:  # Bs[k][n]: the same tiles, transposed
        b = [f"ldmatrix_x4_trans(t, smem_address(Bs + (kk + lane / 8 % 2 * 8 + lane % 8) * {b_ld} "
             f"+ wn * TN + ni * 8 + lane / 16 * 8));"]
    return [
        "      unsigned a[MI][4], b[NI][2];",
        "      #pragma unroll",
        "      for (int mi = 0; mi < MI; mi++)",
        *(f"        {line}" for line in a),
        "      #pragma unroll",
        "      for (int ni = 0; ni < NI; ni += 2) {  /* one x4 load: b0, b1 of two neighbouring 16x8 tiles */",
        "        unsigned t[4];",
        *(f"        {line}" for line in b),
        "        b[ni][0] = t[0]; b[ni][1] = t[1]; b[ni + 1][0] = t[2]; b[ni + 1][1] = t[3];",
        "      }",
    ]


def _store_lines(plan: TileMatmul) -> list[str]:
    """Thread (lane) holds, per 16x8 tile, rows lane / 4 and lane / 4 + 8, columns 2 * (lane % 4) and + 1."""
    sm, sn = plan.c.strides
    out = plan.out_dtype
    at = f"c_off + row * {sm} + col * {sn}" if sn != 1 else f"c_off + row * {sm} + col"
    if sn == 1 and out == dtypes.float32:
        put = [f"*(float2*)(C + {at}) = make_float2(acc[mi][ni][h * 2], acc[mi][ni][h * 2 + 1]);"]
    elif sn == 1:
        put = [f"*(unsigned*)(C + {at}) = pack2(acc[mi][ni][h * 2], acc[mi][ni][h * 2 + 1]);"]
    elif out == dtypes.float32:
        put = [f"C[{at}] = acc[mi][ni][h * 2];", f"C[{at} + {sn}] = acc[mi][ni][h * 2 + 1];"]
    else:
        put = [f"C[{at}] = (unsigned short)pack2(acc[mi][ni][h * 2], 0.0f);",
               f"C[{at} + {sn}] = (unsigned short)pack2(acc[mi][ni][h * 2 + 1], 0.0f);"]
    return [
        "  #pragma unroll",
        "  for (int mi = 0; mi < MI; mi++)",
        "    #pragma unroll",
        "    for (int ni = 0; ni < NI; ni++)",
        "      #pragma unroll",
        "      for (int h = 0; h < 2; h++) {  /* h = 0: c0, c1 (row lane / 4); h = 1: c2, c3 (row lane / 4 + 8) */",
        "        int row = m0 + wm * TM + mi * 16 + lane / 4 + h * 8, col = n0 + wn * TN + ni * 8 + lane % 4 * 2;",
        *(f"        {line}" for line in put),
        "      }",
    ]


def render_tile_matmul(plan: TileMatmul, name: str) -> str:
    """The CUDA C of `plan` as kernel `name`, parameters in stage 02's buffer order (data0 = the output)."""
    cfg = plan.config
    tm, tn = cfg.warp_tile
    ptx = INPUT_DTYPES[plan.dtype]
    ctype = {dtypes.float32: "float", dtypes.float16: "unsigned short", dtypes.bfloat16: "unsigned short"}
    params = []
    for i in range(plan.bufs):
        role = {plan.c.buf: "C", plan.a.buf: "A", plan.b.buf: "B"}[i]
        t = ctype[plan.out_dtype] if role == "C" else "unsigned short"
        params.append(f"{'' if role == 'C' else 'const '}{t}* __restrict__ data{i}")
    a_elems, b_elems = _tile_elems(plan, "a"), _tile_elems(plan, "b")
    header = [
        f"/* {plan} */",
        f"/* {cfg.threads} threads per block, {plan.shared_bytes} bytes of dynamic shared memory;"
        f" grid {plan.launch.grid} = (n / BN, m / BM, batch).",
        "   16-bit values are handled as their bits (unsigned short): only the tensor cores and the final rounding",
        "   read them as numbers. */",
    ]
    lines = [
        *header,
        _HELPERS.replace("{T}", ptx),
        *([_STORE_HELPERS[plan.out_dtype]] if plan.out_dtype in _STORE_HELPERS else []),
        f"#define BM {cfg.bm}",
        f"#define BN {cfg.bn}",
        f"#define BK {cfg.bk}",
        f"#define STAGES {cfg.stages}",
        f"#define THREADS {cfg.threads}",
        f"#define TM {tm}  /* each warp's tile of C: TM x TN, as MI x NI mma tiles of 16 x 8 */",
        f"#define TN {tn}",
        f"#define MI {tm // MMA_M}",
        f"#define NI {tn // MMA_N}",
        f"#define A_TILE {a_elems}  /* A tile {_layout(plan, 'a')} {'x'.join(map(str, _tile_shape(plan, 'a')))} "
        f"+ {PAD} halves of padding per row */",
        f"#define B_TILE {b_elems}  /* B tile {_layout(plan, 'b')} {'x'.join(map(str, _tile_shape(plan, 'b')))} "
        f"+ {PAD} per row */",
        "",
        f'extern "C" __global__ void __launch_bounds__({cfg.threads}) {name}({", ".join(params)}) {{',
        "  extern __shared__ __align__(16) unsigned short smem[];  /* STAGES x (A tile, B tile) */",
        "  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;",
        f"  const int wm = warp / {cfg.warps_n}, wn = warp % {cfg.warps_n};  /* this warp's tile in the block's */",
        *_tile_lines(plan),
        f"  long long a_off = {plan.a.offset}, b_off = {plan.b.offset}, c_off = {plan.c.offset};",
        *_batch_lines(plan),
        "  const unsigned short* A = " + f"data{plan.a.buf};",
        "  const unsigned short* B = " + f"data{plan.b.buf};",
        f"  {ctype[plan.out_dtype]}* C = data{plan.c.buf};",
        "",
        "  /* 1. staging: copy the A and B tiles of k-step kt into stage s of shared memory (no wait) */",
        "  auto stage_tiles = [&](int s, int kt) {",
        "    unsigned short* dst = smem + s * (A_TILE + B_TILE);",
        *(f"  {line}" for line in _copy_lines(plan, "a")),
        "    dst += A_TILE;",
        *(f"  {line}" for line in _copy_lines(plan, "b")),
        "  };",
        "",
        "  float acc[MI][NI][4];  /* the warp tile's accumulators, in registers for the whole k loop */",
        "  #pragma unroll",
        "  for (int mi = 0; mi < MI; mi++)",
        "    #pragma unroll",
        "    for (int ni = 0; ni < NI; ni++)",
        "      #pragma unroll",
        "      for (int r = 0; r < 4; r++) acc[mi][ni][r] = 0.0f;",
        f"  const int KT = {plan.k // cfg.bk};  /* k-steps */",
        "  #pragma unroll",
        "  for (int s = 0; s < STAGES - 1; s++) {  /* the pipeline's first STAGES - 1 k-steps in flight */",
        "    if (s < KT) stage_tiles(s, s);",
        "    cp_async_commit();",
        "  }",
        "  for (int kt = 0; kt < KT; kt++) {",
        "    cp_async_wait<STAGES - 2>();  /* k-step kt has landed (at most STAGES - 2 later ones in flight) */",
        "    __syncthreads();  /* ...for every thread's copies; and every warp is done with k-step kt - 1 */",
        "    if (kt + STAGES - 1 < KT) stage_tiles((kt + STAGES - 1) % STAGES, kt + STAGES - 1);  /* kt - 1's stage */",
        "    cp_async_commit();  /* (an empty group at the end keeps the count the wait relies on) */",
        "    const unsigned short* As = smem + kt % STAGES * (A_TILE + B_TILE);",
        "    const unsigned short* Bs = As + A_TILE;",
        "    #pragma unroll",
        "    for (int kk = 0; kk < BK; kk += 16) {",
        "      /* 2. fragments: this warp's A (MI tiles of 16x16) and B (NI tiles of 16x8) for k = kk..kk+15 */",
        *_fragment_lines(plan),
        "      /* 3. multiply: MI x NI tensor-core instructions */",
        "      #pragma unroll",
        "      for (int mi = 0; mi < MI; mi++)",
        "        #pragma unroll",
        "        for (int ni = 0; ni < NI; ni++) mma_16x8x16(acc[mi][ni], a[mi], b[ni]);",
        "    }",
        "  }",
        "  /* 4. epilogue: round to the output dtype and store */",
        *_store_lines(plan),
        "}",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["CONFIGS", "MAX_SHARED", "MatrixView", "NotTiled", "TileConfig", "TileMatmul", "plan_tile_matmul",
           "render_tile_matmul", "tile_matmul", "why_not_tiled"]
