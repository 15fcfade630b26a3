"""Lazy in-place updates mean what eager code means (shrimpgrad/inplace.py), checked against a numpy model."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shrimpgrad import GlobalCounters, Tensor
from shrimpgrad.tensor import GradError


def test_chained_assign_with_detach_is_eager(device):
    w = Tensor([1.0], device=device)
    for _ in range(3):
        w.assign(w.detach() - 0.1 * (w * 2))
    np.testing.assert_allclose(w.numpy(), [0.8**3], rtol=1e-6)


def test_a_value_defined_before_an_assign_keeps_the_old_contents(device):
    w = Tensor([1.0, 2.0], device=device)
    old = w * 1
    w.assign(w + 1).realize()
    assert old.numpy().tolist() == [1.0, 2.0] and w.numpy().tolist() == [2.0, 3.0]


def test_values_sharing_a_read_of_an_assigned_buffer_all_keep_the_old_contents(device):
    """The readers' search stops at the first read it finds and remembers only whole answers: the second and third
    values reach the old w through the part the first one walked (a search that remembered a half-walked part as
    'no read' would let them see the new contents)."""
    w, other = Tensor([1.0, 2.0], device=device), Tensor([5.0, 6.0], device=device)
    shared = (w * 2).exp2()
    first, second, third = shared + 1, other * (shared + 3), (shared + other).sum()
    w.assign(w + 1).realize()
    expect = 2.0 ** (2 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(first.numpy(), expect + 1)
    np.testing.assert_allclose(second.numpy(), [5.0, 6.0] * (expect + 3))
    np.testing.assert_allclose(third.numpy(), (expect + [5.0, 6.0]).sum())
    assert w.numpy().tolist() == [2.0, 3.0]


def test_a_value_reading_a_buffer_that_a_joining_value_writes_keeps_the_old_contents(device):
    """A joining value (it reads w) writes v too: the values reading v join as well, and v's alias keeps its value."""
    w, v = Tensor([1.0], device=device), Tensor([10.0], device=device)
    v_old, v_alias = v * 1, Tensor(v.node)
    reader = (w + v.assign(v + 1)) * 1  # reads w, and writes v when it is computed
    w.assign(w * 3).realize()
    assert reader.numpy().tolist() == [12.0] and v.numpy().tolist() == [11.0]
    assert v_old.numpy().tolist() == [10.0] and v_alias.numpy().tolist() == [10.0] and w.numpy().tolist() == [3.0]


def test_two_assigns_before_a_realize_both_happen_in_order(device):
    w = Tensor([1.0], device=device)
    w.assign(w + 1)
    mid = w * 10
    w.assign(w * 3)
    assert w.numpy().tolist() == [6.0] and mid.numpy().tolist() == [20.0]


def test_assigns_that_swap_two_tensors_values_match_numpy(device):
    """y's write reads the old x and x's write reads the old y: each kernel must run before the other one's write (a
    cycle of write-after-read orders). Stage 02 copies one old contents first (rule B10) instead of raising."""
    x, y = Tensor([1.0, 2.0], device=device), Tensor([10.0, 20.0], device=device)
    old_y = y * 2
    y.assign(x + 1)
    x.assign(old_y + 1)
    del old_y  # only x's pending write still reads the old y: it is fused into that kernel, not realized on its own
    assert x.numpy().tolist() == [21.0, 41.0] and y.numpy().tolist() == [2.0, 3.0]


def test_five_chained_assigns_on_three_tensors_match_numpy(device):
    """The hypothesis case that found the cycle: t[i].assign(t[j] * c + 1) for (i, j) = (2, 0), (2, 1), (1, 0), (0, 2),
    (2, 0). The second write to t2 replaces the first, so t0's write reads the old t1, and t1's the old t0."""
    tensors = [Tensor(np.full(4, i + 1.0, dtype=np.float32), device=device) for i in range(3)]
    model = [np.full(4, i + 1.0, dtype=np.float32) for i in range(3)]
    for (i, j), c in zip([(2, 0), (2, 1), (1, 0), (0, 2), (2, 0)], np.float32([0.5, -1.5, 2.0, 0.25, 3.0])):
        tensors[i].assign(tensors[j] * c + 1)
        model[i] = model[j] * c + np.float32(1)
    for t, m in zip(tensors, model):
        np.testing.assert_allclose(t.numpy(), m, rtol=1e-6)


