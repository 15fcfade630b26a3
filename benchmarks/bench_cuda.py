"""Stage 05 on the GPU, side by side with torch: the workloads of the GPU performance issue (G1-G6), one process.

    python benchmarks/bench_cuda.py [--markdown FILE]     (needs an NVIDIA GPU and torch with CUDA)

What is timed, and how:
* Ceilings, measured in this run: device-to-device copy bandwidth (torch, 1 GiB, bytes read + written) and
  cuBLAS float16 matmul (torch, 4096^3).
* Kernel time: CUDA events around 20 back-to-back launches (`shrimpgrad.cuda.EventTimer`; torch.cuda.Event for
  torch), the median of 5 such runs, after a warm-up. ShrimpGrad's kernels are exactly those device CUDA builds:
  the schedule of the expression, each kernel linearized with the GPU opts policy (`choose_opts`), rendered,
  NVRTC-compiled, launched by `CUDAProgram.enqueue`.
* Wall time: what a user waits for, from Python: the expression on CUDA Tensors, `.realize()` (which waits for
  its kernels), median of many calls (schedule and runner caches warm).
* Each heuristic rule that shaped a workload's kernels is switched off once (SHRIMPGRAD_CUDA_RULES_OFF; for
  matmul also VECTORIZE, SHRIMPGRAD_CUDA_VECTORIZE=0; for matmul and conv stage 04's FMA rule, as SHRIMPGRAD_FMA=0)
  to show what it is worth. `--only G4,G5` runs only those workloads.
* Values: ShrimpGrad's result is checked against torch's (float64 for matmul and conv) before anything is
  printed; a wrong result stops the benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import time

import numpy as np

from shrimpgrad import Tensor, TinyJit
from shrimpgrad.conv_ops import IM2COL_ENV
from shrimpgrad.cuda import (
    CUDAAllocator,
    CUDAProgram,
    EventTimer,
    choose_opts,
    choose_tile,
    device_limits,
    driver_version,
)
from shrimpgrad.cuda.compiler import nvrtc_version
from shrimpgrad.cuda.opts import RULES_OFF_ENV
from shrimpgrad.cuda.vectorize import VECTORIZE_ENV
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule

REPEAT, TRIALS = 20, 5


def workloads(rng):
    """(id, name, build on Tensors, torch version, inputs, bytes moved at least, flops, rules to switch off, target)."""
    import torch.nn.functional as F

    n26 = 1 << 26
    a, b, c = (rng.standard_normal(n26).astype(np.float32) for _ in range(3))
    sq = rng.standard_normal((8192, 8192)).astype(np.float32)
    ma, mb = (rng.standard_normal((4096, 4096)).astype(np.float32) for _ in range(2))
    x = rng.standard_normal((64, 64, 56, 56)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    conv_flops = 2 * 64 * 64 * 56 * 56 * 64 * 9
    return [
        ("G1", "relu(a*b+c) f32 2^26", lambda p, q, r: (p * q + r).relu(), lambda p, q, r: (p * q + r).relu(),
         [a, b, c], 4 * a.nbytes, 0, ["upcast_elementwise"], ">= 95% of copy"),
        ("G2", "sum() 8192^2 f32", lambda p: p.sum(), lambda p: p.sum(), [sq], sq.nbytes, 0, ["group"],
         ">= 85% of copy"),
        ("G2", "sum(axis=1) 8192^2 f32", lambda p: p.sum(axis=1), lambda p: p.sum(1), [sq], sq.nbytes, 0, ["group"],
         ">= 85% of copy"),
        ("G3", "softmax(-1) 8192^2 f32", lambda p: p.softmax(-1), lambda p: p.softmax(-1), [sq], 2 * sq.nbytes, 0,
         ["upcast_elementwise"], ">= 75% of copy"),
        ("G4", "matmul 4096^3 f32", lambda p, q: p @ q, lambda p, q: p @ q, [ma, mb], 3 * ma.nbytes, 2 * 4096**3,
         ["upcast_outputs", "vectorize", "fma"], ">= 25 TFLOP/s"),
        ("G4", "matmul 4096^3 f16", lambda p, q: p @ q, lambda p, q: p @ q,
         [ma.astype(np.float16), mb.astype(np.float16)], 3 * ma.nbytes // 2, 2 * 4096**3, ["tensor_cores"],
         ">= 330 TFLOP/s"),
        ("G5", "conv2d 64x64x56x56, 3x3 f32", lambda p, q: p.conv2d(q, padding=1),
         lambda p, q: F.conv2d(p, q, padding=1), [x, w], 2 * x.nbytes, conv_flops, ["upcast_outputs", "fma"],
         ">= 50% of torch"),
        ("G5", "conv2d 64x64x56x56, 3x3 f16", lambda p, q: p.conv2d(q, padding=1),
         lambda p, q: F.conv2d(p, q, padding=1), [x.astype(np.float16), w.astype(np.float16)], x.nbytes,
         conv_flops, ["im2col", "tensor_cores"], ">= 50% of torch"),
    ]


class GPUWorkload:
    """One expression's kernels as device CUDA builds them, on device buffers, with their inputs copied in."""

    def __init__(self, build, inputs, alloc: CUDAAllocator):
        tensors = [Tensor(v, device="CUDA") for v in inputs]  # on CUDA: conv2d chooses its graph by device
        values = {t.node.arg: v.reshape(-1) for t, v in zip(tensors, inputs)}
        self.kernels = create_schedule([build(*tensors).node]).kernels
        self.alloc, self.ptr = alloc, {}
        for k in self.kernels:
            for ref in k.bufs:
                if ref not in self.ptr:
                    self.ptr[ref] = alloc.alloc(max(ref.size * ref.dtype.itemsize, 1))
                    if ref in values:
                        alloc.copyin(self.ptr[ref], values[ref])

    def programs(self):
        progs = [program_for(k) for k in self.kernels]
        args = [[self.ptr[b] for b in k.bufs] for k in self.kernels]
        return progs, args

    def output(self) -> np.ndarray:
        ref = self.kernels[-1].bufs[0]
        host = np.empty(ref.size, ref.dtype.np)
        self.alloc.copyout(host, self.ptr[ref])
        return host

    def free(self) -> None:
        for p in self.ptr.values():
            self.alloc.free(p)


