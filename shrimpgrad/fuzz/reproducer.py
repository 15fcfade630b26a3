"""A failing program as a standalone script: numpy and shrimpgrad, the program's lines, the check that failed.

    python fuzz-repro/wrong_value-C-float-value-1a2b3c4d.py     # exits 1 while the bug is there

The script builds the program on each device, compares the outputs with stage 01's evaluator on the
program's graph (the same oracle the fuzzer used), and for backward() programs compares the gradient
with central finite differences. It is written to become a regression test with few edits.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from pathlib import Path

from shrimpgrad.fuzz.check import Outcome
from shrimpgrad.fuzz.programs import Program

_TEMPLATE = '''\
"""Found by `python -m shrimpgrad.fuzz --seed {seed}` ({family} program).

{category}: {kind}
{detail}
"""

import sys

import numpy as np

from shrimpgrad import Tensor, dtypes  # noqa: F401 - dtypes is used by some programs
from shrimpgrad.graph import Ops, evaluate
from shrimpgrad.realize import buffer_value

DEVICES = {devices!r}
EXACT = {exact!r}  # outputs whose bits every device must reproduce


def program(DEVICE, shift=None):
    """The program; `shift` adds h * direction to the inputs (finite differences)."""
    shift = shift or {{}}
{inputs}
{lines}
    return [{outputs}], [{grad_inputs}]


def reference(outputs):
    """Stage 01's numpy evaluator on the outputs' (unrealized) graph."""
    roots = [o.node for o in outputs]
    leaves = {{n.arg for r in roots for n in r.toposort() if n.op is Ops.BUFFER}}
    return evaluate(roots, {{ref: np.array(buffer_value(ref)) for ref in leaves}})


def loss(outputs):
    terms = [(o * Tensor(np.cos(np.arange(o.numel()) * 1.7 + 0.3).reshape(o.shape), device=o.device)).sum()
             for o in outputs if o.dtype.is_float]
    return sum(terms[1:], terms[0])


failed = False
expected = reference(program("C")[0])
for device in DEVICES:
    outputs, grad_inputs = program(device)
    for k, (out, want) in enumerate(zip(outputs, expected)):
        got = out.numpy()
        same = got.shape == want.shape and got.dtype == want.dtype and (
            np.array_equal(got, want, equal_nan=True) if k in EXACT or want.dtype.kind != "f" else
            np.allclose(got, want, rtol=1e-3, atol=1e-3, equal_nan=True))
        if not same:
            failed = True
            print(f"{{device}} output {{k}}: got {{got.dtype}} {{got.shape}}\\n{{got}}")
            print(f"expected {{want.dtype}} {{want.shape}}\\n{{want}}")
    if {backward} and grad_inputs:
        loss(outputs).backward()
        rng = np.random.default_rng(0)
        direction = [rng.standard_normal(t.shape) for t in grad_inputs]
        analytic = sum(float(((t.grad.numpy() if t.grad is not None else 0) * d).sum())
                       for t, d in zip(grad_inputs, direction))
        h = 1e-6
        names = {grad_names!r}
        f = lambda s: loss(program("C", {{k: s * d for k, d in zip(names, direction)}})[0]).item()  # noqa: E731
        numeric = (f(h) - f(-h)) / (2 * h)
        if not abs(numeric - analytic) <= 1e-5 * (1 + abs(numeric)):
            failed = True
            print(f"{{device}} gradient: backward() gives {{analytic}}, finite differences {{numeric}}")
print("FAILED" if failed else "ok")
sys.exit(1 if failed else 0)
'''


def render(program: Program, outcome: Outcome, devices: tuple[str, ...], seed: int) -> str:
    inputs = []
    for i in program.inputs:
        flat, dt, shape = i.values.reshape(-1).tolist(), i.values.dtype.name, i.values.shape
        values = f"np.array({flat!r}, dtype='{dt}').reshape({shape!r})"
        values = "\n".join(textwrap.wrap(values, 110, subsequent_indent="        ", break_long_words=False))
        rg = f" + shift.get({i.name!r}, 0), device=DEVICE, requires_grad=True" if i.requires_grad else ", device=DEVICE"
        inputs.append(f"    {i.name} = Tensor({values}{rg})")
    grad_names = [i.name for i in program.inputs if i.requires_grad and program.backward]
    detail = "\n".join(textwrap.wrap(outcome.detail.splitlines()[0] if outcome.detail else "", 110))
    return _TEMPLATE.format(
        seed=seed, family=program.family, category=outcome.category, kind=outcome.kind, detail=detail,
        devices=tuple(devices), exact=[k for k, o in enumerate(program.outputs) if o.exact],
        inputs="\n".join(inputs), lines=textwrap.indent(program.source(), "    "),
        outputs=", ".join(o.name for o in program.outputs), grad_inputs=", ".join(grad_names),
        backward=program.backward, grad_names=grad_names)


def write_reproducer(program: Program, outcome: Outcome, devices: tuple[str, ...], folder: Path, seed: int) -> Path:
    source = render(program, outcome, devices, seed)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{outcome.category} {outcome.kind}").strip("-")[:60]
    path = Path(folder) / f"{slug}-{hashlib.sha256(source.encode()).hexdigest()[:8]}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path

