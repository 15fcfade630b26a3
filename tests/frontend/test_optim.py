"""shrimpgrad.nn.optim against numpy implementations of the same update rules (PyTorch's formulas), several steps
each; what step() realizes (the loss after step() is the loss the gradients came from; a step is a fixed set of
kernels); and the errors for what an optimizer can't use. Runs on C and PYTHON (tests/frontend/conftest.py)."""

import numpy as np
import pytest

from shrimpgrad import GlobalCounters, Tensor, nn
from shrimpgrad.graph import Ops
from shrimpgrad.nn.optim import LAMB, SGD, Adam, AdamW, OptimizerError
from shrimpgrad.nn.state import get_parameters

RNG = np.random.default_rng(0)
STEPS = 5

# ------------------------------------------------------------------------------------------------
# The problem: a least-squares fit whose gradient numpy computes in closed form
# ------------------------------------------------------------------------------------------------

X = RNG.standard_normal((8, 3)).astype(np.float32)
Y = RNG.standard_normal((8, 2)).astype(np.float32)
W0 = RNG.standard_normal((3, 2)).astype(np.float32)
B0 = RNG.standard_normal(2).astype(np.float32)


def np_loss_and_grads(w, b):
    err = X @ w + b - Y
    return (err**2).mean(), [2 * X.T @ err / err.size, 2 * err.sum(0) / err.size]


def sg_loss(w, b):
    return ((Tensor(X).dot(w) + b - Tensor(Y)) ** 2).mean()


# numpy optimizers: state in dicts, one call per step, updating the arrays in place


def np_sgd(lr, momentum=0.0, weight_decay=0.0, nesterov=False, classic=False):
    bufs = {}

    def step(i, p, g):
        g = g + weight_decay * p
        if classic:
            g = g * lr
        if momentum:
            bufs[i] = momentum * bufs.get(i, np.zeros_like(p)) + g
            g = g + momentum * bufs[i] if nesterov else bufs[i]
        if not classic:
            g = g * lr
        p -= g
    return step


def np_adam(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, lamb=False):
    m, v, t = {}, {}, {0: 0}

    def step(i, p, g):
        if i == 0:
            t[0] += 1
        m[i] = b1 * m.get(i, np.zeros_like(p)) + (1 - b1) * g
        v[i] = b2 * v.get(i, np.zeros_like(p)) + (1 - b2) * g * g
        m_hat, v_hat = m[i] / (1 - b1 ** t[0]), v[i] / (1 - b2 ** t[0])
        up = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p
        if lamb:
            r1, r2 = np.sqrt((p * p).sum()), np.sqrt((up * up).sum())
            up = up * (r1 / r2 if r1 > 0 and r2 > 0 else 1.0)
        p -= lr * up
    return step


def run_both(make_opt, np_step, steps=STEPS, zero_grad=True):
    """`steps` steps of the fit with a ShrimpGrad optimizer and with the numpy one: (our losses, numpy losses,
    our parameters, numpy parameters) after each step."""
    w, b = Tensor(W0, requires_grad=True), Tensor(B0, requires_grad=True)
    opt = make_opt([w, b])
    ref = [W0.copy(), B0.copy()]
    ours, theirs = [], []
    with Tensor.train():
        for _ in range(steps):
            if zero_grad:
                opt.zero_grad()
            loss = sg_loss(w, b)
            loss.backward()
            opt.step()
            ref_loss, grads = np_loss_and_grads(*ref)
            for i, (p, g) in enumerate(zip(ref, grads)):
                np_step(i, p, g)
            ours.append((loss.item(), w.numpy(), b.numpy()))
            theirs.append((ref_loss, ref[0].copy(), ref[1].copy()))
    return ours, theirs


def assert_same_trajectory(ours, theirs, rtol=2e-5, atol=2e-6):
    for step, ((loss, w, b), (ref_loss, ref_w, ref_b)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(w, ref_w, rtol=rtol, atol=atol, err_msg=f"weight after step {step + 1}")
        np.testing.assert_allclose(b, ref_b, rtol=rtol, atol=atol, err_msg=f"bias after step {step + 1}")
        np.testing.assert_allclose(loss, ref_loss, rtol=rtol, err_msg=f"loss of step {step + 1}")


# ------------------------------------------------------------------------------------------------
# Update rules, several steps each
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "weight_decay": 0.1},
    {"weight_decay": 0.05},
    {"momentum": 0.8, "classic": True},
], ids=lambda k: ",".join(f"{a}={v}" for a, v in k.items()) or "plain")
def test_sgd_matches_numpy(kwargs):
    assert_same_trajectory(*run_both(lambda ps: SGD(ps, lr=0.1, **kwargs), np_sgd(0.1, **kwargs)))


