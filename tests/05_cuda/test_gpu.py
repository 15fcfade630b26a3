"""On the GPU (marker `cuda`; skipped without one; `make test-cuda` runs them): CUDA computes what the other
devices compute. Random kernels with random GPU opts equal the interpreter bit for bit (with FMA off; on, within float
rounding); random graphs equal
stage 01's numpy evaluator (ints exactly); every ALU op and cast on every dtype matches stage 01's semantics
(floor div/mod, NaN max, wrap-around, float16 rounding); the launch guard keeps a rounded-up grid in bounds;
an MLP trains on CUDA to the loss it reaches on C; each rule of the opts policy, on and off, gives device C's values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shrimpgrad.cuda import CUDAAllocator, CUDAProgram, choose_opts, cuda_available, launch_for
from shrimpgrad.graph import ALL_DTYPES, Ops, dtypes
from shrimpgrad.linearize import interpret, linearize

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU")]


def run_cuda(program, arrays, extra: int = 0):
    """Run `program` on copies of `arrays` (outputs first) on the GPU; each buffer gets `extra` sentinel
    elements past its end, which must come back untouched. Returns every buffer."""
    alloc = CUDAAllocator()
    ptrs, hosts = [], []
    for a in arrays:
        padded = np.concatenate([a.reshape(-1), np.full(extra, 7, a.dtype)]) if extra else a.reshape(-1)
        ptr = alloc.alloc(max(padded.nbytes, 1))
        if padded.nbytes:
            alloc.copyin(ptr, padded)
        ptrs.append(ptr)
        hosts.append(padded.copy())
    try:
        CUDAProgram(program)(ptrs)
        for ptr, host in zip(ptrs, hosts):
            if host.nbytes:
                alloc.copyout(host, ptr)
    finally:
        for ptr in ptrs:
            alloc.free(ptr)
    if extra:
        for h in hosts:
            assert (h[h.size - extra:] == 7).all(), "a thread wrote past the end of a buffer"
    return [h[: h.size - extra] if extra else h for h in hosts]


def bits_equal(got, want, what):
    assert got.dtype == want.dtype
    same = got.view(f"u{got.itemsize}") == want.view(f"u{want.itemsize}")
    if got.dtype.kind == "f":
        same |= np.isnan(got) & np.isnan(want)
    assert same.all(), f"{what}:\nCUDA        {got}\ninterpreter {want}"


# ---- random kernels: CUDA == the interpreter, bit for bit ---------------------------------------------------

def fma_off(monkeypatch):
    """Render every CUDA kernel without the FMA rule (as SHRIMPGRAD_FMA=0 would): numpy's twice-rounded a*b + c."""
    from dataclasses import replace

    import shrimpgrad.cuda.dialect as cuda_dialect

    monkeypatch.setattr(cuda_dialect, "CUDA_DIALECT", replace(cuda_dialect.CUDA_DIALECT, fma=False))


def _random_kernel_vs_interpreter(data):
    from kernel_strategies import kernels, opts_for

    dtype = data.draw(st.sampled_from([dtypes.float32, dtypes.int32]), label="dtype")
    kernel, arrays = data.draw(kernels(dtype), label="kernel")
    opts = data.draw(st.one_of(opts_for(kernel, gpu=True), st.just(choose_opts(kernel))), label="opts")
    program = linearize(kernel, opts, gpu=True)
    want = [a.copy() for a in arrays]
    interpret(program, want)
    got = run_cuda(program, arrays, extra=3)
    return kernel, program, opts, got, want


@settings(max_examples=40)
@given(st.data())
def test_random_kernels_with_random_gpu_opts_equal_the_interpreter(data):
    with pytest.MonkeyPatch.context() as mp:
        fma_off(mp)
        kernel, program, opts, got, want = _random_kernel_vs_interpreter(data)
    for k in range(kernel.n_outputs):
        bits_equal(got[k], want[k], f"output {k} of {program.name} with {opts}, launch {launch_for(program)}")


