"""Property tests: scheduling never changes a result, and every schedule is well formed."""

from graph_strategies import graphs, int_graphs
from hypothesis import given
from schedule_strategies import assign_graphs, check_against_evaluator, scheduled_graphs

from shrimpgrad.schedule import KOps


@given(scheduled_graphs())
def test_schedule_matches_the_graph_evaluator(case):
    roots, buffers = case
    check_against_evaluator(roots, buffers)


@given(graphs())
def test_shared_random_float_graphs_match_the_graph_evaluator(case):
    check_against_evaluator(*case)


@given(int_graphs())
def test_shared_random_int_graphs_match_the_graph_evaluator(case):
    check_against_evaluator(*case)


@given(assign_graphs())
def test_assign_orders_reads_before_writes(case):
    roots, buffers = case
    check_against_evaluator(roots, buffers)


@given(scheduled_graphs())
def test_every_buffer_is_written_before_it_is_read(case):
    roots, _ = case
    s = check_against_evaluator(*case)
    written = {id(b.buf) for b in s.buffers if b.kind in ("input", "assigned")}
    for k in s.kernels:
        for n in k.ast.toposort():
            if n.op is KOps.LOAD:
                assert id(k.bufs[n.arg[0]]) in written or k.bufs[n.arg[0]].size == 0, f"{k.name} reads too early"
        written.update(id(b) for b in k.outputs)


@given(scheduled_graphs())
def test_no_kernel_without_a_recorded_reason(case):
    s = check_against_evaluator(*case)
    for k in s.kernels:
        rule, _, reason = k.reason.partition(": ")
        assert rule and reason, k