def test_a_hand_written_update_of_weights_whose_gradients_read_each_other(device):
    """d(w1*w2)/dw1 reads w2 and d/dw2 reads w1: each lazy update reads the buffer the other overwrites (the same
    cycle as a swap, from a plain gradient step); both updates see the old weights, as in numpy."""
    w1 = Tensor([1.0, 2.0], requires_grad=True, device=device)
    w2 = Tensor([3.0, 4.0], requires_grad=True, device=device)
    (w1 * w2).sum().backward()
    w1.assign(w1.detach() - 0.1 * w1.grad)
    w2.assign(w2.detach() - 0.1 * w2.grad)
    w1.grad = w2.grad = None
    np.testing.assert_allclose(w1.numpy(), [1.0 - 0.3, 2.0 - 0.4], rtol=1e-6)
    np.testing.assert_allclose(w2.numpy(), [3.0 - 0.1, 4.0 - 0.2], rtol=1e-6)


def test_a_swap_under_tinyjit_replays_right(device):
    """The copy that breaks the cycle is one more captured kernel: replays swap the values as the first calls do."""
    from shrimpgrad import TinyJit

    x, y = Tensor([1.0, 2.0], device=device), Tensor([10.0, 20.0], device=device)
    xn, yn = np.float32([1.0, 2.0]), np.float32([10.0, 20.0])

    @TinyJit
    def swap(scale):
        old_y = y * scale
        y.assign(x + 1)
        x.assign(old_y + 1)
        del old_y
        Tensor.realize(x, y)

    for _ in range(4):  # the first calls run and capture, the later ones replay
        swap(Tensor([2.0], device=device))
        xn, yn = yn * 2 + 1, xn + 1
        np.testing.assert_array_equal(x.numpy(), xn)
        np.testing.assert_array_equal(y.numpy(), yn)


def test_an_alias_of_an_assigned_buffer_keeps_its_value(device):
    w = Tensor([1.0, 2.0], device=device)
    alias = Tensor(w.node)  # another Tensor naming the same buffer node (what no-op ops may return)
    w.assign(w * 0).realize()
    assert alias.numpy().tolist() == [1.0, 2.0]


def test_assign_into_a_view_writes_the_viewed_tensor_now(device):
    x = Tensor([0.0, 0.0, 0.0, 0.0], device=device)
    before = x + 0
    x[1:3].assign(Tensor([5.0, 6.0], device=device))
    assert x.numpy().tolist() == [0.0, 5.0, 6.0, 0.0] and before.numpy().tolist() == [0.0] * 4


def test_backward_through_an_overwritten_value_is_a_clear_error(device):
    w = Tensor([1.0, 2.0], requires_grad=True, device=device)
    y = (w * w).realize()
    w.assign(Tensor([0.0, 0.0], device=device)).realize()
    with pytest.raises(GradError, match="overwritten by assign"):
        y.sum().backward()


def test_optimizer_pattern_without_realize_per_step_matches_numpy(device):
    rng = np.random.default_rng(0)
    x, w0 = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((3, 1)).astype(np.float32)
    w, wn = Tensor(w0, requires_grad=True, device=device), w0.copy()
    X = Tensor(x, device=device)
    for _ in range(5):
        loss = (X @ w).square().mean()
        loss.backward()
        w.assign(w.detach() - 0.1 * w.grad)
        w.grad = None
        wn = wn - 0.1 * (2 * x.T @ (x @ wn) / 8)
    np.testing.assert_allclose(w.numpy(), wn, rtol=1e-4, atol=1e-6)


# ---- random interleavings against a numpy model ------------------------------------------------------------

_ops = st.lists(st.tuples(st.sampled_from(["assign", "iadd", "isub_detach", "derive", "realize", "read"]),
                          st.integers(0, 2), st.integers(0, 2), st.floats(-2, 2, allow_nan=False, width=32)),
                min_size=1, max_size=12)


