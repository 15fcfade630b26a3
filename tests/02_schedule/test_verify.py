"""Verify errors: one base for every stage, and VERIFY=1 checking both boundaries of create_schedule."""

import dataclasses

import pytest
from schedule_programs import inp, softmax_graph

import shrimpgrad.schedule.schedule as schedule_module
from shrimpgrad.graph import GraphError, InvariantError, Node, Ops, VerifyError, dtypes
from shrimpgrad.schedule import KernelError, create_schedule, format_schedule, verify

F32 = dtypes.float32


def test_every_stage_verify_error_has_one_base():
    assert issubclass(VerifyError, InvariantError) and issubclass(VerifyError, GraphError)
    assert issubclass(KernelError, InvariantError)
    assert issubclass(InvariantError, ValueError)


def test_a_broken_kernel_raises_the_shared_base():
    x = inp((4, 8), {})
    k = create_schedule([softmax_graph(x)]).kernels[0]
    broken = dataclasses.replace(k, n_outputs=2)  # one STORE, but it claims two outputs
    with pytest.raises(InvariantError, match="1 STOREs but n_outputs=2"):
        verify(broken)


def test_verify_1_checks_the_graph_coming_in(monkeypatch):
    x = inp((2, 3), {})
    bad = Node(Ops.NEG, (x,), F32, (3, 2))  # built by hand: NEG of a (2, 3) value claims (3, 2)
    monkeypatch.setenv("VERIFY", "1")
    with pytest.raises(VerifyError, match=r"makes shape \(2, 3\).*says shape \(3, 2\)"):
        create_schedule([bad])


def test_verify_1_checks_the_schedule_going_out_and_changes_nothing(monkeypatch):
    x = inp((4, 8), {})
    plain = format_schedule(create_schedule([softmax_graph(x)]))
    checked = []
    monkeypatch.setattr(schedule_module, "verify_schedule", lambda s: checked.append(s) or s)
    assert format_schedule(create_schedule([softmax_graph(x)])) == plain and not checked  # off by default
    monkeypatch.setenv("VERIFY", "1")
    s = create_schedule([softmax_graph(x)])
    assert format_schedule(s) == plain and checked == [s]
    monkeypatch.setenv("VERIFY", "0")
    create_schedule([softmax_graph(x)])
    assert len(checked) == 1