def program_for(kernel) -> CUDAProgram:
    """`kernel` as device CUDA builds it: the tensor-core template (rule 5) when it plans one, else the loop nest
    with the GPU opts."""
    tile = choose_tile(kernel)
    return CUDAProgram(linearize(kernel, () if tile else choose_opts(kernel), gpu=True), tile=tile)


def opts_text(kernel) -> str:
    tile = choose_tile(kernel)
    return f"{kernel.name}: " + (f"tensor cores {tile.config}" if tile else
                                 ", ".join(str(o) for o in choose_opts(kernel)) or "none")


@contextlib.contextmanager
def fma_off():
    """CUDA rendered without stage 04's FMA rule, as SHRIMPGRAD_FMA=0 would at import."""
    import shrimpgrad.cuda.dialect as cuda_dialect

    saved = cuda_dialect.CUDA_DIALECT
    cuda_dialect.CUDA_DIALECT = dataclasses.replace(saved, fma=False)
    try:
        yield
    finally:
        cuda_dialect.CUDA_DIALECT = saved


def kernel_seconds(timer: EventTimer, progs, args) -> float:
    def launch_all():
        for p, a in zip(progs, args):
            p.enqueue(a)
    launch_all()
    return statistics.median(timer(launch_all, REPEAT) for _ in range(TRIALS))


def torch_seconds(fn) -> float:
    import torch

    fn()
    torch.cuda.synchronize()
    runs = []
    for _ in range(TRIALS):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(REPEAT):
            fn()
        stop.record()
        stop.synchronize()
        runs.append(start.elapsed_time(stop) / 1e3 / REPEAT)
    return statistics.median(runs)


def wall_seconds(fn, calls: int) -> float:
    for _ in range(3):
        fn()
    runs = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def check(got: np.ndarray, want: np.ndarray, what: str) -> float:
    """The relative error ||got - want|| / ||want||; raises when it is over float32's (float16's) bound."""
    got, want = got.reshape(-1).astype(np.float64), want.reshape(-1).astype(np.float64)
    err = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))
    bound = 1e-2 if what.endswith("f16") else 1e-4
    if not np.isfinite(err) or err > bound:
        raise AssertionError(f"{what}: ShrimpGrad's result is off from torch's by {err:.2e} (relative, > {bound})")
    return err


def measure_ceilings():
    import torch

    x = torch.empty(1 << 28, device="cuda").normal_()
    y = torch.empty_like(x)
    copy = 2 * x.nbytes / torch_seconds(lambda: y.copy_(x))
    x = y = None  # give the 2 GiB back before the next allocation
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
    f16 = 2 * 4096**3 / torch_seconds(lambda: a @ a)
    torch.cuda.empty_cache()
    return copy, f16


