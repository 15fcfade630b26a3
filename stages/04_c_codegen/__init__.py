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

from shrimpgrad.graph.notebook import attach_reprs, viz_exports

from .batch import CBatch, plan_arena
from .cache import CacheError, CompileStats, cache_root, compile_stats
from .compiler import FLAGS, CompiledKernel, CompileError, c_compiler, compile_c, compiler_command
from .ctype import RenderError
from .opts import POLICIES as C_OPTS_POLICIES
from .opts import choose_opts as choose_c_opts
from .renderer import OPENMP_MIN_ITERATIONS, render, verify
from .runtime import ArgumentError, CProgram, clear_loaded

__all__ = [
    "CacheError", "CompileStats", "cache_root", "compile_stats",
    "FLAGS", "CompiledKernel", "CompileError", "c_compiler", "compile_c", "compiler_command",
    "RenderError", "OPENMP_MIN_ITERATIONS", "render", "verify", "choose_c_opts", "C_OPTS_POLICIES",
    "ArgumentError", "CProgram", "clear_loaded", "CBatch", "plan_arena",
    "KernelView", "print_source", "source_html", "to_dot",
]

# Pictures (viz.py, with rich and pygments: imported on first use). `rich.print(prog)` and `prog` alone in a notebook
# cell show a CProgram's source; attached here so runtime.py never imports viz.py.
attach_reprs(CProgram, f"{__name__}.viz", rich="program_panel", html="program_html")
__getattr__ = viz_exports(__name__, "KernelView", "print_source", "source_html", "to_dot")
