"""Golden CUDA source for reference kernels, as device CUDA builds them (the GPU opts policy, the launch), and the
API learners use without a GPU: source_for, EMIT=cuda, the no-GPU error. No GPU needed.

After an intended change to the output: `SHRIMPGRAD_REGEN_GOLDEN=1 .venv/bin/pytest tests/05_cuda/test_golden.py`,
then review the diff of tests/05_cuda/golden/."""

import difflib
import os
from pathlib import Path

import numpy as np
import pytest
from example_kernels import flipped_row_max, matmul, pad_add
from program_builders import elementwise_add, many_ops

from shrimpgrad.cuda import CUDA_DIALECT, cuda_kernel, launch_for, render_cuda
from shrimpgrad.graph import BufferRef, Ops, ShapeTracker, dtypes
from shrimpgrad.schedule import Kernel, KNode, KOps

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SHRIMPGRAD_REGEN_GOLDEN") == "1"


def prime_double(n: int = 1009) -> Kernel:
    """out[i] = a[i] * 2 for a prime n: no LOCAL divides it, so the launch is rounded up and guarded."""
    st = ShapeTracker.from_shape((n,))
    two = KNode(KOps.CONST, (), dtypes.float32, (2.0, ShapeTracker.from_shape(()).reshape((1,)).expand((n,))))
    value = KNode(KOps.ALU, (KNode(KOps.LOAD, (), dtypes.float32, (1, st)), two), dtypes.float32, Ops.MUL)
    sink = KNode(KOps.SINK, (KNode(KOps.STORE, (value,), dtypes.float32, (0, st)),), dtypes.float32)
    return Kernel(f"E_{n}", sink, (BufferRef(n, dtypes.float32), BufferRef(n, dtypes.float32)), 1, "example")


# name -> the CUDA source (kernels: through the policy and launch of device CUDA; Programs: as they are)
REFERENCE = {
    "pad_add": lambda: cuda_kernel(pad_add(), compile=False).source,
    "flipped_row_max": lambda: cuda_kernel(flipped_row_max(), compile=False).source,
    "matmul_group_shared": lambda: cuda_kernel(matmul(4, 4, 32), compile=False).source,
    "matmul_upcast": lambda: cuda_kernel(matmul(256, 512, 4), compile=False).source,
    "rounded_up_guard": lambda: cuda_kernel(prime_double(), compile=False).source,
    "float16_cpu_program": lambda: render_cuda(elementwise_add(8, dtypes.float16, name="E_half")),
    "int_semantics": lambda: render_cuda(many_ops([Ops.IDIV, Ops.MOD, Ops.MAX, Ops.ADD, Ops.MUL, Ops.NEG],
                                                  dtypes.int32, 8)),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_golden_cuda_source(name):
    src = REFERENCE[name]()
    path = GOLDEN / f"{name}.cu"
    if REGEN or not path.exists():
        path.write_text(src)
        if not REGEN:
            pytest.fail(f"wrote missing golden file {path}; review it and run again")
    want = path.read_text()
    if src != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), src.splitlines(True), f"golden/{name}.cu", "now"))
        pytest.fail(f"CUDA differs from golden/{name}.cu (SHRIMPGRAD_REGEN_GOLDEN=1 to accept):\n{diff}")


def test_what_the_goldens_show():
    guard = cuda_kernel(prime_double(), compile=False)
    assert guard.launch.grid == (8, 1, 1) and guard.launch.block == (128, 1, 1) and guard.launch.guard == 1009
    assert "if (gidx0 >= 1009) return;" in guard.source
    group = cuda_kernel(matmul(4, 4, 32), compile=False)
    assert [o.kind.name for o in group.opts] == ["GROUP", "LOCAL"] and "__syncthreads();" in group.source
    up = cuda_kernel(matmul(256, 512, 4), compile=False)
    assert "UPCAST" in [o.kind.name for o in up.opts] and launch_for(up.program).guard is None
    ints = REFERENCE["int_semantics"]()
    for text in ("idiv_int32(", "mod_int32(", "(unsigned int)", "max_int32("):
        assert text in ints, text
    assert CUDA_DIALECT.wrap_signed


# ---- without a GPU: source_for, EMIT=cuda, the error ------------------------------------------------------

def test_source_for_a_tensor_program_needs_no_gpu():
    pytest.importorskip("cuda.bindings.nvrtc")
    from shrimpgrad import Tensor
    from shrimpgrad.cuda import source_for

    x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    kernels = source_for((x * 2).sum(axis=1), x.exp())
    assert [k.name for k in kernels] == ["R_3_4", "E_3_4"]
    for k in kernels:
        assert k.cubin.cubin[:4] == b"\x7fELF" and k.header().startswith(f"// kernel {k.name}: opts [")
    assert str(kernels).count('extern "C" __global__ void') == 2
    assert source_for(x) == [] and len(source_for(x.sum(), compile=False)) == 1
    with pytest.raises(TypeError, match="source_for takes Tensors"):
        source_for(np.zeros(3))


def test_emit_cuda_prints_the_cuda_on_the_c_device(capsys):
    pytest.importorskip("cuda.bindings.nvrtc")
    from shrimpgrad import Context, Tensor

    with Context(EMIT="cuda"):
        (Tensor([1.0, 2.0, 3.0], device="C") * 5).numpy()
    out = capsys.readouterr().out
    assert 'extern "C" __global__ void E_3(' in out and "CUBIN" in out and "blockIdx" not in out.split("E_3(")[0]


def test_no_gpu_is_one_clear_error():
    from shrimpgrad import Tensor
    from shrimpgrad.devices import Device, NoDeviceError

    try:
        Device["CUDA"]
    except NoDeviceError as e:
        assert "no CUDA GPU was found" in str(e) and "EMIT=cuda" in str(e) and "source_for" in str(e)
        with pytest.raises(NoDeviceError, match="no CUDA GPU was found"):
            Tensor([1.0]).to("CUDA").numpy()
    else:
        pytest.skip("a GPU is present")
