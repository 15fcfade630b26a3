"""An OpenMP kernel's row function (renderer.split_rows) states its loop's range, so that gcc keeps the row's loads
and stores contiguous: without the line, under -fwrapv, `gidx0 * 2048 + ridx0` might wrap around for some gidx0
the function can't rule out, and gcc vectorizes the loop with gathers and scatters (3-7x slower here)."""

import subprocess

import numpy as np
import pytest

from shrimpgrad import Tensor
from shrimpgrad.c import c_compiler, render
from shrimpgrad.c.compiler import flags_for
from shrimpgrad.linearize import linearize
from shrimpgrad.schedule import create_schedule


def _softmax_sources() -> list[str]:
    x = Tensor(np.ones((512, 512), np.float32)).realize()
    return [render(linearize(k), comments=False) for k in create_schedule([x.softmax(-1).node]).kernels]


def _assembly(src: str) -> str:
    flags = [f for f in flags_for(src) if f not in ("-shared", "-fPIC")]
    done = subprocess.run([c_compiler(), *flags, "-S", "-o", "-", "-x", "c", "-"], input=src, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_row_function_states_the_loops_range():
    for src in _softmax_sources():
        assert "_row(int gidx" in src, src  # the kernels are split into rows: the case this is about
        var = src.split("_row(int ")[1].split(",")[0]
        assert f"if ({var} < 0 || {var} >= 512) __builtin_unreachable();" in src, src


@pytest.mark.skipif("clang" in c_compiler(), reason="gcc's vectorizer is the one measured")
def test_softmax_rows_load_and_store_contiguously():
    for src in _softmax_sources():
        asm = _assembly(src)
        assert "gather" not in asm and "scatter" not in asm, src
