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

from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.c import CProgram, print_source
from shrimpgrad.graph import print_graph
from shrimpgrad.linearize import linearize
from shrimpgrad.linearize.viz import print_program
from shrimpgrad.nn.optim import Adam
from shrimpgrad.nn.state import get_parameters
from shrimpgrad.schedule import create_schedule, format_kernel, print_schedule

console = Console(width=max(Console().width, 120))  # the schedule table wants room

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
console.rule("[bold]   UOps[/bold] (stage 03)")
print_program(item.runner.program, console)
console.rule("[bold]   C[/bold] (stage 04)")
print_source(item.runner.source, console)
