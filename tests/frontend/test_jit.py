"""TinyJit: replays are bit-identical to plain calls, never compile, swap inputs, draw new random numbers,
keep value semantics, and refuse what they can't replay (shrimpgrad/jit.py)."""

import numpy as np
import pytest

from shrimpgrad import GlobalCounters, Tensor, TinyJit, nn
from shrimpgrad.helpers import Context
from shrimpgrad.jit import JitError
from shrimpgrad.nn.optim import SGD, Adam
from shrimpgrad.nn.state import get_parameters

RNG = np.random.default_rng(0)
BATCHES = [(RNG.standard_normal((16, 8)).astype(np.float32), RNG.integers(0, 4, 16).astype(np.int32))
           for _ in range(5)]


def _trainer(jit: bool, opt_class=Adam, dropout: float = 0.0, batchnorm: bool = False):
    Tensor.manual_seed(0)
    l1, l2 = nn.Linear(8, 16), nn.Linear(16, 4)
    bn = nn.BatchNorm(16) if batchnorm else None
    layers = [l1, l2] + ([bn] if bn else [])
    opt = opt_class(get_parameters(layers), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        h = l1(x)
        if bn is not None:
            h = bn(h)
        loss = l2(h.relu().dropout(dropout)).sparse_categorical_crossentropy(y)
        loss.backward()
        opt.step()
        return loss

    return (TinyJit(step) if jit else step), layers


def _train(jit: bool, **kw):
    step, layers = _trainer(jit, **kw)
    with Tensor.train():
        losses = [step(Tensor(x), Tensor(y)).item() for x, y in BATCHES]
    return losses, [t.numpy() for t in get_parameters(layers)], step


@pytest.mark.parametrize("opt_class", [SGD, Adam])
def test_replay_is_bit_identical_to_plain_calls(opt_class):
    plain_losses, plain_params, _ = _train(False, opt_class=opt_class)
    jit_losses, jit_params, step = _train(True, opt_class=opt_class)
    assert step.calls == len(BATCHES) and step.kernels  # captured on call 2, replayed on calls 3..5
    assert jit_losses == plain_losses
    assert all(np.array_equal(a, b) for a, b in zip(plain_params, jit_params))


def test_dropout_draws_new_masks_on_replay_like_plain_calls():
    plain_losses, plain_params, _ = _train(False, dropout=0.5)
    jit_losses, jit_params, _ = _train(True, dropout=0.5)
    assert jit_losses == plain_losses
    assert all(np.array_equal(a, b) for a, b in zip(plain_params, jit_params))


def test_batchnorm_running_statistics_are_updated_by_replays():
    _, plain_params, _ = _train(False, batchnorm=True)
    step, layers = _trainer(True, batchnorm=True)
    with Tensor.train():
        for x, y in BATCHES:
            step(Tensor(x), Tensor(y))
    bn = layers[2]
    assert bn.running_mean.numpy().any()
    assert all(np.array_equal(a, b) for a, b in zip(plain_params, [t.numpy() for t in get_parameters(layers)]))


def test_replay_compiles_and_schedules_nothing():
    step, _ = _trainer(True)
    with Tensor.train():
        for x, y in BATCHES[:2]:
            step(Tensor(x), Tensor(y))
        compiles, misses, hits = GlobalCounters.compile_count, GlobalCounters.schedule_misses, \
            GlobalCounters.schedule_hits
        before = GlobalCounters.kernel_count
        step(Tensor(BATCHES[2][0]), Tensor(BATCHES[2][1]))
    assert (GlobalCounters.compile_count, GlobalCounters.schedule_misses, GlobalCounters.schedule_hits) == \
        (compiles, misses, hits)
    assert GlobalCounters.kernel_count - before == len(step.kernels)


def test_outputs_are_new_tensors_and_grads_follow_the_replay():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = SGD([w], lr=0.5)

    @TinyJit
    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        return loss, x * 2

    with Tensor.train():
        outs = [step(Tensor(np.full(3, float(k), np.float32))) for k in range(1, 5)]
    # w = [1,2,3] - 0.5 * (1 + 2 + 3 + 4) = w - 5; loss k = sum(w_k) * k with w_k = w - 0.5 * (1 + ... + (k-1))
    expect_w = np.array([1.0, 2.0, 3.0]) - 5.0
    np.testing.assert_allclose(w.numpy(), expect_w)
    sums = [6.0, 6.0 - 1.5, 6.0 - 4.5, 6.0 - 9.0]
    assert [o[0].item() for o in outs] == pytest.approx([s * k for s, k in zip(sums, range(1, 5))])
    np.testing.assert_array_equal(outs[3][1].numpy(), np.full(3, 8.0))
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 4.0))  # the last replay's gradient


