"""A run of GPU kernels by slot (realize.SlotRun) launches each and waits once, after the last; DEBUG-style runs
(count_each) wait for each. Checked here with a stand-in GPU program that logs its calls, so it runs without a GPU
(make test-cuda runs the real CUDAProgram through the same path)."""

from types import SimpleNamespace

from shrimpgrad import GlobalCounters
from shrimpgrad.graph import BufferRef, dtypes
from shrimpgrad.realize import SlotKernel, SlotRun


class LoggingGPUProgram:
    """What SlotRun uses of a CUDAProgram: enqueue (launch), finish (wait), __call__ (both)."""

    def __init__(self, name: str, log: list):
        self.name, self.log = name, log

    def enqueue(self, handles) -> None:
        self.log.append(f"launch {self.name}")

    def finish(self) -> None:
        self.log.append(f"wait after {self.name}")

    def __call__(self, handles) -> float:
        self.enqueue(handles)
        self.finish()
        return 0.0


def gpu_run(names, log):
    """Kernels each writing a fresh slot from the one before: slot 0 is the input, slot i+1 kernel i's output."""
    kernels = []
    for i, name in enumerate(names):
        item = SimpleNamespace(runner=SimpleNamespace(run=LoggingGPUProgram(name, log), flops=10), device="C",
                               nbytes=4, kernel=SimpleNamespace(name=name))
        kernels.append(SlotKernel(item, (i + 1, i), (i + 1,), ()))
    refs = [BufferRef(4, dtypes.float32) for _ in range(len(names) + 1)]
    return SlotRun(kernels), refs


def held_for(refs):
    from shrimpgrad.realize import Buffer
    return [Buffer(refs[0], "C"), *[None] * (len(refs) - 1)]


def test_a_run_launches_every_kernel_then_waits_once():
    log = []
    run, refs = gpu_run(["A", "B", "C"], log)
    GlobalCounters.reset()
    assert run.run(refs, held_for(refs)) is None
    assert log == ["launch A", "launch B", "launch C", "wait after C"]
    assert (GlobalCounters.kernel_count, GlobalCounters.global_ops, GlobalCounters.global_mem) == (3, 30, 12)


def test_without_waiting_the_caller_finishes_it():
    log = []
    run, refs = gpu_run(["A", "B"], log)
    GlobalCounters.reset()
    pending = run.run(refs, held_for(refs), wait=False)
    assert log == ["launch A", "launch B"] and pending is run.kernels[-1].item.runner.run
    SlotRun.finish(pending)
    assert log[-1] == "wait after B" and GlobalCounters.kernel_count == 2


def test_counting_each_kernel_waits_for_each():
    log = []
    run, refs = gpu_run(["A", "B"], log)
    run.run(refs, held_for(refs), count_each=True)
    assert log == ["launch A", "wait after A", "launch B", "wait after B"]
