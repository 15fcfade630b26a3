"""NVRTC through the disk cache (stage 04's, space cuda/), the key, float16's header, compile errors. No GPU needed."""

import hashlib

import pytest
from program_builders import binary, elementwise_add

pytest.importorskip("cuda.bindings.nvrtc")

from shrimpgrad.c import cache, compile_stats  # noqa: E402
from shrimpgrad.cuda import CUDACompileError, compile_cuda, render_cuda  # noqa: E402
from shrimpgrad.cuda import compiler as cuda_compiler  # noqa: E402
from shrimpgrad.cuda.compiler import CUDA_SPACE, nvrtc_options, nvrtc_version, source_key  # noqa: E402
from shrimpgrad.graph import Ops, dtypes  # noqa: E402


def source(name="E_cache"):
    return render_cuda(elementwise_add(8, name=name), comments=False)


def test_compiles_once_then_loads_the_verified_cubin_from_disk(fresh_cache):
    first = compile_cuda(source(), "E_cache")
    second = compile_cuda(source(), "E_cache")
    assert (first.origin, second.origin) == ("compiled", "disk cache")
    assert first.cubin == second.cubin and first.cubin[:4] == b"\x7fELF"
    assert (compile_stats.compiled, compile_stats.cache_hits) == (1, 1)
    entry, checksum = cache.entry_paths(first.key, CUDA_SPACE)
    assert entry == fresh_cache / "cuda" / f"{first.key}.cubin"
    assert checksum.read_text().split()[0] == hashlib.sha256(entry.read_bytes()).hexdigest()


def test_a_damaged_cubin_is_rebuilt(fresh_cache):
    first = compile_cuda(source("E_damage"), "E_damage")
    entry, _ = cache.entry_paths(first.key, CUDA_SPACE)
    entry.write_bytes(entry.read_bytes()[:100])
    again = compile_cuda(source("E_damage"), "E_damage")
    assert again.origin == "compiled" and again.cubin == first.cubin and compile_stats.corrupt == 1


def test_key_covers_source_options_nvrtc_version_and_arch(monkeypatch):
    src = source()
    base = source_key(src)
    assert source_key(src, "sm_80") != base
    assert source_key(source("E_other")) != base
    monkeypatch.setattr(cuda_compiler, "OPTIONS", ("--fmad=true",))
    assert source_key(src) != base
    monkeypatch.undo()
    monkeypatch.setattr(cuda_compiler, "nvrtc_version", lambda: "nvrtc 99.0")
    assert source_key(src) != base
    assert nvrtc_version().startswith("nvrtc ")


def test_fixed_options_and_the_fp16_include_path_only_for_half():
    assert nvrtc_options("sm_90") == ["--gpu-architecture=sm_90", "--fmad=false", "--prec-div=true",
                                      "--prec-sqrt=true", "--ftz=false"]
    half = render_cuda(elementwise_add(8, dtypes.float16, name="E_half"), comments=False)
    assert "#include <cuda_fp16.h>" in half
    (include,) = [o for o in nvrtc_options("sm_90", half) if o.startswith("--include-path=")]
    assert include.endswith("include")


def test_float16_kernels_compile_with_cuda_fp16_h(fresh_cache):
    for op in (Ops.ADD, Ops.MAX, Ops.DIV, Ops.CMPLT):
        p = binary(op, dtypes.float16, 8, name=f"E_half_{op.name}")
        assert compile_cuda(render_cuda(p), p.name).cubin[:4] == b"\x7fELF"


def test_a_rejected_source_shows_the_log_and_is_saved(fresh_cache, capsys):
    bad = 'extern "C" __global__ void E_bad(float* d) { d[0] = undefined_thing; }'
    with pytest.raises(CUDACompileError, match="undefined_thing") as e:
        compile_cuda(bad, "E_bad")
    saved = next((fresh_cache / "cuda" / "failed").glob("E_bad-*.cu"))
    assert saved.read_text() == bad and str(saved) in str(e.value) and str(saved) in capsys.readouterr().err
