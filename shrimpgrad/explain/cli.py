"""`python -m shrimpgrad explain`: run a script (or an expression) and explain everything it realized.

    python -m shrimpgrad explain script.py [options] [-- script args...]
    python -m shrimpgrad explain -c "(Tensor.ones(4, 4) * 2).relu().sum()"
        --stage graph|schedule|uops|c|cuda   (repeatable; default: all)
        --kernel NAME                        only that kernel (E_4_4, R_2_3n1, ...)
        --full                               every kernel, not the first few
        --html report.html                   also write the offline HTML report
        --no-pager                           never page

For `-c`, the code runs with `Tensor`, `dtypes`, `nn` and `np` imported; if it is an expression whose value holds
Tensors that are still lazy, they are realized. Bad input (a missing script, a syntax error, an exception inside
the script, nothing realized, an unknown stage or kernel) prints one clear message and exits non-zero; a
traceback, when there is one, shows only the user's own frames, never ShrimpGrad's.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback

from rich.console import Console

from .model import STAGES, ExplainError, register_source

EXPR_FILE = "<explain -c>"  # the file name provenance records for `-c` code


class UsageError(Exception):
    """Bad command-line input: the message is printed as it is, exit status 2."""


class InternalError(Exception):
    """explain itself failed on a program that ran: one line, exit status 3."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shrimpgrad explain", usage="%(prog)s [options] (script.py | -c CODE) "
                                "[-- script arguments]",
                                description="Run a script or an expression and show every stage of what it realized: "
                                            "the graph, the schedule (with fusion reasons), the UOps, the C and the "
                                            "CUDA, each generated line traced to its Python line.")
    p.add_argument("script", nargs="?", help="the Python script to run")
    p.add_argument("-c", dest="code", metavar="CODE", help="code to run instead of a script (Tensor, dtypes, nn and "
                                                           "np are imported)")
    p.add_argument("--stage", action="append", choices=STAGES, help="show only this stage (repeatable)")
    p.add_argument("--kernel", metavar="NAME", help="show only this kernel")
    p.add_argument("--full", action="store_true", help="show every kernel (default: the first few of a big program)")
    p.add_argument("--html", metavar="FILE", help="also write the self-contained HTML report here")
    p.add_argument("--no-pager", action="store_true", help="never page the output")
    p.add_argument("--no-cuda", action="store_true", help="skip the CUDA view (stage 05)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The `explain` command; returns the exit status (0 ok, 1 the program failed or realized nothing, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []  # everything after `--` is the script's
    args = _parser().parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.args = script_args
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        return _run(args)
    except UsageError as e:
        err.print(f"[bold red]explain:[/] {e}", markup=True)
        return 2
    except ExplainError as e:  # nothing to explain
        err.print(f"[bold red]explain:[/] {e}", markup=True)
        return 1
    except _UserCodeFailed as e:
        err.print(e.report, markup=False)
        return 1
    except InternalError as e:
        err.print(f"explain: {e}", markup=False)
        return 3


class _UserCodeFailed(Exception):
    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


def _run(args) -> int:
    from . import capture

    if args.code is None and args.script is None:
        raise UsageError("give a script to run (python -m shrimpgrad explain script.py) or code with -c \"...\"")
    if args.code is not None and args.script is not None:
        raise UsageError(f"give either a script or -c code, not both (got {args.script!r} and -c)")
    with capture() as c:
        if args.code is not None:
            title = f"-c {args.code!r}"
            _run_code(args.code)
        else:
            title = args.script
            _run_script(args.script, args.args)
    if not c.graphs:
        what = "the code" if args.code is not None else args.script
        raise ExplainError(f"{what} ran but realized nothing: no Tensor value was computed, so there is nothing to "
                           "explain. Realize a result (.numpy(), .item(), .realize()), or with -c give an expression "
                           "whose value is a Tensor")
    try:
        e = c.explanation(title, cuda=not args.no_cuda)
    except Exception as bug:  # noqa: BLE001 - the user's program ran; showing it failed: say so in one line
        raise InternalError(f"the program ran, but explaining it failed: {type(bug).__name__}: {bug} (a bug in "
                            "ShrimpGrad's explain: please report it with the script)") from bug
    e.script = args.script
    if args.kernel is not None:
        try:
            e.select(args.kernel)  # an unknown name fails before anything is printed
        except ExplainError as bad:
            raise UsageError(str(bad)) from None
    # piped into a file or another program: wider than rich's default 80 columns, so tables and C lines fit
    console = Console() if sys.stdout.isatty() or "COLUMNS" in os.environ else Console(width=120)
    _print(e, args, console)
    if args.html:
        e.save_html(args.html)
        Console(stderr=True).print(f"explain: wrote {args.html}")
    return 0


def _print(e, args, console: Console) -> None:
    from .terminal import print_explanation

    print_explanation(e, args.stage or STAGES, args.kernel, args.full, console, pager=False if args.no_pager else None)


def _namespace() -> dict:
    import numpy as np

    from shrimpgrad import Tensor, dtypes, nn

    return {"__name__": "__main__", "Tensor": Tensor, "dtypes": dtypes, "nn": nn, "np": np}


def _run_code(code: str) -> None:
    """Run `-c` code: an expression (its lazy Tensors realized) or statements."""
    from shrimpgrad.tensor import Tensor

    from . import _tensors

    register_source(EXPR_FILE, code + "\n")
    ns = _namespace()
    try:
        compiled, is_expr = compile(code, EXPR_FILE, "eval"), True
    except SyntaxError:
        try:
            compiled, is_expr = compile(code, EXPR_FILE, "exec"), False
        except SyntaxError as e:
            raise _UserCodeFailed(_syntax_error(e, "-c code")) from None
    try:
        value = eval(compiled, ns)  # noqa: S307 - running the user's own code is the point
        if is_expr:
            lazy = [t for t in _tensors(value) if t.node.op.name != "BUFFER"]
            if lazy:
                Tensor.realize(*lazy)
    except Exception as e:  # noqa: BLE001 - reported as the user's error, with the user's frames only
        raise _UserCodeFailed(_user_traceback(e, "-c code")) from None


def _run_script(path: str, script_args: list[str]) -> None:
    if not os.path.exists(path):
        raise UsageError(f"no such script: {path!r} (working directory {os.getcwd()})")
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a folder; give a Python script")
    try:
        with open(path, encoding="utf-8") as f:
            compile(f.read(), path, "exec")
    except SyntaxError as e:
        raise _UserCodeFailed(_syntax_error(e, path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"can't read {path!r}: {e}") from None
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path, *script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise _UserCodeFailed(f"explain: {path} exited with status {e.code}; nothing explained") from None
    except Exception as e:  # noqa: BLE001 - reported as the user's error, with the user's frames only
        raise _UserCodeFailed(_user_traceback(e, path)) from None
    finally:
        sys.argv, sys.path[:] = old_argv, old_path


def _syntax_error(e: SyntaxError, what: str) -> str:
    where = f"line {e.lineno}" + (f", column {e.offset}" if e.offset else "")
    text = f"\n    {e.text.rstrip()}\n    {' ' * max((e.offset or 1) - 1, 0)}^" if e.text else ""
    return f"explain: {what} has a syntax error at {where}: {e.msg}{text}"


def _inside_shrimpgrad(filename: str) -> bool:
    from shrimpgrad.tensor import _INSIDE

    return (filename.startswith(_INSIDE) or filename.startswith("<frozen ")  # runpy's own frames
            or filename.startswith(os.path.dirname(runpy.__file__) + os.sep))


def _user_traceback(e: BaseException, what: str) -> str:
    """The exception as the user's code raised it: only frames of the user's files (the message from ShrimpGrad
    already names the op and the fix), then `Type: message`."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not _inside_shrimpgrad(f.filename)]
    frames = [f for f in frames if not f.filename.endswith(os.path.join("explain", "cli.py"))]
    lines = [f"explain: {what} raised {type(e).__name__}; nothing explained.", "Traceback (your code only):"]
    lines += [line.rstrip("\n") for line in traceback.format_list(frames)]
    lines += [line.rstrip("\n") for line in traceback.format_exception_only(type(e), e)]
    return "\n".join(lines)