def test_lazy_readers_of_the_weights_keep_the_old_value():
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([w], lr=1.0)

    @TinyJit
    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()

    with Tensor.train():
        step(Tensor([1.0, 1.0]))
        step(Tensor([1.0, 1.0]))
        old = w * 10  # lazy: reads w as it is now
        alias = w.detach()
        step(Tensor([1.0, 1.0]))  # a replay overwrites w
    np.testing.assert_array_equal(old.numpy(), [-10.0, 0.0])
    np.testing.assert_array_equal(alias.numpy(), [-1.0, 0.0])
    np.testing.assert_array_equal(w.numpy(), [-2.0, -1.0])


def test_other_shapes_dtypes_or_arguments_raise_naming_what_changed():
    step = TinyJit(lambda x, scale: (x * scale).realize())
    for _ in range(3):
        step(Tensor(np.ones((2, 3), np.float32)), 2)
    with pytest.raises(JitError, match=r"argument 0 was \(2, 3\) .*float32.* now \(4, 3\)"):
        step(Tensor(np.ones((4, 3), np.float32)), 2)
    with pytest.raises(JitError, match="argument 0 .*now .*int32"):
        step(Tensor(np.ones((2, 3), np.int32)), 2)
    with pytest.raises(JitError, match="argument 1 was 2 when captured, now 3"):
        step(Tensor(np.ones((2, 3), np.float32)), 3)
    np.testing.assert_array_equal(step(Tensor(np.ones((2, 3), np.float32)), 2).numpy(), np.full((2, 3), 2.0))


def test_reading_to_the_host_inside_is_refused():
    step = TinyJit(lambda x: x.sum().item())
    with pytest.raises(JitError, match=r"reads a value to the host \(.numpy\(\), .item\(\)"):
        step(Tensor([1.0, 2.0]))


def test_host_data_that_changes_between_calls_is_refused():
    data = iter([np.ones(3, np.float32), np.zeros(3, np.float32)])
    step = TinyJit(lambda x: (x + Tensor(next(data))).realize())
    step(Tensor([1.0, 2.0, 3.0]))
    with pytest.raises(JitError, match="differed between the first two calls"):
        step(Tensor([1.0, 2.0, 3.0]))


def test_constants_made_inside_are_fine_when_they_do_not_change():
    step = TinyJit(lambda x: (x + Tensor([10.0, 20.0])).realize())
    outs = [step(Tensor([float(k), 0.0])).numpy() for k in range(4)]
    np.testing.assert_array_equal(outs[3], [13.0, 20.0])


def test_replaced_state_is_refused_assign_is_replayed():
    class Counter:
        def __init__(self):
            self.n = Tensor([0.0])

    replaced = Counter()

    def bump(x):
        replaced.n = (replaced.n + x).realize()
        return replaced.n

    step = TinyJit(bump)
    step(Tensor([1.0]))
    with pytest.raises(JitError, match=r"replaced with a new one \(t = t \+ 1\)"):
        step(Tensor([1.0]))

    assigned = Counter()
    step = TinyJit(lambda x: assigned.n.assign(assigned.n + x).realize())
    for _ in range(4):
        step(Tensor([1.0]))
    assert assigned.n.item() == 4.0


def test_index_bounds_are_checked_on_every_replay():
    table = Tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    step = TinyJit(lambda idx: table[idx].realize())
    for _ in range(3):
        np.testing.assert_array_equal(step(Tensor([0, 3])).numpy(), [[0, 1, 2], [9, 10, 11]])
    with pytest.raises(IndexError, match="index 4 is out of range"):
        step(Tensor([0, 4]))


def test_same_buffer_twice_and_not_a_function():
    step = TinyJit(lambda a, b: (a + b).realize())
    x = Tensor([1.0])
    with pytest.raises(JitError, match="argument 0 and argument 1 are the same buffer"):
        step(x, x)
    with pytest.raises(TypeError, match="needs a function"):
        TinyJit(3)


def test_debug_says_captured_and_replayed(capsys):
    step = TinyJit(lambda x: (x + 1).realize())
    with Context(DEBUG=1):
        for _ in range(3):
            step(Tensor([1.0]))
    out = capsys.readouterr().out
    assert "captured 1 kernels" in out and "replayed 1 kernels" in out


def test_a_method_and_reset():
    class Model:
        def __init__(self):
            self.w = Tensor([2.0])

        @TinyJit
        def __call__(self, x):
            return (x * self.w).realize()

    m = Model()
    assert [m(Tensor([float(k)])).item() for k in range(4)] == [0.0, 2.0, 4.0, 6.0]
    Model.__call__.reset()
    assert Model.__call__.kernels == []


