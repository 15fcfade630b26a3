"""The README's demo: the seed example run exactly as written, then every stage it goes through.

    make demo        (or: .venv/bin/python examples/demo.py)

1. graph     the lazy graph the Tensor calls built (nothing has run yet)
2. schedule  the kernels that graph becomes, and why each kernel boundary is where it is
3. UOps      one kernel, linearized into loops and index arithmetic
4. C         that kernel as C source, compiled and run
5. values    the results, and what ran (GlobalCounters)
"""

from rich.console import Console

from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.c import CProgram, print_source
from shrimpgrad.graph import print_graph
from shrimpgrad.linearize import linearize
from shrimpgrad.linearize.viz import print_program
from shrimpgrad.schedule import create_schedule, print_schedule

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

# A little more: a two-layer MLP's loss and gradients, with one line per kernel (like DEBUG=1).
console.rule("[bold]bonus[/bold]: an MLP training step's kernels")
Tensor.manual_seed(0)
inputs, labels = Tensor.randn(16, 8), Tensor.randint(16, high=4)
w1, w2 = Tensor.randn(8, 32, requires_grad=True), Tensor.randn(32, 4, requires_grad=True)
loss = inputs.dot(w1).relu().dot(w2).sparse_categorical_crossentropy(labels)
loss.backward()
print_schedule(create_schedule([loss.node, w1.grad.node, w2.grad.node]), console=console)
print(f"loss = {loss.item():.4f}")
