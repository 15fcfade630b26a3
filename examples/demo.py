"""The README's demo: the seed example, run exactly as written, then the lazy graphs behind it.

    python examples/demo.py        (or `make demo`)
"""

from rich.console import Console

from shrimpgrad import Tensor
from shrimpgrad.graph import print_graph

console = Console()

# The seed example, exactly as written: nothing is computed yet, every line only builds graph nodes.
x = Tensor.ones((2, 2))
y = Tensor.zeros((2, 2))
z = x.dot(y)
z.backward()  # z is not a scalar: the gradient is seeded with ones (the gradient of z.sum())

console.rule("[bold]forward graph of z = x.dot(y)[/bold] (stage 01, before realizing)")
print_graph(z.node, console)
console.rule("[bold]backward graph of x.grad[/bold] (built by stage 01's autograd pass)")
print_graph(x.grad.node, console)

console.rule("[bold]values[/bold] (realizing runs the graphs)")
print("z      =", z.numpy().tolist())
print("x.grad =", x.grad.numpy().tolist(), " (ones @ y.T)")
print("y.grad =", y.grad.numpy().tolist(), " (x.T @ ones)")
print("z.node after realize:", z.node)

# The README's variant: leaves that ask for gradients explicitly.
a = Tensor.ones((2, 2), requires_grad=True)
b = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
(a @ b).relu().sum().backward()
print("with requires_grad=True:  a.grad =", a.grad.numpy().tolist(), " b.grad =", b.grad.numpy().tolist())