def test_training_mode_must_match_the_capture():
    step = TinyJit(lambda x: x.dropout(0.5).realize())
    with Tensor.train():
        for _ in range(3):
            step(Tensor(np.ones(8, np.float32)))
    with pytest.raises(JitError, match="Tensor.training was True when captured, now False"):
        step(Tensor(np.ones(8, np.float32)))


def test_memory_stays_flat_over_many_replays():
    from shrimpgrad.realize import _storage

    step, _ = _trainer(True)
    x, y = BATCHES[0]
    with Tensor.train():
        for _ in range(5):
            step(Tensor(x), Tensor(y))
        held = len(_storage)
        for _ in range(50):
            step(Tensor(x), Tensor(y))
    assert len(_storage) <= held


def test_a_write_left_pending_between_replays_is_done_before_the_replay_reads_it():
    """A replay looks for pending writes only when an assign was made since it last looked: this one was."""
    w = Tensor([1.0, 2.0])
    step = TinyJit(lambda x: (x * w).realize())
    for _ in range(3):
        step(Tensor([1.0, 1.0]))
    w.assign(w + 10)  # lazy: still pending when the replay starts
    np.testing.assert_array_equal(step(Tensor([1.0, 1.0])).numpy(), [11.0, 12.0])
    np.testing.assert_array_equal(step(Tensor([2.0, 2.0])).numpy(), [22.0, 24.0])
    np.testing.assert_array_equal(w.numpy(), [11.0, 12.0])


def test_keyword_and_lazy_arguments_replay_like_plain_calls():
    """The replay's quick argument check (same look as the captured call, every Tensor realized) and its full
    check (anything else) give the same results; a different call still raises."""
    def fn(x, scale, y=None):
        return (x * scale + y).realize()

    step = TinyJit(fn)
    for k in range(4):
        out = step(Tensor([1.0, float(k)]), 2, y=Tensor([0.5, 0.5]))
        np.testing.assert_array_equal(out.numpy(), fn(Tensor([1.0, float(k)]), 2, y=Tensor([0.5, 0.5])).numpy())
    lazy = Tensor([1.0, 2.0]) + 1  # not realized: the full check realizes it first
    np.testing.assert_array_equal(step(lazy, 2, y=Tensor([0.5, 0.5])).numpy(), [4.5, 6.5])
    with pytest.raises(JitError, match="Tensor arguments were"):
        step(Tensor([1.0, 2.0]), 2, Tensor([0.5, 0.5]))  # y by position: another call
    with pytest.raises(JitError, match="argument 1 was 2 when captured, now 2.5"):
        step(Tensor([1.0, 2.0]), 2.5, y=Tensor([0.5, 0.5]))
    assert len(step.kernels) == 1


def _counters() -> tuple:
    return GlobalCounters.kernel_count, GlobalCounters.global_ops, GlobalCounters.global_mem


def test_a_replay_counts_like_a_plain_call(capsys):
    """A replay runs its kernels by slot and adds GlobalCounters up once; the counts are a plain call's. With DEBUG=1
    it counts and prints each kernel as a plain call does."""
    step, _ = _trainer(True)
    plain, _ = _trainer(False)
    x, y = BATCHES[0]
    with Tensor.train():
        for _ in range(3):
            step(Tensor(x), Tensor(y))
            plain(Tensor(x), Tensor(y))
        args = Tensor(x), Tensor(y)
        GlobalCounters.reset()
        step(*args)
        replayed = _counters()
        GlobalCounters.reset()
        plain(*args)
        assert replayed == _counters() and replayed[0] == len(step.kernels)
        capsys.readouterr()
        with Context(DEBUG=1):
            GlobalCounters.reset()
            step(*args)
        assert _counters() == replayed
    assert capsys.readouterr().out.count("*** ") == len(step.kernels)


def test_copies_and_host_constants_inside_are_replayed():
    """A copy between devices (a _Copy step), a constant made from host data (kept) and one random draw (a _Fill
    step drawn again) between the kernels: each replay gives a plain call's value."""
    w = Tensor([1.0, 2.0, 3.0], device="C")

    def fn(x):
        moved = (x * w).to("PYTHON") + Tensor([10.0, 20.0, 30.0], device="PYTHON")
        return (moved * 2).to("C") + Tensor.rand(3, device="C") * 0

    step = TinyJit(fn)
    for k in range(4):
        x = np.full(3, float(k), np.float32)
        np.testing.assert_array_equal(step(Tensor(x, device="C")).numpy(), (x * [1, 2, 3] + [10, 20, 30]) * 2)
    assert step.calls == 4 and len(step.kernels) >= 3
