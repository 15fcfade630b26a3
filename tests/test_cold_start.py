"""`import shrimpgrad` and a first small op stay cheap (issue 12's cold start): the pictures (every stage's viz.py,
with rich, pygments and graphviz) and `shrimpgrad.explain` load only when used. No time is asserted (machines are
noisy): what is checked is which modules a fresh interpreter has loaded."""

import subprocess
import sys

HEAVY = ("rich", "pygments", "graphviz", "IPython", "matplotlib", "shrimpgrad.explain")


def loaded_after(code: str) -> list[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_import_and_a_first_op_load_no_pictures():
    modules = loaded_after("import shrimpgrad\nfrom shrimpgrad import Tensor\nassert Tensor([1, 2]).sum().item() == 3")
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY) or m.endswith(".viz"))
    assert not heavy, f"loaded at start: {heavy}; import them where they are used (see issue 12, W7)"


def test_the_pictures_and_explain_still_load_when_asked_for():
    modules = loaded_after("import shrimpgrad\nfrom shrimpgrad.graph import to_dot\nshrimpgrad.explain")
    assert {"shrimpgrad.graph.viz", "graphviz", "shrimpgrad.explain"} <= set(modules)


def test_import_alone_leaves_the_compiler_stages_for_the_first_realize():
    """`import shrimpgrad` loads stage 04's cache.py only (realize.py's compile_stats): stage 03, the renderer, the
    runtime and hashlib (OpenSSL) load with the first realize (~25 ms of a plain import, issue 12's W7)."""
    deferred = {"shrimpgrad.linearize", "shrimpgrad.linearize.lower", "shrimpgrad.c.renderer",
                "shrimpgrad.c.runtime", "shrimpgrad.c.compiler", "shrimpgrad.c.opts", "hashlib"}
    assert not deferred & set(loaded_after("import shrimpgrad"))
    first_op = "import shrimpgrad\nfrom shrimpgrad import Tensor\nassert Tensor([1, 2]).sum().item() == 3"
    assert deferred <= set(loaded_after(first_op))


def test_stage_04_names_load_on_first_use():
    """shrimpgrad.c hands out each name from its module when first asked (its __getattr__); a CProgram still has
    its pictures (`__rich__`), and every name of __all__ is there."""
    code = ("import shrimpgrad.c as c\nassert c.CProgram.__rich__ and c.choose_c_opts.__name__ == 'choose_opts'\n"
            "assert all(getattr(c, n) is not None for n in c.__all__)\nassert set(c.__all__) <= set(dir(c))")
    assert "shrimpgrad.c.runtime" in loaded_after(code)


def test_a_warm_process_runs_no_compiler_and_imports_no_logging():
    """Once the disk cache holds the kernel and the compiler's --version (a first process writes both), a new
    process neither runs `cc` nor imports subprocess, logging, shutil or numpy.random (~25 ms of a cold start)."""
    first_op = "import shrimpgrad\nfrom shrimpgrad import Tensor\nassert Tensor([1, 2]).sum().item() == 3"
    loaded_after(first_op)  # warms this test session's cache folder (tests/conftest.py's SHRIMPGRAD_CACHE_DIR)
    modules = set(loaded_after(first_op))
    assert not modules & {"subprocess", "logging", "shutil", "numpy.random", "secrets", "tempfile", "shrimpgrad.jit"}


def test_the_remembered_compiler_version_follows_the_compiler_file(tmp_path, monkeypatch):
    """compiler_version remembers `cc --version` per compiler file: a changed file is asked again."""
    from shrimpgrad.c import compiler

    monkeypatch.setenv("SHRIMPGRAD_CACHE_DIR", str(tmp_path / "cache"))
    cc = tmp_path / "fake-cc"

    def version_with(text: str) -> str:
        cc.write_text(f"#!/bin/sh\necho '{text}'\n")
        cc.chmod(0o755)
        compiler.compiler_version.cache_clear()
        return compiler.compiler_version(str(cc))

    try:
        assert version_with("fake cc 1") == "fake cc 1"
        [remembered] = (tmp_path / "cache" / "compilers").glob("*.version")  # for the next process
        remembered.write_text("as remembered")
        compiler.compiler_version.cache_clear()
        assert compiler.compiler_version(str(cc)) == "as remembered"  # read back, not run: the same file
        assert version_with("fake cc version 2") == "fake cc version 2"  # another file (size, mtime): run again
    finally:
        compiler.compiler_version.cache_clear()