@pytest.mark.parametrize("kwargs", [{}, {"b1": 0.5, "b2": 0.9, "eps": 1e-4}], ids=["defaults", "custom"])
def test_adam_matches_numpy(kwargs):
    assert_same_trajectory(*run_both(lambda ps: Adam(ps, lr=0.05, **kwargs), np_adam(0.05, **kwargs)))


def test_adamw_matches_numpy_with_decoupled_weight_decay():
    assert_same_trajectory(*run_both(lambda ps: AdamW(ps, lr=0.05, weight_decay=0.1),
                                     np_adam(0.05, weight_decay=0.1)))


def test_lamb_matches_numpy_with_its_trust_ratio():
    assert_same_trajectory(*run_both(lambda ps: LAMB(ps, lr=0.05, weight_decay=0.01),
                                     np_adam(0.05, eps=1e-6, weight_decay=0.01, lamb=True)))


def test_without_zero_grad_gradients_accumulate_as_in_pytorch():
    w, b = Tensor(W0, requires_grad=True), Tensor(B0, requires_grad=True)
    opt = SGD([w, b], lr=0.1)
    ref, acc = [W0.copy(), B0.copy()], [np.zeros_like(W0), np.zeros_like(B0)]
    with Tensor.train():
        for _ in range(3):
            sg_loss(w, b).backward()
            opt.step()
            for p, a, g in zip(ref, acc, np_loss_and_grads(*ref)[1]):
                a += g
                p -= 0.1 * a
    np.testing.assert_allclose(w.numpy(), ref[0], rtol=2e-5, atol=2e-6)


def test_changing_the_learning_rate_buffer_takes_effect_without_new_kernels():
    w = Tensor(np.ones(4, np.float32), requires_grad=True)
    opt = SGD([w], lr=0.5)
    with Tensor.train():
        for lr in (0.5, 0.25):
            opt.lr.assign(Tensor(np.float32(lr))).realize()
            opt.zero_grad()
            (w * 2).sum().backward()
            GlobalCounters.reset()
            opt.step()
    np.testing.assert_allclose(w.numpy(), 1 - 2 * 0.5 - 2 * 0.25)
    assert GlobalCounters.compile_count == 0  # the second step reused the first one's kernels


# ------------------------------------------------------------------------------------------------
# What step() realizes
# ------------------------------------------------------------------------------------------------


def test_loss_read_after_step_is_the_loss_the_gradients_came_from():
    w, b = Tensor(W0, requires_grad=True), Tensor(B0, requires_grad=True)
    opt = Adam([w, b], lr=0.1)
    ref_w, ref_b = W0.copy(), B0.copy()
    with Tensor.train():
        for step in range(3):
            opt.zero_grad()
            loss = sg_loss(w, b)
            loss.backward()
            opt.step()
            expected = np_loss_and_grads(ref_w, ref_b)[0]
            assert loss.item() == pytest.approx(expected, rel=1e-5), f"step {step + 1} reported another loss"
            ref_w, ref_b = w.numpy().copy(), b.numpy().copy()


def test_step_leaves_parameters_and_state_realized_and_runs_the_same_kernels_every_step():
    model = nn.Linear(3, 2)
    opt = Adam(get_parameters(model), lr=0.01)
    counts = []
    with Tensor.train():
        for _ in range(4):
            opt.zero_grad()
            model(Tensor(X)).square().mean().backward()
            GlobalCounters.reset()
            opt.step()
            counts.append((GlobalCounters.kernel_count, GlobalCounters.compile_count))
            for t in (*opt.params, *opt.m, *opt.v, opt.b1_t, opt.b2_t):
                assert t.node.op is Ops.BUFFER  # nothing pending: no graph grows across steps
    assert len({k for k, _ in counts}) == 1, f"kernels per step changed: {counts}"
    assert all(c == 0 for _, c in counts[1:]), f"later steps compiled kernels: {counts}"
    assert opt.b1_t.item() == pytest.approx(0.9**4)


def test_step_realizes_the_batchnorm_statistics_it_was_given():
    bn, lin = nn.BatchNorm(2), nn.Linear(2, 2)
    params = get_parameters([lin, bn])
    opt = SGD(params, lr=0.1)
    assert [id(t) for t in opt.buffers] == [id(bn.num_batches_tracked), id(bn.running_mean), id(bn.running_var)]
    assert any(t is bn.weight for t in opt.params) and bn.weight.requires_grad is True
    x = RNG.standard_normal((6, 2)).astype(np.float32)
    with Tensor.train():
        bn(lin(Tensor(x))).sum().backward()
        opt.step()
    assert bn.running_mean.node.op is Ops.BUFFER and bn.num_batches_tracked.node.op is Ops.BUFFER


