"""realize(): nodes become BUFFER nodes, buffers are freed with their last Node, ASSIGN writes in place,
and every node remembers the user's line (Provenance)."""

import gc

import numpy as np
import pytest

from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.graph import Ops, buffer, toposort
from shrimpgrad.realize import _storage, realize, run_graph


def test_realize_replaces_the_node_with_a_buffer_node():
    t = Tensor([1.0, 2.0]) * 3
    assert t.node.op is Ops.MUL
    assert t.realize() is t
    assert t.node.op is Ops.BUFFER and t.shape == (2,)
    node = t.node
    t.realize()
    assert t.node is node  # a BUFFER node is not recomputed
    assert t.tolist() == [3.0, 6.0]


def test_realize_function_returns_buffer_nodes_and_keeps_buffers(device):
    a = Tensor([[1, 2], [3, 4]])
    b = (a + 1).node
    out = realize([a.node, b, b], device)
    assert out[0] is a.node  # already a buffer: unchanged
    assert out[1].op is Ops.BUFFER and out[1].shape == (2, 2) and out[1].arg is out[2].arg  # computed once
    assert out[1].meta == b.meta


def test_batch_realize():
    a, b = Tensor([1.0]) + 1, Tensor([2.0]) * 2
    Tensor.realize(a, b)
    assert a.node.op is Ops.BUFFER and b.node.op is Ops.BUFFER


def test_buffers_are_freed_with_their_last_node():
    t = Tensor(np.zeros(1000))
    ref = t.node.arg
    assert ref in _storage
    count = len(_storage)
    del t, ref
    gc.collect()
    assert len(_storage) == count - 1


def test_assign_writes_into_the_existing_buffer():
    x = Tensor([1.0, 2.0, 3.0])
    ref = x.node.arg
    x.assign(x * 10).realize()
    assert x.node.arg is ref and x.tolist() == [10.0, 20.0, 30.0]
    x += 1
    x.realize()
    assert x.node.arg is ref and x.tolist() == [11.0, 21.0, 31.0]


def test_assign_through_a_view_writes_only_that_part():
    x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    part = x.shrink(((0, 2), (1, 2))).flip(0)
    part.assign(Tensor([[100.0], [200.0]])).realize()
    np.testing.assert_array_equal(x.numpy(), [[0, 200, 2], [3, 100, 5]])


def test_assign_to_an_unrealized_tensor_takes_the_value():
    x = Tensor([1.0]) + 1
    x.assign(Tensor([5.0]))
    assert x.node.op is Ops.BUFFER and x.tolist() == [5.0]


def test_assign_twice_before_realizing_keeps_the_last_value():
    x = Tensor([1.0, 2.0])
    x.assign(x + 1)
    x.assign(x * 10)
    assert x.tolist() == [20.0, 30.0]


def test_run_graph_is_the_seam(device):
    t = Tensor([1.0, 2.0]) + 1
    [ref] = run_graph([t.node], device)
    assert _storage[ref].to_host().tolist() == [2.0, 3.0]
    if device != "CUDA" and not _has_cuda():
        with pytest.raises(RuntimeError, match="no CUDA GPU was found"):
            run_graph([t.node], "CUDA")
    assert buffer(ref, (2,)).op is Ops.BUFFER


def _has_cuda() -> bool:
    from shrimpgrad.devices import Device, NoDeviceError

    try:
        Device["CUDA"]
        return True
    except NoDeviceError:
        return False


def test_global_counters_see_realizes():
    GlobalCounters.reset()
    (Tensor.ones(1000) * 2).realize()
    assert GlobalCounters.global_mem >= 4000 and GlobalCounters.time_sum_s > 0


def test_provenance_is_the_users_line_and_method():
    x = Tensor([1.0, 2.0])
    y = x.exp()  # the line the nodes below must point at
    line = y.node.meta.line
    for node in toposort([y.node]):
        if node.op is not Ops.BUFFER:
            assert node.meta.file == __file__ and node.meta.line == line and node.meta.method == "exp", node
    z = (x * 2).sum()
    assert z.node.meta.method == "sum" and z.node.src[0].meta.method == "sum"
    assert z.node.src[0].src[0].meta.method == "__mul__"


