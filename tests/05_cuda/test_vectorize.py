"""No GPU needed: VECTORIZE (vectorize.py) spells four neighbouring, 16-byte aligned float loads of an input as one
float4 load in the CUDA, and nothing else: the Program is the same, misaligned or gated runs stay scalar, the switch
turns it off, and the vectorized kernels NVRTC-compile."""

import numpy as np
import pytest

from shrimpgrad import Tensor
from shrimpgrad.cuda import cuda_kernel, render_cuda
from shrimpgrad.cuda.opts import BLOCK_LANES
from shrimpgrad.cuda.vectorize import VECTORIZE_ENV, vector_groups
from shrimpgrad.linearize import Opt, OptKind, linearize
from shrimpgrad.schedule import create_schedule


def one_kernel(build, *shapes):
    tensors = [Tensor(np.zeros(s, np.float32)) for s in shapes]
    (kernel,) = create_schedule([build(*tensors).node]).kernels
    return kernel


def test_a_register_blocked_matmul_reads_a_through_float4():
    pytest.importorskip("cuda.bindings.nvrtc")
    k = cuda_kernel(one_kernel(lambda a, b: a @ b, (512, 64), (64, 512)))  # rule 3: UNROLL 4 on k
    assert Opt(OptKind.UPCAST, 2, 4) in k.opts
    groups = vector_groups(k.program)
    rows = next(o.amount for o in k.opts if o.kind is OptKind.UPCAST and o.axis == 0)  # BLOCK_LANES[0] rows of A
    assert rows == BLOCK_LANES[0]
    assert len(groups) == rows and all(g.buffer.arg[0] == 1 for g in groups)  # one per row; B isn't contiguous in k
    assert k.source.count("float4 vec") == rows and "= vec0.w;" in k.source
    assert k.cubin is not None and k.cubin.cubin[:4] == b"\x7fELF"


def test_vectorize_changes_the_spelling_only(monkeypatch):
    kernel = one_kernel(lambda a, b: a @ b, (64, 16), (16, 64))
    program = linearize(kernel, (Opt(OptKind.LOCAL, 1, 16), Opt(OptKind.UPCAST, 2, 4)), gpu=True)
    on = render_cuda(program, comments=False)
    monkeypatch.setenv(VECTORIZE_ENV, "0")
    off = render_cuda(program, comments=False)
    assert "float4" in on and "float4" not in off
    scalar = [line for line in off.splitlines() if line not in on.splitlines()]
    assert len(scalar) == 4 and all(" = data1[" in line for line in scalar)  # the 4 scalar loads of A, gone
    assert len(on.splitlines()) == len(off.splitlines()) + 1  # + the float4 load


def test_misaligned_and_gated_runs_stay_scalar():
    shifted = one_kernel(lambda x: x[1:] * 2, (4097,))  # data1[i + 1 .. i + 4]: not 16-byte aligned
    program = linearize(shifted, (Opt(OptKind.UPCAST, 0, 4), Opt(OptKind.LOCAL, 0, 256)), gpu=True)
    assert vector_groups(program) == () and "float4" not in render_cuda(program)
    padded = one_kernel(lambda x: x.pad(((0, 4),)) * 2, (4092,))  # gated loads
    program = linearize(padded, (Opt(OptKind.UPCAST, 0, 4), Opt(OptKind.LOCAL, 0, 256)), gpu=True)
    assert vector_groups(program) == ()
    aligned = one_kernel(lambda x: x * 2, (4096,))  # lanes innermost and aligned: vectorized (when chosen)
    program = linearize(aligned, (Opt(OptKind.UPCAST, 0, 4), Opt(OptKind.LOCAL, 0, 256)), gpu=True)
    assert len(vector_groups(program)) == 1


def test_the_float4_load_is_stage_04s_renderer_hook():
    """VECTORIZE is no text rewrite: stage 04's renderer, given the dialect's vector_loads hook, writes each group's
    float4 load once at its lane-0 LOAD (the same source render_cuda gives), and refuses a lane before its lane 0."""
    from dataclasses import replace

    import pytest as _pytest

    from shrimpgrad.c import render
    from shrimpgrad.c.ctype import RenderError
    from shrimpgrad.cuda.dialect import CUDA_DIALECT
    from shrimpgrad.cuda.vectorize import VECTOR_LOAD, vector_lanes

    kernel = one_kernel(lambda a, b: a @ b, (64, 16), (16, 64))
    program = linearize(kernel, (Opt(OptKind.LOCAL, 1, 16), Opt(OptKind.UPCAST, 2, 4)), gpu=True)
    hooked = replace(CUDA_DIALECT, vector_loads=vector_lanes, vector_load=VECTOR_LOAD)
    assert render(program, comments=False, dialect=hooked) == render_cuda(program, comments=False)
    lines = render(program, dialect=hooked).splitlines()
    first = next(n for n, line in enumerate(lines) if "float4 vec0" in line)
    assert "VECTORIZE: data1[" in lines[first]
    reads = [line.split("//")[0].split("=")[1].strip() for line in lines[first + 1:] if "= vec0." in line]
    assert reads == ["vec0.x;", "vec0.y;", "vec0.z;", "vec0.w;"] and "= vec0.x;" in lines[first + 1]
    backwards = {u: (first_, 3 - lane) for u, (first_, lane) in vector_lanes(program).items()}
    with _pytest.raises(RenderError, match="vector lane 3 comes before its lane 0"):
        render(program, dialect=replace(hooked, vector_loads=lambda p: backwards))
