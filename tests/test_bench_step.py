"""bench_step.py's smoke run: every part it times is really called by the W6 step (a renamed function would leave its
row at 0 ms, silently), and its provenance switch does what it says and restores it. No time is asserted: machines
are noisy."""

import importlib.util
import pathlib
import sys

import shrimpgrad.graph.autograd as autograd

_BENCH = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_step.py"
_spec = importlib.util.spec_from_file_location("bench_step", _BENCH)
bench_step = importlib.util.module_from_spec(_spec)
sys.modules["bench_step"] = bench_step
_spec.loader.exec_module(bench_step)


def test_every_timed_part_runs_in_the_step():
    rows = dict(bench_step.phases(steps=2, rounds=1))
    assert set(rows) == {"step (median)", *(label for label, _, _ in bench_step.PHASES)}
    assert all(ms > 0 for ms in rows.values()), rows


def test_the_provenance_switch_turns_autograd_labels_off_and_back_on():
    from shrimpgrad import Tensor

    def labels() -> set:
        x = Tensor([1.0, 2.0], requires_grad=True)
        (g,) = (x * x).sum().gradient(x)
        return {n.meta is not None for n in g.node.toposort() if n.op.name != "BUFFER"}

    try:
        bench_step.provenance(False)
        assert labels() == {False}
    finally:
        bench_step.provenance(True)
    assert labels() == {True}
    assert autograd._backward_provenance.__name__ == "_backward_provenance"


def test_the_overhead_table_runs_every_row():
    rows = dict(bench_step.overhead(calls=20, rounds=1))
    assert len(rows) == 5 and all(us > 0 for us in rows.values()), rows
    assert any(label.startswith("  in its 17 kernels") for label in rows), rows  # the W6 step's kernels
