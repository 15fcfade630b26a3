"""Rule 5's tile configs side by side on the GPU: each TileConfig of stage 05's tensor-core template
(`shrimpgrad.cuda.tensor_cores.CONFIGS`) on float16 and bfloat16 matmuls, against torch (cuBLAS) in the same process.

    python3 benchmarks/bench_tensor_cores.py [--sizes 4096,8192] [--markdown out.md]
    python3 benchmarks/bench_tensor_cores.py --sweep [--sizes 4096]   # every config that fits, best first

Kernel time with CUDA events (median of 5 trials of 20 launches), TFLOP/s, and the relative error of each result
against torch's (both accumulate in float32). The config rule 5 picks (the first that fits: `plan_tile_matmul`) is
marked. Needs a GPU and torch.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os

import numpy as np
from bench_cuda import TRIALS, check, kernel_seconds, report, torch_seconds

from shrimpgrad import Tensor, dtypes
from shrimpgrad.conv_ops import IM2COL_ENV
from shrimpgrad.cuda import CUDAAllocator, CUDAProgram, EventTimer, device_arch, driver_version
from shrimpgrad.cuda.tensor_cores import CONFIGS, NotTiled, TileConfig, TileMatmul, plan_tile_matmul
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule


def bits(values: np.ndarray, dtype) -> np.ndarray:
    """`values` stored as `dtype`, as 16-bit patterns (bfloat16: float32's top half, rounded to nearest even)."""
    if dtype == dtypes.float16:
        return values.astype(np.float16).view(np.uint16)
    u = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def sweep_plans(kernel) -> list[TileMatmul]:
    """`kernel`'s plan with every TileConfig that fits it, with warp tiles from 32x32 to 64x128 (a 64x64 warp tile
    keeps 128 accumulators per thread; larger ones spill registers)."""
    found = []
    for bm, bn, bk, (wm, wn), stages, group in itertools.product(
            (64, 128, 256), (64, 112, 128, 224, 256, 448), (32, 64),  # 7 x 16, 32, 64: n = 56 * 56 (G5)
            ((1, 2), (2, 1), (2, 2), (1, 4), (4, 1), (2, 4), (4, 2), (1, 7), (2, 7)), (2, 3, 4), (1, 8)):
        config = TileConfig(bm, bn, bk, wm, wn, stages, group)
        tm, tn = config.warp_tile
        if 32 * 32 <= tm * tn <= 64 * 128:
            try:
                found.append(plan_tile_matmul(kernel, configs=(config,)))
            except NotTiled:
                continue
    return found


def square_matmul(size: int, dtype):
    """The one kernel of a size^3 matmul of `dtype`s."""
    return create_schedule([(Tensor.empty(size, size, dtype=dtype) @
                             Tensor.empty(size, size, dtype=dtype)).node]).kernels[-1]


def sweep_kernel(name: str):
    """The float16 matmul kernel to sweep: "4096" is 4096^3; "G5" the matmul of bench_cuda's G5 convolution
    (conv2d as im2col + matmul: 64 output channels x 56*56 positions x 64*9, for each of 64 images)."""
    f16 = dtypes.float16
    if name == "G5":
        os.environ[IM2COL_ENV] = "1"  # (this script's own process: its tensors are on device C)
        conv = Tensor.empty(64, 64, 56, 56, dtype=f16).conv2d(Tensor.empty(64, 64, 3, 3, dtype=f16), padding=1)
        return "G5 conv2d's matmul (64 x 64x3136x576) f16", create_schedule([conv.node]).kernels[-1]
    return f"{name}^3 f16", square_matmul(int(name), f16)


def sweep(names, alloc, timer) -> list[str]:
    lines = []
    for name in names:
        label, kernel = sweep_kernel(name)
        plans = sweep_plans(kernel)
        flops = 2 * plans[0].m * plans[0].n * plans[0].k * math.prod(plans[0].batch)
        ptrs = [alloc.alloc(b.size * 2) for b in kernel.bufs]
        rng = np.random.default_rng(5)
        for p, b in zip(ptrs[1:], kernel.bufs[1:]):
            alloc.copyin(p, bits(rng.standard_normal(b.size), dtypes.float16))
        results = []
        for plan in plans:
            prog = CUDAProgram(linearize(kernel, (), gpu=True), tile=plan)
            results.append((flops / kernel_seconds(timer, [prog], [ptrs]) / 1e12, plan.config))
        for p in ptrs:
            alloc.free(p)
        results.sort(key=lambda r: -r[0])
        chosen = plan_tile_matmul(kernel).config
        rank = next((f"#{i + 1}" for i, r in enumerate(results) if r[1] == chosen), "one not swept")
        lines += [f"{label}, {len(results)} configs, best first (rule 5's CONFIGS pick {rank}: {chosen!r}):",
                  *(f"  {tflops:6.1f} TFLOP/s  {config!r}" for tflops, config in results[:15]),
                  f"  ... worst {results[-1][0]:.1f} TFLOP/s", ""]
        print("\n".join(lines[-18:]), flush=True)
    return lines


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,8192", help="square matmul sizes, comma-separated (--sweep: also "
                        "G5, the G5 convolution's matmul)")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--sweep", action="store_true", help="time every config that fits (float16), best first")
    args = parser.parse_args()
    rng, alloc, timer = np.random.default_rng(5), CUDAAllocator(), EventTimer()
    if args.sweep:
        sweep(args.sizes.split(","), alloc, timer)
        return
    header = (f"{torch.cuda.get_device_name()} ({device_arch()}), driver {driver_version()}, torch "
              f"{torch.__version__}; median of {TRIALS} trials")
    lines = [header, "", "| matmul | torch (cuBLAS) | " + " | ".join(str(c) for c in CONFIGS) + " |",
             "|---|---|" + "---|" * len(CONFIGS)]
    print(header, flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        for dtype, tdtype in ((dtypes.float16, torch.float16), (dtypes.bfloat16, torch.bfloat16)):
            name = f"{size}^3 {'f16' if dtype == dtypes.float16 else 'bf16'}"  # check()'s 16-bit bound
            a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
            ta = torch.from_numpy(bits(a, dtype).view(np.int16)).cuda().view(tdtype)
            tb = torch.from_numpy(bits(b, dtype).view(np.int16)).cuda().view(tdtype)
            want = (ta @ tb).float().cpu().numpy()
            flops = 2 * size**3
            cells = [f"{flops / torch_seconds(lambda ta=ta, tb=tb: ta @ tb) / 1e12:.0f} TFLOP/s"]
            kernel = square_matmul(size, dtype)
            chosen = plan_tile_matmul(kernel).config
            ptrs = [alloc.alloc(size * size * 2) for _ in range(3)]
            alloc.copyin(ptrs[1], bits(a, dtype))
            alloc.copyin(ptrs[2], bits(b, dtype))
            for config in CONFIGS:
                plan = plan_tile_matmul(kernel, configs=(config,))
                prog = CUDAProgram(linearize(kernel, (), gpu=True), tile=plan)
                seconds = kernel_seconds(timer, [prog], [ptrs])
                got = np.empty(size * size, np.uint16)
                alloc.copyout(got, ptrs[0])
                got = torch.from_numpy(got.view(np.int16)).view(tdtype).float().numpy()
                err = check(got, want, name)
                mark = " (rule 5)" if config == chosen else ""
                cells.append(f"{flops / seconds / 1e12:.0f} TFLOP/s{mark}, err {err:.0e}")
            for p in ptrs:
                alloc.free(p)
            row = f"| {name} | " + " | ".join(cells) + " |"
            print(row, flush=True)
            lines.append(row)
            torch.cuda.empty_cache()
    report("\n".join(lines) + "\n", args.markdown)


if __name__ == "__main__":
    main()
