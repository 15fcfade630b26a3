"""Golden text dumps of a few small kernels: any change to the lowering shows up here as a readable diff.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/03_linearize/test_golden.py`
(and update the README, which quotes these dumps: test_readme checks it)."""

import os
import pathlib

import pytest
from example_kernels import flipped_row_max, matmul, pad_add

from shrimpgrad.linearize import Opt, OptKind, linearize
from shrimpgrad.linearize.viz import format_program

GOLDEN = pathlib.Path(__file__).parent / "golden"

CASES = {
    "pad_add": (pad_add, (), False),
    "flipped_row_max": (flipped_row_max, (), False),
    "matmul_upcast": (lambda: matmul(4, 4, 8), (Opt(OptKind.UPCAST, 1, 2), Opt(OptKind.UPCAST, 2, 2)), False),
    "matmul_gpu_local": (lambda: matmul(4, 4, 8), (Opt(OptKind.LOCAL, 1, 4),), True),
}


def dump(name: str) -> str:
    make, opts, gpu = CASES[name]
    return format_program(linearize(make(), opts, gpu)) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dump(name):
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(dump(name))
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 once"
    assert dump(name) == path.read_text()