@settings(max_examples=20)
@given(st.data())
def test_random_kernels_with_fma_equal_the_interpreter_within_rounding(data):
    """FMA on (CUDA's default): an accumulation acc + a*b rounds once, the interpreter twice."""
    kernel, program, opts, got, want = _random_kernel_vs_interpreter(data)
    for k in range(kernel.n_outputs):
        if got[k].dtype.kind == "f":  # one rounding per product less: off by a few ulps of the largest values
            scale = max(1.0, float(np.nanmax(np.abs(want[k]), initial=0.0)))
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-4 * scale, err_msg=f"{program.name} {opts}")
        else:
            bits_equal(got[k], want[k], f"output {k} of {program.name} with {opts}")


# ---- random graphs: CUDA == stage 01's evaluator ------------------------------------------------------------

def _on_cuda(case):
    from shrimpgrad.devices import Device
    from shrimpgrad.graph import evaluate
    from shrimpgrad.realize import Buffer, _storage, buffer_value, realize

    roots, buffers = case
    expected = evaluate(roots, buffers)
    for ref, flat in buffers.items():
        buf = Buffer(ref, "CUDA")
        if flat.size:
            Device["CUDA"].allocator.copyin(buf.handle, flat)
        _storage[ref] = buf
    outs = realize(roots, "CUDA")
    return expected, [buffer_value(o.arg).reshape(o.shape) for o in outs]


@given(st.data())
def test_random_int_graphs_equal_numpy_exactly_on_cuda(data):
    from graph_strategies import int_graphs

    expected, got = _on_cuda(data.draw(int_graphs()))
    for w, g in zip(expected, got):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@given(st.data())
def test_random_float_graphs_equal_numpy_on_cuda(data):
    from graph_strategies import FLOAT_TOLERANCE, graphs

    expected, got = _on_cuda(data.draw(graphs()))
    for w, g in zip(expected, got):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, **FLOAT_TOLERANCE)


# ---- every op and cast: stage 01's semantics --------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.name)
def test_every_op_on_cuda_matches_stage01_semantics(dt):
    from program_builders import many_ops
    from test_execute_ops import TRANSCENDENTAL, assert_matches, operands, ops_arity, ops_for

    from shrimpgrad.graph import apply_alu

    ops = ops_for(dt)
    a, b, cond = operands(dt)
    program = many_ops(ops, dt, a.size, name=f"E_ops_{dt.name}")
    outs = [np.zeros(a.size, g.dtype.np) for g in program.globals if g.arg[2]]
    got_all = run_cuda(program, [*outs, a, b, cond])
    with np.errstate(all="ignore"):
        for op, got in zip(ops, got_all):
            args = (cond, a, b) if op is Ops.WHERE else (a,) if len(ops_arity(op)) == 1 else (a, b)
            want = np.asarray(apply_alu(op, dt, args))
            # CUDA's sinf/exp2f/log2f are within 2 ulp of the true value (CUDA C Programming Guide), libm's ~1
            ulps = 0 if op not in TRANSCENDENTAL else (1 if dt == dtypes.float16 else 4)
            assert_matches(got, want, f"{op.name} on {dt.name} (CUDA)", ulps)


@pytest.mark.parametrize("src", ALL_DTYPES, ids=lambda d: d.name)
def test_every_cast_on_cuda_matches_stage01_semantics(src):
    from program_builders import many_casts
    from test_execute_ops import RNG_SEED, assert_matches, cast_inputs

    from shrimpgrad.graph import apply_alu

    rng = np.random.default_rng(RNG_SEED)
    n = 160
    inputs = [cast_inputs(src, dst, n, rng) for dst in ALL_DTYPES]
    program = many_casts(src, list(ALL_DTYPES), n, name=f"E_casts_{src.name}")
    outs = [np.zeros(n, g.dtype.np) for g in program.globals if g.arg[2]]
    got_all = run_cuda(program, [*outs, *inputs])
    with np.errstate(all="ignore"):
        for dst, x, got in zip(ALL_DTYPES, inputs, got_all):
            assert_matches(got, np.asarray(apply_alu(Ops.CAST, dst, [x])), f"CAST {src.name} -> {dst.name} (CUDA)")


# ---- the launch ------------------------------------------------------------------------------------------

def _kernel_and_inputs(build, *arrays):
    """The one kernel of `build(*Tensors)` and its buffers' values (outputs zeroed)."""
    from shrimpgrad import Tensor
    from shrimpgrad.schedule import create_schedule

    tensors = [Tensor(a) for a in arrays]
    values = {t.node.arg: a for t, a in zip(tensors, arrays)}
    (kernel,) = create_schedule([build(*tensors).node]).kernels
    outs = [np.zeros(r.size, r.dtype.np) for r in kernel.bufs[: kernel.n_outputs]]
    return kernel, [*outs, *(values[r].reshape(-1) for r in kernel.bufs[kernel.n_outputs:])]