@settings(deadline=None, max_examples=40)
@given(program=_ops)
def test_random_interleavings_match_numpy(device, program):
    tensors = [Tensor(np.full(3, i + 1.0, dtype=np.float32), device=device) for i in range(3)]
    model = [np.full(3, i + 1.0, dtype=np.float32) for i in range(3)]
    derived: list[tuple[Tensor, np.ndarray]] = []
    for op, i, j, c in program:
        c = np.float32(c)
        if op == "assign":
            tensors[i].assign(tensors[j] * c + 1)
            model[i] = model[j] * c + np.float32(1)
        elif op == "iadd":
            tensors[i] += tensors[j]
            model[i] = model[i] + model[j]
        elif op == "isub_detach":
            tensors[i].assign(tensors[i].detach() - c * tensors[j])
            model[i] = model[i] - c * model[j]
        elif op == "derive":
            derived.append((tensors[i] * tensors[j] + c, model[i] * model[j] + c))
        elif op == "realize":
            tensors[i].realize()
        else:
            np.testing.assert_allclose(tensors[i].numpy(), model[i], rtol=1e-5, atol=1e-5)
    for t, m in zip(tensors, model):
        np.testing.assert_allclose(t.numpy(), m, rtol=1e-5, atol=1e-5)
    for t, m in derived:
        np.testing.assert_allclose(t.numpy(), m, rtol=1e-5, atol=1e-5)


def test_step_time_stays_flat_over_50_steps():
    """After a realize the assigned tensor's history is gone: step 50 costs what step 5 costs (a ratio, not a time)."""
    w = Tensor(np.ones((16, 16), dtype=np.float32), requires_grad=True)
    x = Tensor(np.ones((4, 16), dtype=np.float32))
    times, nodes = [], []
    for _ in range(50):
        start = time.perf_counter()
        loss = (x @ w).relu().sum()
        loss.backward()
        w.assign(w.detach() - 0.001 * w.grad)
        w.grad = None
        Tensor.realize(w, loss)
        times.append(time.perf_counter() - start)
        nodes.append(len(w.node.toposort()))
    assert nodes[-1] == nodes[4] == 1
    early, late = np.median(times[3:8]), np.median(times[-5:])
    assert late < 3 * early, (early, late)


def test_a_step_reuses_its_schedule():
    w = Tensor(np.ones(8, dtype=np.float32))
    w.assign(w * 2).realize()
    GlobalCounters.reset()
    for _ in range(3):
        w.assign(w * 2).realize()
    assert GlobalCounters.schedule_hits == 3 and GlobalCounters.schedule_misses == 0
    assert w.numpy().tolist() == [2.0**4] * 8


# ---- devices ------------------------------------------------------------------------------------------------

def test_to_is_a_differentiable_copy():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True, device="C")
    (x.to("PYTHON") * 2).sum().backward()
    assert x.grad.device == "C" and x.grad.numpy().tolist() == [2.0, 2.0]
    y = x.to("PYTHON")
    assert y.device == "PYTHON" and y.node.op.name == "COPY" and y.numpy().tolist() == [1.0, 2.0]


def test_to_cuda_without_a_gpu_is_a_clear_error():
    from shrimpgrad.devices import Device, NoDeviceError

    try:
        Device["CUDA"]
    except NoDeviceError:
        with pytest.raises(RuntimeError, match="no CUDA GPU was found"):
            Tensor([1.0]).to("CUDA")
    else:
        pytest.skip("a CUDA GPU is present")


def test_the_pool_reuses_freed_buffers_but_never_live_ones(device):
    from shrimpgrad.devices import Device

    pool = Device[device].pool  # the tensors below are on the device under test
    keep = [(Tensor(np.full(4096, float(i), dtype=np.float32)) + 1).realize() for i in range(4)]
    for _ in range(5):
        (Tensor(np.zeros(4096, dtype=np.float32)) * 3).realize()
    assert pool.reused > 0
    for i, t in enumerate(keep):  # live tensors' memory was never handed out again
        assert t.numpy().tolist() == [float(i) + 1] * 4096