def test_emit_graph_prints_the_graph_being_realized(capsys):
    from shrimpgrad import Context
    with Context(EMIT="graph"):
        (Tensor([1.0, 2.0]) * 2).realize()
    out = capsys.readouterr().out
    assert "stage 01 graph" in out and "MUL" in out and "__mul__" in out


def test_debug_dumps_to_a_pipe_keep_every_schedule_column(capsys, monkeypatch):
    # captured stdout is not a terminal: rich's default 80 columns squeezed the table's last columns to "…"
    from shrimpgrad import Context
    monkeypatch.delenv("COLUMNS", raising=False)
    with Context(EMIT="schedule"):
        (Tensor([1.0, 2.0]) * 2).sum().realize()
    out = capsys.readouterr().out
    assert "FLOPs" in out and "bytes" in out and "fused inside" in out and "why a kernel" in out


def test_an_assign_writes_once_even_when_it_is_in_several_graphs():
    w = Tensor([1.0, 2.0])
    w.assign(w * 10)  # not realized yet
    loss = (w + 1).sum()  # a graph that contains the ASSIGN
    assert loss.item() == 32.0  # runs the ASSIGN: w's buffer now holds [10, 20]
    assert w.tolist() == [10.0, 20.0]  # realizing w must not multiply by 10 again
    assert ((w + 0).sum()).item() == 30.0
    w.assign(w * 10)  # an equal-looking ASSIGN made later is a new write
    assert w.tolist() == [100.0, 200.0]


def test_the_schedule_caches_walk_is_toposorts_order_and_keys_structure_not_buffers():
    """realize walks a graph once (`_structure`): rows in graph.toposort's order, buffers by position, COPY found;
    the same computation on other buffers has the same key, another computation another key."""
    from shrimpgrad.graph.ops import alu, copy
    from shrimpgrad.realize import _structure

    def graph(x):
        y = (x + 1) * x
        return [y.sum(axis=1).node, y.node, (y.exp() - x).node]

    a, b = Tensor(np.ones((3, 4), np.float32)), Tensor(np.zeros((3, 4), np.float32))
    roots = graph(a)
    walk, order = _structure(roots), toposort(roots)
    rows, root_rows = walk.key.rows
    assert [(r[0], r[2]) for r in rows] == [(n.op, n.shape) for n in order]
    assert root_rows == tuple(order.index(r) for r in roots)
    assert walk.bufs == [a.node.arg] and not walk.has_copy
    assert _structure(graph(b)).key == walk.key
    assert _structure([(a * 2).node]).key != walk.key
    assert _structure([alu(Ops.NEG, copy((a + 1).node, "C", "PYTHON"))]).has_copy
    wide = Tensor(np.ones((3, 4), np.float64))  # the same graph on a float64 buffer: another structure
    assert _structure([(wide + 1).node]).key != _structure([(a + 1).node]).key


def test_a_training_step_hits_the_schedule_cache_every_step():
    """opt.step() realizes the parameters with every live tensor that reads them (the loss, each gradient): they
    join in the order they were made, so each step's graph has the same structure. (They joined in memory-address
    order once: with 6 parameters nearly every step was a new structure, scheduled and lowered again.)"""
    from shrimpgrad import nn
    from shrimpgrad.nn.optim import SGD

    rng = np.random.default_rng(0)
    layers = [nn.Linear(8, 8), nn.Linear(8, 6), nn.Linear(6, 3)]
    opt = SGD([p for layer in layers for p in (layer.weight, layer.bias)], lr=0.01)
    x, y = rng.standard_normal((4, 8)).astype(np.float32), np.array([0, 2, 1, 0])
    misses = []
    with Tensor.train():
        for _ in range(12):
            before = GlobalCounters.schedule_misses
            opt.zero_grad()
            h = Tensor(x)
            for layer in layers[:-1]:
                h = layer(h).relu()
            layers[-1](h).sparse_categorical_crossentropy(Tensor(y)).backward()
            opt.step()
            misses.append(GlobalCounters.schedule_misses - before)
    assert sum(misses[2:]) == 0, misses


