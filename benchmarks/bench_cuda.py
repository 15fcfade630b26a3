"""Stage 05 on the GPU: each workload's one kernel under every opts policy, against the C device on this machine.

    python benchmarks/bench_cuda.py            (needs an NVIDIA GPU; `make test-cuda` checks the values)

For each workload: the median time of a launch + synchronize (CUDAProgram's own timer, so ~10 us of launch
overhead is included) per policy, the bandwidth or FLOP rate that is, the same kernel on device C (compiled
with its own opts, OpenMP on every core), and NVRTC's compile time. Values are checked against numpy first.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from shrimpgrad import Tensor
from shrimpgrad.c import CProgram
from shrimpgrad.cuda import POLICIES, CUDAAllocator, CUDAProgram, choose_opts, device_limits, driver_version
from shrimpgrad.cuda.compiler import nvrtc_version
from shrimpgrad.devices import Device
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule


def workloads():
    rng = np.random.default_rng(0)
    big = rng.standard_normal(1 << 24).astype(np.float32)
    sq = rng.standard_normal((4096, 4096)).astype(np.float32)
    a, b = (rng.standard_normal((1024, 1024)).astype(np.float32) for _ in range(2))
    odd = rng.standard_normal(1_000_003).astype(np.float32)
    # name, build(Tensors), inputs, numpy reference, bytes moved, flops
    return [
        ("add 16M", lambda x, y: x + y, [big, big[::-1].copy()], lambda x, y: x + y, 3 * big.nbytes, big.size),
        ("relu*2 1M+3 (prime)", lambda x: (x * 2).relu(), [odd], lambda x: np.maximum(x * 2, 0), 2 * odd.nbytes,
         odd.size),
        ("rows sum 4096x4096", lambda x: x.sum(axis=1), [sq], lambda x: x.sum(axis=1), sq.nbytes, sq.size),
        ("cols sum 4096x4096", lambda x: x.sum(axis=0), [sq], lambda x: x.sum(axis=0), sq.nbytes, sq.size),
        ("full sum 16M", lambda x: x.sum(), [big], lambda x: x.sum(dtype=np.float64), big.nbytes, big.size),
        ("matmul 1024^3", lambda x, y: x @ y, [a, b], lambda x, y: x @ y, 3 * a.nbytes, 2 * 1024**3),
    ]


def kernel_and_buffers(build, inputs):
    tensors = [Tensor(v) for v in inputs]
    values = {t.node.arg: v.reshape(-1) for t, v in zip(tensors, inputs)}
    (kernel,) = create_schedule([build(*tensors).node]).kernels
    return kernel, values


def median(fn, repeat=10):
    fn()
    return statistics.median(fn() for _ in range(repeat))


def main() -> None:
    limits = device_limits()
    print(f"{limits.name}, {limits.sm_count} SMs; driver CUDA {driver_version()}; {nvrtc_version()}; "
          f"C on {os.cpu_count()} cores")
    alloc = CUDAAllocator()
    rows = []
    for name, build, inputs, reference, nbytes, flops in workloads():
        kernel, values = kernel_and_buffers(build, inputs)
        want = np.asarray(reference(*inputs)).reshape(-1)
        out_ref = kernel.bufs[0]
        ptrs = [alloc.alloc(max(r.size * r.dtype.itemsize, 1)) for r in kernel.bufs]
        for r, p in zip(kernel.bufs[1:], ptrs[1:]):
            alloc.copyin(p, values[r])
        cells = []
        for policy in POLICIES:
            opts = choose_opts(kernel, policy, limits)
            start = time.perf_counter()
            prog = CUDAProgram(linearize(kernel, opts, gpu=True))
            compile_s = time.perf_counter() - start
            seconds = median(lambda prog=prog, ptrs=ptrs: prog(ptrs))
            got = np.empty(out_ref.size, np.float32)
            alloc.copyout(got, ptrs[0])
            scale = float(np.abs(inputs[0]).sum()) / want.size  # the size of what each output adds up
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name} ({policy})")
            cells.append((policy, seconds, compile_s, prog.launch))
        host = [np.zeros(out_ref.size, np.float32), *(values[r] for r in kernel.bufs[1:])]
        cprog = CProgram(linearize(kernel, Device["C"].opts(kernel)))
        c_seconds = median(lambda cprog=cprog, host=host: cprog(host), repeat=3)
        for r in ptrs:
            alloc.free(r)
        rows.append((name, nbytes, flops, cells, c_seconds))
    print(f"{'workload':<22} {'policy':<10} {'ms':>9} {'GB/s':>8} {'GFLOP/s':>9} {'NVRTC+load ms':>14}  launch")
    for name, nbytes, flops, cells, c_seconds in rows:
        for policy, s, compile_s, launch in cells:
            print(f"{name:<22} {policy:<10} {s * 1e3:9.3f} {nbytes / s / 1e9:8.1f} {flops / s / 1e9:9.1f} "
                  f"{compile_s * 1e3:14.1f}  {launch}")
        print(f"{name:<22} {'C device':<10} {c_seconds * 1e3:9.3f} {nbytes / c_seconds / 1e9:8.1f} "
              f"{flops / c_seconds / 1e9:9.1f}")


if __name__ == "__main__":
    main()