def test_nn_layers_maybe_gradients_become_true():
    layer = nn.Linear(2, 2)
    assert layer.weight.requires_grad is None
    SGD(get_parameters(layer))
    assert layer.weight.requires_grad is True and layer.bias.requires_grad is True


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


def test_duplicate_parameters_are_an_error():
    w = Tensor.ones(3, requires_grad=True)
    with pytest.raises(OptimizerError, match=r"Adam: params\[2\] \(shape \(3,\), .*\) is the same tensor as "
                                             r"params\[0\]; each parameter must appear once"):
        Adam([w, Tensor.ones(2, requires_grad=True), w])


def test_parameters_without_requires_grad_are_an_error():
    with pytest.raises(OptimizerError, match=r"SGD: params\[1\] \(shape \(2,\), dtypes.float32, on .*\) has "
                                             r"requires_grad=False, so it gets no gradient"):
        SGD([Tensor.ones(3, requires_grad=True), Tensor.ones(2, requires_grad=False)])


@pytest.mark.parametrize("make, message", [
    (lambda: Adam([]), "Adam: no parameters to optimize"),
    (lambda: Adam([np.ones(3)]), r"params must be a list of Tensors .* holding \['ndarray'\]"),
    (lambda: Adam(Tensor.ones(3)), "params must be a list of Tensors"),
    (lambda: SGD([Tensor([1, 2])]), "is not a float tensor"),
    (lambda: SGD([Tensor.ones(2, requires_grad=True)], lr=-1), "SGD: lr must be a non-negative number, got -1"),
    (lambda: SGD([Tensor.ones(2, requires_grad=True)], nesterov=True), "nesterov=True needs a momentum > 0"),
    (lambda: Adam([Tensor.ones(2, requires_grad=True)], b1=1.0), "Adam: b1 must be a number >= 0 and < 1.0"),
    (lambda: AdamW([Tensor.ones(2, requires_grad=True)], weight_decay=-0.1), "AdamW: weight_decay must be"),
])
def test_bad_constructor_arguments(make, message):
    with pytest.raises(OptimizerError, match=message):
        make()


def test_step_without_gradients_says_to_call_backward():
    w = Tensor.ones(3, requires_grad=True)
    opt = SGD([w, Tensor.ones(2, requires_grad=True)])
    with Tensor.train():
        (w * 2).sum().backward()
        with pytest.raises(OptimizerError, match=r"SGD.step: 1 of 2 parameters have no gradient \(the first: "
                                                 r"params\[1\], shape \(2,\).*call loss.backward\(\) before step"):
            opt.step()


def test_step_outside_training_mode_is_an_error():
    w = Tensor.ones(3, requires_grad=True)
    opt = SGD([w])
    (w * 2).sum().backward()
    with pytest.raises(OptimizerError, match=r"Tensor.training is False; train inside `with Tensor.train\(\):`"):
        opt.step()
    np.testing.assert_array_equal(w.numpy(), np.ones(3))  # nothing was updated


# ------------------------------------------------------------------------------------------------
# A real (small) training run: the digits, a few epochs, on the compiled device only
# ------------------------------------------------------------------------------------------------


def test_digits_mlp_trains_to_high_accuracy_in_seconds(device):
    if device == "PYTHON":  # C and CUDA (make test-cuda) run it
        pytest.skip("the same code on PYTHON takes minutes; the update rules above run there")
    from sklearn.datasets import load_digits

    X_all, y_all = load_digits(return_X_y=True)
    X_all, y_all = (X_all / 16.0).astype(np.float32), y_all.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(X_all))
    test, train = order[:360], order[360:]
    Tensor.manual_seed(0)
    l1, l2 = nn.Linear(64, 64), nn.Linear(64, 10)
    opt = Adam(get_parameters([l1, l2]), lr=0.01)
    rng = np.random.default_rng(1)
    with Tensor.train():
        for _ in range(3):  # 3 epochs of 22 steps
            perm = rng.permutation(train)
            for i in range(0, len(perm) - 63, 64):
                idx = perm[i:i + 64]
                opt.zero_grad()
                l2(l1(Tensor(X_all[idx])).relu()).sparse_categorical_crossentropy(Tensor(y_all[idx])).backward()
                opt.step()
    accuracy = (l2(l1(Tensor(X_all[test])).relu()).argmax(-1).numpy() == y_all[test]).mean()
    assert accuracy >= 0.93, f"test accuracy {accuracy:.3f}"