def rate(nbytes: int, flops: int, seconds: float, copy: float) -> str:
    if flops:
        return f"{flops / seconds / 1e12:.1f} TFLOP/s"
    return f"{nbytes / seconds / 1e9:.0f} GB/s = {nbytes / seconds / copy * 100:.0f}% of copy"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--only", help="comma-separated workload ids to run (e.g. G4,G5; default: all, G6 too)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    limits = device_limits()
    copy, f16 = measure_ceilings()
    header = (f"{limits.name}, {limits.sm_count} SMs, CUDA driver {driver_version()}, {nvrtc_version()}, "
              f"torch {torch.__version__}; ceilings in this run: copy {copy / 1e9:.0f} GB/s, "
              f"cuBLAS f16 4096^3 {f16 / 1e12:.0f} TFLOP/s")
    print(header, flush=True)
    rng = np.random.default_rng(0)
    alloc, timer = CUDAAllocator(), EventTimer()
    lines = ["| id | workload | torch (kernel) | ShrimpGrad kernel | ShrimpGrad wall (realize) | target | "
             "ShrimpGrad opts (rule off: kernel time) |", "|---|---|---|---|---|---|---|"]
    for wid, name, build, torch_fn, inputs, nbytes, flops, rules, target in workloads(rng):
        if only is not None and wid not in only:
            continue
        t_in = [torch.from_numpy(v).cuda() for v in inputs]
        t_s = torch_seconds(lambda fn=torch_fn, t_in=t_in: fn(*t_in))
        precise = [t.double() for t in t_in] if flops else t_in
        want = torch_fn(*precise).float().cpu().numpy()
        t_in = precise = None
        torch.cuda.empty_cache()
        work = GPUWorkload(build, inputs, alloc)
        progs, kargs = work.programs()
        s = kernel_seconds(timer, progs, kargs)
        err = check(work.output(), want, name)
        opts = "; ".join(opts_text(k) for k in work.kernels)
        offs = []
        if "conv2d" in name and name.endswith("f32"):  # cuDNN rounds float32 inputs to TF32 unless told not to
            torch.backends.cudnn.allow_tf32 = False
            t_in = [torch.from_numpy(v).cuda() for v in inputs]
            strict = torch_seconds(lambda fn=torch_fn, t_in=t_in: fn(*t_in))
            offs.append(f"torch without TF32: {rate(nbytes, flops, strict, copy)}")
            torch.backends.cudnn.allow_tf32 = True
            t_in = None
        for rule in rules:
            if rule == "im2col":  # conv2d's graph itself (conv_ops._as_matmul): the fused kernel instead
                os.environ[IM2COL_ENV] = "0"
                try:
                    fused = GPUWorkload(build, inputs, alloc)
                    p_off, a_off = fused.programs()
                    offs.append(f"im2col off: {kernel_seconds(timer, p_off, a_off) * 1e6:.0f} us")
                    check(fused.output(), want, name)
                    fused.free()
                finally:
                    del os.environ[IM2COL_ENV]
                continue
            if rule == "fma":  # stage 04's FMA rule (SHRIMPGRAD_FMA=0 is read at import: here, the dialect itself)
                with fma_off():
                    p_off, a_off = work.programs()
                offs.append(f"fma off: {kernel_seconds(timer, p_off, a_off) * 1e6:.0f} us")
                check(work.output(), want, name)
                continue
            env, value = (VECTORIZE_ENV, "0") if rule == "vectorize" else (RULES_OFF_ENV, rule)
            os.environ[env] = value
            try:
                p_off, a_off = work.programs()
                offs.append(f"{rule} off: {kernel_seconds(timer, p_off, a_off) * 1e6:.0f} us")
                check(work.output(), want, name)
            finally:
                del os.environ[env]
        work.free()
        on_gpu = [Tensor(v, device="CUDA") for v in inputs]
        wall = wall_seconds(lambda build=build, on_gpu=on_gpu: build(*on_gpu).realize(), 10 if flops else 30)
        on_gpu = None
        row = (f"| {wid} | {name} | {t_s * 1e6:.0f} us, {rate(nbytes, flops, t_s, copy)} | {s * 1e6:.0f} us, "
               f"{rate(nbytes, flops, s, copy)} | {wall * 1e6:.0f} us | {target} | {opts} ({'; '.join(offs)}) |")
        print(row, f"(rel. error vs torch {err:.1e})", flush=True)
        lines.append(row)
    if only is not None and "G6" not in only:
        report(header + "\n\n" + "\n".join(lines) + "\n", args.markdown)
        return
    # G6: one small op from Python, synchronized
    small = np.arange(1024, dtype=np.float32)
    t = Tensor(small, device="CUDA")
    plain = wall_seconds(lambda: (t * 2).realize(), 2000)

    @TinyJit
    def step(x):
        return (x * 2).realize()
    jit = wall_seconds(lambda: step(t), 2000)
    work = GPUWorkload(lambda p: p * 2, [small], alloc)
    (prog,), (pargs,) = work.programs()
    launch_sync = wall_seconds(lambda: prog(pargs), 2000)
    work.free()
    ts = torch.from_numpy(small).cuda()

    def torch_small():
        ts * 2
        torch.cuda.synchronize()
    t_small = wall_seconds(torch_small, 2000)
    row = (f"| G6 | x*2, 1024 f32, from Python, synchronized | {t_small * 1e6:.0f} us (eager + sync) | "
           f"launch + sync {launch_sync * 1e6:.1f} us (CUDAProgram) | plain realize {plain * 1e6:.0f} us; "
           f"TinyJit replay {jit * 1e6:.0f} us | realize <= 100 us; JIT <= 20 us | {prog.name}: "
           f"{', '.join(prog.program.applied_opts) or 'none'} |")
    print(row, flush=True)
    lines.append(row)
    report(header + "\n\n" + "\n".join(lines) + "\n", args.markdown)


def report(text: str, markdown: str | None) -> None:
    """Print the table, and write it to the --markdown file when one is named."""
    print("\n" + text)
    if markdown:
        with open(markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