@pytest.mark.parametrize("n", [1, 127, 129, 1009, 100_003])
def test_a_rounded_up_grid_stays_in_bounds(n):
    from shrimpgrad import Tensor

    x = np.arange(n, dtype=np.float32)
    np.testing.assert_array_equal((Tensor(x, device="CUDA") * 2 + 1).numpy(), x * 2 + 1)
    kernel, arrays = _kernel_and_inputs(lambda t: t + t, x)
    program = linearize(kernel, choose_opts(kernel), gpu=True)
    if n in (1009, 100_003):  # primes over 256: no LOCAL fits, the grid is rounded up to blocks of 128
        assert launch_for(program).guard == n
    np.testing.assert_array_equal(run_cuda(program, arrays, extra=5)[0], x + x)


@pytest.mark.parametrize("build", [lambda x, y: x @ y, lambda x, y: x.sum(axis=0), lambda x, y: x.sum(),
                                   lambda x, y: x.max(axis=1)],
                         ids=["matmul", "sum0", "sum", "max1"])
def test_the_opts_policies_give_the_same_values(build):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((96, 200)).astype(np.float32), rng.standard_normal((200, 64)).astype(np.float32)
    kernel, arrays = _kernel_and_inputs(build, a, b)
    results = {policy: run_cuda(linearize(kernel, choose_opts(kernel, policy), gpu=True), arrays)[0]
               for policy in ("heuristic", "threads", "none")}
    for policy in ("heuristic", "threads"):
        np.testing.assert_allclose(results[policy], results["none"], rtol=1e-5, atol=1e-4, err_msg=policy)


def test_float16_on_cuda():
    from shrimpgrad import Tensor

    x = (np.arange(300, dtype=np.float32) / 7).astype(np.float16)
    got = (Tensor(x, device="CUDA") * 3 + 2048).numpy()
    np.testing.assert_array_equal(got, x * np.float16(3) + np.float16(2048))


# ---- training ----------------------------------------------------------------------------------------------

def _train(device: str, steps: int = 25) -> list[float]:
    from shrimpgrad import Context, Tensor, nn
    from shrimpgrad.nn import optim

    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)
    with Context(DEVICE=device):
        Tensor.manual_seed(3)
        l1, l2 = nn.Linear(8, 32), nn.Linear(32, 2)
        opt = optim.SGD([l1.weight, l1.bias, l2.weight, l2.bias], lr=0.2, momentum=0.9)
        X, Y = Tensor(x), Tensor(y)
        losses = []
        with Tensor.train():
            for _ in range(steps):
                opt.zero_grad()
                loss = l2(l1(X).relu()).sparse_categorical_crossentropy(Y)
                loss.backward()
                opt.step()
                losses.append(float(loss.numpy()))
    return losses


def test_an_mlp_trains_on_cuda_to_the_loss_it_reaches_on_c():
    on_c, on_cuda = _train("C"), _train("CUDA")
    assert on_cuda[-1] < 0.7 * on_cuda[0], f"the loss did not fall: {on_cuda}"
    np.testing.assert_allclose(on_cuda, on_c, rtol=2e-4, atol=1e-5)



# ---- what DEBUG=4 and EMIT=cuda print on device CUDA ---------------------------------------------------------

@pytest.mark.parametrize("setting", [{"DEBUG": 4}, {"EMIT": "cuda"}, {"DEBUG": 4, "EMIT": "cuda"}])
def test_debug_4_and_emit_cuda_show_the_cuda_source_on_device_cuda(setting, capsys):
    from shrimpgrad import Context, Tensor

    x = Tensor(np.arange(6, dtype=np.float32), device="CUDA")
    with Context(**setting):
        (x * 3).numpy()
    out = capsys.readouterr().out
    assert out.count('extern "C" __global__ void E_6(') == 1, out  # once, even with both settings
    assert "threadIdx.x" in out and "grid=" in out


# ---- the opts policy's rules, each on and off: the same values as device C ------------------------------------

