"""Stage 04 — C code generation (`shrimpgrad.c`): a UOp Program -> C source -> shared object -> run.

    render(program, comments=True, openmp=True) -> str    the C source (renderer.py)
    verify(program) -> program                              stage 03's checks + what C needs (RenderError)
    CProgram(program)(buffers) -> seconds                   compile (cached), load, run (runtime.py)
    CBatch(programs, uses, n_slots)(arrays) -> seconds      many CPrograms by one C call (batch.py)
    compile_c(source, name) -> CompiledKernel               the compiler and its flags (compiler.py)
    compile_stats                                           compiled / loaded-from-cache counts (cache.py)
    choose_c_opts(kernel) -> opts                           the CPU's stage-03 optimizations, a named policy (opts.py)
    print_source(src), KernelView(program), to_dot(program) seeing it (viz.py)

See README.md in this folder.
"""

import importlib
import os

from shrimpgrad.graph.notebook import viz_exports

# OpenMP threads that finish a parallel loop wait for the next one. libgomp's default is to *spin* for a while,
# which costs nothing on an idle machine and everything on a busy one: a spinning thread holds the core the
# other thread needs (measured on this 2-core VM with the other core busy: softmax 512x512 23.6 ms spinning,
# 1.4 ms passive, where one thread takes 1.35 ms). So threads sleep ("passive") unless the user chose otherwise.
# The price is the wake-up: an empty parallel loop after 300 us of Python takes ~90 us passive, 2.5 us spinning
# (a 2-vCPU AMD EPYC VM, 2026-12-04), which a kernel big enough to run on both cores pays once.
# libgomp reads this once, when it is loaded (with the first kernel's library, or another OpenMP library the program
# loads before that), so it is set with the package, before runtime.py loads any library.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

# The package's names, by the module each comes from. A module is imported the first time one of its names is asked
# for (PEP 562's module __getattr__, below), not with the package: `import shrimpgrad` needs only cache.py's
# compile_stats (realize.py imports it), while the renderer and the runtime bring stage 03 with them, ~25 ms of a cold
# start (issue 12, W7) that a program now pays at its first realize instead.
_EXPORTS = {
    "batch": ("CBatch", "plan_arena"),
    "cache": ("CacheError", "CompileStats", "cache_root", "compile_stats"),
    "compiler": ("FLAGS", "CompiledKernel", "CompileError", "c_compiler", "compile_c", "compiler_command"),
    "ctype": ("RenderError",),
    "opts": ("C_OPTS_POLICIES", "choose_c_opts"),
    "renderer": ("OPENMP_MIN_ITERATIONS", "render", "verify"),
    "runtime": ("ArgumentError", "CProgram", "clear_loaded"),
}
_RENAMED = {"C_OPTS_POLICIES": "POLICIES", "choose_c_opts": "choose_opts"}  # their names in opts.py
_HOMES = {name: module for module, names in _EXPORTS.items() for name in names}
_VIZ = ("KernelView", "print_source", "source_html", "to_dot")

__all__ = [*_HOMES, *_VIZ]

_viz_getattr = viz_exports(__name__, *_VIZ)


def __getattr__(name: str):
    """`shrimpgrad.c.render`, `from shrimpgrad.c import CProgram`: the name's module is imported now. The value is
    then kept in the package, so this function is asked once per name."""
    if name not in _HOMES:
        return _viz_getattr(name)  # the pictures (viz.py, with rich and pygments), or an AttributeError
    module = importlib.import_module(f"{__name__}.{_HOMES[name]}")
    value = globals()[name] = getattr(module, _RENAMED.get(name, name))
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
