"""Run one program every way ShrimpGrad can compute it and say whether they agree.

    check_program(program, devices) -> Outcome(category, detail)

The references are the two numpy evaluators, on the program's unrealized graph: stage 01's `evaluate`
(node by node) and stage 02's `run_schedule_numpy` (kernel by kernel, after fusion). Then the program is
built again from its source on every device and realized. Exact outputs must match bit for bit (NaN
equals NaN); others within a tolerance of their dtype scaled by the output's bound. For programs with
backward(), each device's gradients are compared with central finite differences of the stage-01
evaluator in float64 along two random directions (two step sizes: if those disagree with each other the
loss isn't smooth there, and the check says "inconclusive" rather than guessing).
"""

from __future__ import annotations

import math
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

from shrimpgrad.fuzz.programs import Program, loss_weight, make_inputs, run_lines
from shrimpgrad.graph import Ops, evaluate

CATEGORIES = ("ok", "wrong value", "wrong gradient", "error", "crash", "hang", "inconclusive")
FAILURES = ("wrong value", "wrong gradient", "error", "crash", "hang")


@dataclass
class Outcome:
    category: str
    detail: str = ""
    kind: str = ""  # what failed, without the numbers: failures of one kind are one bug (one reproducer)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.category in FAILURES

    @property
    def signature(self) -> tuple[str, str]:
        return self.category, self.kind


class _Mismatch(Exception):
    def __init__(self, category: str, kind: str, detail: str):
        super().__init__(detail)
        self.category, self.kind, self.detail = category, kind, detail


def check_program(program: Program, devices: tuple[str, ...]) -> Outcome:
    """Classify one program (never raises: an exception from ShrimpGrad is the outcome "error")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notes in the references
            _check(program, devices)
    except _Mismatch as m:
        return Outcome(m.category, m.detail, m.kind)
    except Exception as e:  # noqa: BLE001 - a well-typed program must not raise: report where it did
        frames = traceback.extract_tb(e.__traceback__)
        where = next((f"{f.filename.rsplit('/', 2)[-1]}:{f.name}" for f in reversed(frames)
                      if "/shrimpgrad/" in f.filename and "/fuzz/" not in f.filename), "?")
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-6:])
        return Outcome("error", f"{type(e).__name__}: {e}\n{tb}", f"{type(e).__name__} in {where}")
    return Outcome("ok")


def _check(program: Program, devices: tuple[str, ...]) -> None:
    expected = _references(program)
    for device in devices:
        values, grads = run_on(program, device)
        for out, want, got in zip(program.outputs, expected, values):
            _compare(f"{device} output {out.name}", out, want, got, program.rtol)
        if program.backward:
            _check_gradients(program, device, grads)


def _references(program: Program) -> list[np.ndarray]:
    """Stage 01 and stage 02 evaluators on the program's graph (built lazily on C, never realized)."""
    from shrimpgrad.realize import buffer_value
    from shrimpgrad.schedule import create_schedule, read_outputs, run_schedule_numpy

    env = run_lines(program, make_inputs(program, "C"), "C")
    roots = [env[o.name].node for o in program.outputs]
    leaves = {n.arg for r in roots for n in r.toposort() if n.op is Ops.BUFFER}
    buffers = {ref: np.array(buffer_value(ref)) for ref in leaves}
    stage01 = evaluate(roots, buffers)
    schedule = create_schedule(roots)
    state = {ref: arr.copy() for ref, arr in buffers.items()}
    run_schedule_numpy(schedule, state)
    for out, want, got in zip(program.outputs, stage01, read_outputs(schedule, state)):
        _compare(f"stage 02 evaluator output {out.name}", out, want, got.reshape(want.shape), program.rtol)
    return stage01


def run_on(program: Program, device: str) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The program's outputs on `device`, and the gradient of every input that requires one."""
    inputs = make_inputs(program, device)
    env = run_lines(program, inputs, device)
    outs = [env[o.name] for o in program.outputs]
    outs[0].realize(*outs[1:])
    values = [o.numpy() for o in outs]
    grads = {}
    if program.backward:
        loss(program, env).backward()
        for i in program.inputs:
            if i.requires_grad:
                g = inputs[i.name].grad
                grads[i.name] = np.zeros(i.values.shape) if g is None else g.numpy()
    return values, grads