@pytest.mark.parametrize("case", ["upcast_elementwise", "upcast_outputs", "upcast_outputs (conv)", "group"])
def test_each_opts_rule_on_and_off_matches_device_c(case, monkeypatch):
    from test_opts_rules import CASES, _rule, _with_rule_off, f32, kernel_and_buffers

    from shrimpgrad import Tensor
    from shrimpgrad.cuda import H200

    build, _small, shapes = CASES[case]
    inputs = [f32(*s) for s in shapes]
    on_c = build(*(Tensor(a, device="C") for a in inputs)).numpy().reshape(-1)
    kernel, buffers = kernel_and_buffers(build, *inputs)
    on, off = choose_opts(kernel), _with_rule_off(monkeypatch, _rule(case), kernel, H200)
    assert on != off
    got = {name: run_cuda(linearize(kernel, opts, gpu=True), buffers, extra=3)[0]
           for name, opts in (("on", on), ("off", off))}
    atol = 2e-5
    if _rule(case) == "group":
        # GROUP adds a row in another order than device C's loop: equal within float32 rounding of the sum, which
        # scales with sum |x| (a row of 4096 normals: ~3300), not with the result (it may cancel to ~1: one run
        # differed by 4.4e-5 at -0.88, 0.1 eps * sum |x|); a few roundings of that magnitude, not 2e-5
        row = inputs[0].reshape(inputs[0].shape[0], -1)
        atol = 4 * np.finfo(np.float32).eps * np.abs(row).sum(axis=1).max()
    for name, values in got.items():
        np.testing.assert_allclose(values, on_c, rtol=2e-5, atol=atol, err_msg=f"{case} rule {name} vs device C")
    if _rule(case) != "group":  # an UPCAST of outputs changes no sum's order
        bits_equal(got["on"], got["off"], f"{case}: rule on vs off")


def test_vectorized_loads_give_the_same_bits_and_need_aligned_pointers(monkeypatch):
    from test_opts_rules import f32, kernel_and_buffers

    from shrimpgrad import Tensor
    from shrimpgrad.cuda.vectorize import VECTORIZE_ENV

    a, b = f32(256, 64), f32(64, 512)
    kernel, buffers = kernel_and_buffers(lambda x, y: x @ y, a, b)
    program = linearize(kernel, choose_opts(kernel), gpu=True)
    on = CUDAProgram(program)
    assert "float4" in on.source
    got = run_cuda(program, buffers, extra=3)[0]
    monkeypatch.setenv(VECTORIZE_ENV, "0")
    off = run_cuda(program, buffers, extra=3)[0]
    monkeypatch.delenv(VECTORIZE_ENV)
    bits_equal(got, off, "matmul with and without VECTORIZE")
    np.testing.assert_allclose(got, (Tensor(a, device="C") @ Tensor(b, device="C")).numpy().reshape(-1),
                               rtol=1e-5, atol=1e-5)
    alloc = CUDAAllocator()
    ptrs = [alloc.alloc(x.nbytes + 16) for x in buffers]
    try:
        with pytest.raises(ValueError, match="16-byte aligned"):
            on([ptrs[0], ptrs[1] + 4, ptrs[2]])
    finally:
        for p in ptrs:
            alloc.free(p)


def test_the_launch_fast_path_checks_buffer_sizes_again_after_any_free():
    # A launch with the pointers of the last one skips the size check, unless something was freed since: a freed
    # pointer can come back from the driver smaller, at the same address (runtime._frees counts the frees)
    from test_opts_rules import f32, kernel_and_buffers

    from shrimpgrad.cuda import runtime

    kernel, _ = kernel_and_buffers(lambda x, y: x + y, f32(8), f32(8))  # three buffers of 8 floats: 32 bytes each
    prog = CUDAProgram(linearize(kernel, (), gpu=True))
    alloc = CUDAAllocator()
    ptrs = [alloc.alloc(32) for _ in range(3)]
    try:
        prog(ptrs)  # checked once; the same pointers again would not be
        runtime._sizes[ptrs[1]] = 16  # as if freed and handed out again with 16 bytes at the same address
        alloc.free(alloc.alloc(4))  # any free makes the next launch check again
        with pytest.raises(ValueError, match="needs 32 bytes"):
            prog(ptrs)
    finally:
        runtime._sizes[ptrs[1]] = 32
        for p in ptrs:
            alloc.free(p)
