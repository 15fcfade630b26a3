"""A compiler error shows the compiler's message, saves the failing source in the cache folder and prints its path."""

import re
from pathlib import Path

import pytest
from program_builders import unary

from shrimpgrad.c import CompileError, CProgram, compile_c, compiler_command
from shrimpgrad.c.compiler import FLAGS
from shrimpgrad.graph import Ops, dtypes


def saved_path(message: str) -> Path:
    return Path(re.search(r"saved at (\S+\.c)", message).group(1))


def test_syntax_error_is_reported_with_source_saved(fresh_cache, capsys):
    src = "void broken(float* restrict data0) {\n  data0[0] = ;\n}\n"
    with pytest.raises(CompileError) as e:
        compile_c(src, "broken")
    msg = str(e.value)
    assert "error" in msg and "<stdin>:2:" in msg, "the compiler's own message, with the line number"
    path = saved_path(msg)
    assert path.read_text() == src and path.parent == fresh_cache / "c" / "failed"
    assert str(path) in capsys.readouterr().err, "the path is printed"


def test_program_that_does_not_compile_saves_its_commented_source(fresh_cache, capsys):
    """A kernel named like a math.h function clashes with its declaration: a real compile error from a Program."""
    prog = unary(Ops.SIN, dtypes.float32, 4, name="sinf")
    with pytest.raises(CompileError, match="sinf") as e:
        CProgram(prog)
    saved = saved_path(str(e.value)).read_text()
    assert "// ALU SIN" in saved, "the saved source is the commented one (same line numbers as the compiled one)"


def test_missing_compiler_is_a_clear_error(fresh_cache, monkeypatch):
    monkeypatch.setenv("SHRIMPGRAD_CC", "no-such-cc-shrimpgrad")
    with pytest.raises(CompileError, match="not found.*SHRIMPGRAD_CC"):
        compile_c("void f(void) {}\n", "f")


def test_command_is_an_argument_list_with_the_fixed_flags():
    cmd = compiler_command("void f(void) {}\n", Path("/tmp/out dir/x.so"), cc="cc")
    assert cmd == ["cc", *FLAGS, "-x", "c", "-", "-o", "/tmp/out dir/x.so", "-lm"]
    assert "-ffast-math" not in cmd