def loss(program: Program, env: dict):
    """sum over float outputs of (out * loss_weight(out)).sum(): a scalar that mixes every output element."""
    from shrimpgrad import Tensor

    terms = [(env[o.name] * Tensor(loss_weight(env[o.name].shape), device=env[o.name].device)).sum()
             for o in program.outputs if env[o.name].dtype.is_float]
    return sum(terms[1:], terms[0])


def _compare(where: str, out, want: np.ndarray, got: np.ndarray, rtol: float) -> None:
    if got.shape != want.shape or got.dtype != want.dtype:
        raise _Mismatch("wrong value", f"{where.split(' output')[0]}: shape/dtype",
                        f"{where}: got shape {got.shape} {got.dtype}, expected {want.shape} {want.dtype}")
    if out.exact or want.dtype.kind != "f":  # (0.0 == -0.0 here: max(-0.0, 0.0) may pick either zero)
        bad = ~((got == want) | (_isnan(got) & _isnan(want)))
    else:
        with np.errstate(all="ignore"):
            close = np.isclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=rtol * out.bound * 4,
                               equal_nan=True)
        bad = ~close
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise _Mismatch("wrong value", f"{where.split(' output')[0]}: {'exact' if out.exact else 'float'} value",
                        f"{where}: {int(bad.sum())} of {bad.size} elements differ; at {i}: got {got[i]!r}, "
                        f"expected {want[i]!r}{' (exact: must be identical)' if out.exact else ''}")


def _isnan(x: np.ndarray) -> np.ndarray:
    return np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)


# ---- gradients ------------------------------------------------------------------------------------------------

def _check_gradients(program: Program, device: str, grads: dict[str, np.ndarray]) -> None:
    if not grads:
        return
    for name, g in grads.items():
        if not np.isfinite(g).all():
            raise _Mismatch("wrong gradient", f"{device}: non-finite gradient",
                            f"{device}: d loss/d {name} has {int((~np.isfinite(g)).sum())} NaN/inf entries: {g}")
    f = _loss_function(program)
    rng = np.random.default_rng(0)
    for _ in range(2):
        direction = {n: rng.standard_normal(g.shape) for n, g in grads.items()}
        analytic = sum(float((grads[n] * direction[n]).sum()) for n in grads)
        f0, fp, fm = f(direction, 0.0), f(direction, 1e-6), f(direction, -1e-6)
        fd = [(fp - fm) / 2e-6, (f(direction, 1e-5) - f(direction, -1e-5)) / 2e-5]
        scale = 1.0 + abs(f0) + sum(float(np.abs(grads[n] * direction[n]).sum()) for n in grads)
        one_sided = ((fp - f0) / 1e-6, (f0 - fm) / 1e-6)  # differ at a kink (a tie of max, relu at 0), where the
        #                                                  central difference is consistent but means nothing
        if not all(math.isfinite(v) for v in fd) or abs(fd[0] - fd[1]) > 1e-5 * scale or \
                abs(one_sided[0] - one_sided[1]) > 1e-3 * scale:
            raise _Mismatch("inconclusive", "not smooth here",
                            f"finite differences: central {fd}, one-sided {one_sided}: not differentiable here")
        if abs(fd[0] - analytic) > 1e-5 * scale:
            raise _Mismatch("wrong gradient", f"{device}: gradient",
                            f"{device}: directional derivative {analytic!r} from backward(), finite differences "
                            f"{fd[0]!r} (float64, h=1e-6 and 1e-5 agree: {fd[1]!r}); gradients {grads}")


def _loss_function(program: Program):
    """h -> the loss at inputs + h * direction, by the stage-01 evaluator on the loss's graph."""
    from shrimpgrad.realize import buffer_value

    inputs = make_inputs(program, "C")
    root = loss(program, run_lines(program, inputs, "C")).node
    leaves = {n.arg for n in root.toposort() if n.op is Ops.BUFFER}
    base = {ref: np.array(buffer_value(ref)) for ref in leaves}
    refs = {name: t.node.arg for name, t in inputs.items()}

    def f(direction: dict[str, np.ndarray], h: float) -> float:
        buffers = dict(base)
        for name, d in direction.items():
            if refs[name] in buffers:
                buffers[refs[name]] = (base[refs[name]] + h * d.reshape(-1)).astype(base[refs[name]].dtype)
        return float(evaluate(root, buffers))

    return f
