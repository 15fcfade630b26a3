"""Batched launches (shrimpgrad/batched.py): a TinyJit replay or a cached plan run as one C call computes, counts
and leaves in memory exactly what running its kernels one by one does; SHRIMPGRAD_C_BATCH=0 switches it off."""

import numpy as np

from shrimpgrad import GlobalCounters, Tensor, TinyJit, batched
from shrimpgrad.nn.optim import SGD
from shrimpgrad.realize import _storage

RNG = np.random.default_rng(0)
X = [RNG.standard_normal((32, 16)).astype(np.float32) for _ in range(6)]
Y = [RNG.integers(0, 5, 32).astype(np.int32) for _ in range(6)]


def _train(batch_on: bool, monkeypatch):
    """Six TinyJit SGD steps of a 16 -> 24 -> 5 MLP: the losses, the weights and what each replay counted."""
    monkeypatch.setenv(batched.BATCH_ENV, "1" if batch_on else "0")
    w1 = Tensor(np.linspace(-1, 1, 16 * 24, dtype=np.float32).reshape(16, 24), requires_grad=True)
    w2 = Tensor(np.linspace(1, -1, 24 * 5, dtype=np.float32).reshape(24, 5), requires_grad=True)
    opt = SGD([w1, w2], lr=0.1)

    @TinyJit
    def step(x, y):
        opt.zero_grad()
        loss = (x @ w1).relu().matmul(w2).sparse_categorical_crossentropy(y)
        loss.backward()
        opt.step()
        return loss

    losses, counts = [], []
    with Tensor.train():
        for x, y in zip(X, Y):
            GlobalCounters.reset()
            losses.append(step(Tensor(x), Tensor(y)).numpy())
            counts.append((GlobalCounters.kernel_count, GlobalCounters.global_ops, GlobalCounters.global_mem))
    return np.array(losses), w1.numpy(), w2.numpy(), counts, step


def test_a_batched_replay_is_bit_identical_and_counts_the_same(device, monkeypatch):
    on, off = _train(True, monkeypatch), _train(False, monkeypatch)
    for a, b in zip(on[:3], off[:3]):
        np.testing.assert_array_equal(a, b)
    assert on[3] == off[3]
    assert off[4].batches == []
    if device == "C":  # the replays from the second on run as one call; kernels have temporaries in its arena
        (batch,) = on[4].batches
        assert len(batch) == len(on[4].kernels) and batch.offsets and batch.arena_bytes > 0
        assert batch.source.count("kernel[") == len(batch) + 1
    else:
        assert on[4].batches == []


def test_a_cached_plan_run_again_is_batched_with_the_same_results(device, monkeypatch):
    a = Tensor(RNG.standard_normal((8, 8)).astype(np.float32))
    b = Tensor(RNG.standard_normal((8, 8)).astype(np.float32))
    want = (a.numpy() @ b.numpy()).sum(axis=1) + np.exp(a.numpy()).max(axis=0)
    for batch_on in ("1", "0", "1"):
        monkeypatch.setenv(batched.BATCH_ENV, batch_on)
        for _ in range(3):  # the same graph each time: the schedule cache's plan, batched from its second run
            got = ((a @ b).sum(axis=1) + a.exp().max(axis=0)).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_replay_leaves_the_same_buffers_alive(device, monkeypatch):
    """The temporaries go (the arena back to the pool), the outputs stay: as many live buffers either way."""
    alive = []
    for batch_on in (True, False):
        *_, step = _train(batch_on, monkeypatch)
        with Tensor.train():
            before = len(_storage)
            loss = step(Tensor(X[0]), Tensor(Y[0]))
            alive.append(len(_storage) - before)
            del loss
    assert alive[0] == alive[1]


def test_why_not_names_the_reason(device, monkeypatch):
    from shrimpgrad.realize import SlotKernel

    class Item:  # just what why_not reads
        def __init__(self, name, device):
            self.kernel, self.device = type("K", (), {"name": name})(), device
            self.runner = type("R", (), {"run": object()})()
    kernels = [SlotKernel(Item("E_1", "PYTHON"), (0, 1), (0,), ()), SlotKernel(Item("E_2", "PYTHON"), (1, 0), (), ())]
    assert batched.why_not(kernels) == "kernel E_1 runs on PYTHON, not C"
    assert batched.why_not(kernels[:1]) == "a single kernel (nothing to batch)"
    monkeypatch.setenv(batched.BATCH_ENV, "0")
    assert batched.why_not(kernels) == "SHRIMPGRAD_C_BATCH=0"