def test_the_row_fusion_switch_takes_effect_between_realizes(monkeypatch):
    # the schedule cache keys its plans by SHRIMPGRAD_FUSE_ROWS: flipping it in a running program (a notebook cell)
    # schedules the same graph again instead of replaying the plan made under the other setting
    x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4)).realize()
    counts = {}
    for setting in ("1", "0", "1"):
        monkeypatch.setenv("SHRIMPGRAD_FUSE_ROWS", setting)
        before = GlobalCounters.kernel_count
        got = x.softmax(-1).numpy()
        counts.setdefault(setting, []).append(GlobalCounters.kernel_count - before)
        np.testing.assert_allclose(got, np.exp(x.numpy()) / np.exp(x.numpy()).sum(-1, keepdims=True), rtol=1e-6)
    assert counts == {"1": [1, 1], "0": [3]}


def test_the_costly_broadcast_switch_takes_effect_between_realizes(monkeypatch):
    # stage 02's rule B11 stores exp(x) once for the matmul that reads it broadcast; the cache keys plans by its switch
    x = Tensor(np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64)).realize()
    w = Tensor(np.ones((64, 64), np.float32)).realize()
    counts = {}
    for setting in ("1", "0", "1"):
        monkeypatch.setenv("SHRIMPGRAD_STORE_COSTLY_BROADCAST", setting)
        before = GlobalCounters.kernel_count
        got = ((x.exp() / 3) @ w).numpy()
        counts.setdefault(setting, []).append(GlobalCounters.kernel_count - before)
        np.testing.assert_allclose(got, (np.exp(x.numpy()) / 3) @ w.numpy(), rtol=1e-5)
    assert counts == {"1": [2, 2], "0": [1]}


def _counted(fn) -> tuple:
    GlobalCounters.reset()
    fn()
    return GlobalCounters.kernel_count, GlobalCounters.global_ops, GlobalCounters.global_mem


def test_a_quiet_realize_runs_by_slot_like_a_dumped_one(capsys):
    """With no dump on, a realize runs its plan by slot (realize.SlotRun, no ExecItems bound); with DEBUG=1 it binds
    ExecItems and prints them. Same values, same counters, and only the output is left in memory both ways (the
    temporaries between the kernels went back to the pool)."""
    from shrimpgrad.helpers import Context

    x = Tensor(np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32))

    def realized() -> tuple[Tensor, tuple, int]:
        t = ((x - x.max(axis=1, keepdim=True)).exp().sum(axis=1, keepdim=True) * x).sum(axis=0)
        held = len(_storage)
        counts = _counted(t.realize)
        return t, counts, len(_storage) - held

    expected = realized()[0].numpy()  # compiled and cached here
    quiet, quiet_counts, quiet_left = realized()
    with Context(DEBUG=1):
        dumped, dumped_counts, dumped_left = realized()
    assert "***" in capsys.readouterr().out
    assert quiet_counts == dumped_counts and quiet_counts[0] >= 2
    assert quiet_left == dumped_left == 1
    np.testing.assert_array_equal(quiet.numpy(), expected)
    np.testing.assert_array_equal(dumped.numpy(), expected)


def test_the_slot_run_switch_gives_the_same_values_and_counts(monkeypatch):
    """SHRIMPGRAD_SLOT_RUN=0 (realize.SLOT_RUN): quiet runs bind ExecItems as a dumped one does; nothing else
    changes."""
    import shrimpgrad.realize as realize_module

    x = Tensor(np.arange(24, dtype=np.float32).reshape(4, 6))
    results = {}
    for on in (1, 0, 1):
        monkeypatch.setattr(realize_module, "SLOT_RUN", on)
        t = (x.exp() / x.exp().sum(axis=1, keepdim=True)).max(axis=0)
        counts = _counted(t.realize)
        results.setdefault(on, []).append((t.numpy().tolist(), counts))
    assert results[1][0] == results[1][1] == results[0][0]
