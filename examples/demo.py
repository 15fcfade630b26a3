"""The README's demo: the seed example run exactly as written, then every stage it goes through.

    make demo        (or: .venv/bin/python examples/demo.py)

1. graph     the lazy graph the Tensor calls built (nothing has run yet)
2. schedule  the kernels that graph becomes, and why each kernel boundary is where it is
3. UOps      one kernel, linearized into loops and index arithmetic
4. C         that kernel as C source, compiled and run
5. values    the results, and what ran (GlobalCounters)
6. training  an MLP trained on the digits with TinyJit (examples/digits_mlp.py), its test accuracy
7. a kernel  one of its training kernels (a matmul) at every stage: Python lines, AST, UOps, C
"""

import time

import digits
from digits_mlp import MLP
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.c import CProgram, print_source
from shrimpgrad.c.viz import STAGE_HEADER
from shrimpgrad.graph import print_graph
from shrimpgrad.linearize import linearize
from shrimpgrad.linearize.viz import format_program, print_program
from shrimpgrad.nn.optim import Adam
from shrimpgrad.nn.state import get_parameters
from shrimpgrad.schedule import create_schedule, format_kernel, print_schedule

console = Console(width=max(Console().width, 120))  # the schedule table wants room


def windows(lines: list[str], marker: str, head: int = 8, body: int = 14, tail: int = 6) -> list[tuple[int, int]]:
    """Which lines of a long dump to show (1-based, inclusive): its start, the reduce loop's start (the first line
    holding `marker`) and its end; all of a short one."""
    n = len(lines)
    if n <= head + body + tail + 3:
        return [(1, n)]
    loop = next((i + 1 for i, line in enumerate(lines) if marker in line), head + 1)
    spans = [(1, head), (max(loop, head + 1), min(loop + body - 1, n - tail)), (n - tail + 1, n)]
    return [(a, b) for a, b in spans if a <= b]


def show_windows(lines: list[str], marker: str, show, between: str) -> None:
    """Print the windows of `lines` with `show(first, last)`, and a line saying what each gap leaves out."""
    last = 0
    for first, end in windows(lines, marker):
        if first > last + 1:
            console.print(f"      ... {first - last - 1} lines: {between} ...", markup=False, highlight=False)
        show(first, end)
        last = end


# The seed example, exactly as written: every line only builds graph nodes.
x = Tensor.ones((2, 2))
y = Tensor.zeros((2, 2))
z = x.dot(y)
z.backward()  # z is not a scalar: the gradient is seeded with ones (the gradient of z.sum())

console.rule("[bold]1. graph[/bold]: z = x.dot(y) (stage 01, before anything runs)")
print_graph(z.node, console)
console.rule("[bold]   graph[/bold]: x.grad, built by stage 01's autograd pass")
print_graph(x.grad.node, console)

console.rule("[bold]2. schedule[/bold]: the kernels that compute z, x.grad and y.grad (stage 02)")
schedule = create_schedule([z.node, x.grad.node, y.grad.node])
print_schedule(schedule, console=console)

kernel = schedule.kernels[-1]
program = linearize(kernel)
console.rule(f"[bold]3. UOps[/bold]: kernel {kernel.name} linearized (stage 03)")
print_program(program, console)

console.rule(f"[bold]4. C[/bold]: kernel {kernel.name} rendered, compiled and cached (stage 04)")
compiled = CProgram(program)
print_source(compiled.source, console)
console.print(f"binary: {compiled.origin} (cache key {compiled.key[:16]}...)")

console.rule("[bold]5. values[/bold]: realizing runs the whole pipeline")
GlobalCounters.reset()
Tensor.realize(z, x.grad, y.grad)
print("z      =", z.numpy().tolist())
print("x.grad =", x.grad.numpy().tolist(), " (ones @ y.T)")
print("y.grad =", y.grad.numpy().tolist(), " (x.T @ ones)")
print(f"ran {GlobalCounters.kernel_count} kernels, {GlobalCounters.global_ops} FLOPs, "
      f"{GlobalCounters.global_mem} bytes moved; compiled {GlobalCounters.compile_count} new kernels")

# Then a real model: the digits MLP trained with TinyJit (examples/digits_mlp.py), and one of its training
# kernels, the first layer's matmul, at every stage.
console.rule("[bold]6. training[/bold]: an MLP on scikit-learn's digits, the step captured by TinyJit")
data = digits.load()
Tensor.manual_seed(0)
model = MLP()
step = digits.make_step(model, Adam(get_parameters(model), lr=3e-3))
start = time.perf_counter()
losses = digits.train(step, data, epochs=12, batch_size=64)
print(f"{len(losses)} steps in {time.perf_counter() - start:.1f} s; the JIT replays {len(step.kernels)} kernels a step")
print(f"test accuracy: {100 * digits.test_accuracy(model, data):.1f}%")

item = next(i for i in step.kernels if len(i.kernel.full_shape) == 3 and i.kernel.reduce_axes)  # a matmul
console.rule(f"[bold]7. one training kernel[/bold], {item.kernel.name}: the Python lines (graph) it computes")
for line in dict.fromkeys(item.kernel.meta):
    console.print(f"  {line}", markup=False, highlight=False)
console.rule("[bold]   schedule[/bold]: the kernel's AST (stage 02)")
console.print(format_kernel(item.kernel), markup=False, highlight=False)
# The CPU opts made this kernel an 8x16 register block (UPCAST): 128 accumulators, each with its own load-multiply-
# add, so its UOps and C are ~1000 lines repeating one pattern: show the start, the reduce loop's start and the end.
REPEATS = "more of the same, for the 128 accumulators of the UPCAST register block"
console.rule("[bold]   UOps[/bold] (stage 03)")
dump = format_program(item.runner.program).splitlines()
show_windows(dump, "REDUCE", lambda a, b: console.print("\n".join(dump[a - 1:b]), markup=False, highlight=False),
             REPEATS)
console.rule("[bold]   C[/bold] (stage 04)")
console.print(Text(STAGE_HEADER, style="dim"))
source = item.runner.source
show_windows(source.splitlines(), "// RANGE REDUCE", lambda a, b: console.print(
    Syntax(source, "c", line_numbers=True, line_range=(a, b), theme="ansi_dark")), REPEATS)  # real line numbers
console.print(f"(the whole kernel: DEBUG=4, or `python -m shrimpgrad explain examples/digits_mlp.py --kernel "
              f"{item.kernel.name}`)", markup=False, highlight=False)
