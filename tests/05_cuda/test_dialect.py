"""The CUDA dialect of the stage-04 renderer (no GPU and no NVRTC needed)."""

from example_kernels import matmul
from program_builders import binary, elementwise_add

from shrimpgrad.c import render
from shrimpgrad.cuda import render_cuda
from shrimpgrad.graph import Ops, dtypes
from shrimpgrad.linearize import Opt, OptKind, linearize


def test_same_body_other_signature():
    p = elementwise_add()
    c, cuda = render(p, comments=False), render_cuda(p, comments=False)
    assert c.startswith("void E_16(float* restrict data0")
    assert cuda.startswith('extern "C" __global__ void E_16(float* __restrict__ data0')
    assert c.splitlines()[1:] == cuda.splitlines()[1:]  # the loop body is the same C


def test_specials_shared_memory_and_barrier_for_a_gpu_group_reduction():
    p = linearize(matmul(4, 4, 8), [Opt(OptKind.LOCAL, 1, 2), Opt(OptKind.GROUP, 2, 2)], gpu=True)
    src = render_cuda(p)
    for text in ("int gidx0 = blockIdx.x;", "int gidx1 = blockIdx.y;", "int lidx0 = threadIdx.x;",
                 "int lidx1 = threadIdx.y;", "__shared__ float temp0[4];", "__syncthreads();",
                 "if (alu"):
        assert text in src, f"{text!r} missing from\n{src}"


def test_signed_data_arithmetic_wraps_through_unsigned_but_index_math_stays_plain():
    src = render_cuda(binary(Ops.ADD, dtypes.int32, 8), comments=False)
    assert "(int)((unsigned int)val0 + (unsigned int)val1)" in src
    assert "for (int gidx0 = 0; gidx0 < 8; gidx0++)" in src


def test_nvrtc_compiles_reference_kernels_to_cubin():
    import pytest
    pytest.importorskip("cuda.bindings.nvrtc")
    from program_builders import max_rows, pad_1d, sum_rows

    from shrimpgrad.cuda.compiler import compile_cuda

    programs = [elementwise_add(), sum_rows(), max_rows(), pad_1d(), binary(Ops.IDIV, dtypes.int32, 8),
                linearize(matmul(4, 4, 8), [Opt(OptKind.LOCAL, 1, 2), Opt(OptKind.GROUP, 2, 2)], gpu=True)]
    for p in programs:
        cubin = compile_cuda(render_cuda(p), p.name).cubin
        assert cubin[:4] == b"\x7fELF", p.name  # a CUBIN is an ELF file of GPU code


def test_nvrtc_error_shows_the_log():
    import pytest
    pytest.importorskip("cuda.bindings.nvrtc")
    from shrimpgrad.cuda.compiler import CUDACompileError, compile_cuda

    with pytest.raises(CUDACompileError, match="undefined"):
        compile_cuda('extern "C" __global__ void k() { undefined_thing(); }', "k")
