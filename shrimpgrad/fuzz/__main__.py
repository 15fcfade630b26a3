"""python -m shrimpgrad.fuzz --n N --seed S [--device C|PYTHON|CUDA ...] [--time T] [--out DIR] [--minutes M]"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shrimpgrad.fuzz", description=__doc__)
    p.add_argument("--n", type=int, default=200, help="programs to check (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", action="append", choices=["C", "PYTHON", "CUDA"],
                   help="device(s) checked against the evaluators; default: PYTHON and C, and CUDA if present")
    p.add_argument("--time", type=float, default=20.0, help="per-program time limit in seconds (a 'hang' past it)")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes even before --n")
    p.add_argument("--family", action="append", choices=["float", "int", "grad"], help="program families (all)")
    p.add_argument("--out", type=Path, default=Path("fuzz-repro"), help="folder for reproducers (fuzz-repro/)")
    p.add_argument("--shrink-seconds", type=float, default=120.0, help="time to shrink each new failure")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per program")
    args = p.parse_args(argv)

    # Compiled fuzz kernels go to a private folder that is removed at the end, not the user's cache.
    own_cache = "SHRIMPGRAD_CACHE_DIR" not in os.environ
    if own_cache:
        os.environ["SHRIMPGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="shrimpgrad-fuzz-cache-")
    try:
        from shrimpgrad.fuzz.search import fuzz

        devices = tuple(dict.fromkeys(args.device)) if args.device else _default_devices()
        if "CUDA" in devices and "CUDA" not in _default_devices():
            print("python -m shrimpgrad.fuzz: --device CUDA, but no CUDA GPU answers on this machine "
                  "(see docs/errors.md); use --device C or PYTHON", file=sys.stderr)
            return 2
        print(f"fuzzing {args.n} programs, seed {args.seed}, devices {', '.join(devices)}, "
              f"time limit {args.time:g} s", flush=True)
        report = fuzz(args.n, args.seed, devices, args.time, args.out, tuple(args.family or ("float", "int", "grad")),
                      args.shrink_seconds, None if args.minutes is None else args.minutes * 60,
                      _progress if args.verbose else _dots)
        print("\n" + report.summary(), flush=True)
        return 1 if report.found else 0
    finally:
        if own_cache:
            shutil.rmtree(os.environ.pop("SHRIMPGRAD_CACHE_DIR"), ignore_errors=True)


def _default_devices() -> tuple[str, ...]:
    """PYTHON and C, and CUDA when a GPU answers (asked in a child process: the fuzzer's worker is forked
    from this one, and a CUDA context made here would not survive the fork)."""
    import subprocess

    probe = "from shrimpgrad.cuda import cuda_available; print(cuda_available())"
    try:
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        has_cuda = r.stdout.strip() == "True"
    except (OSError, subprocess.TimeoutExpired):
        has_cuda = False
    return ("PYTHON", "C", "CUDA") if has_cuda else ("PYTHON", "C")


def _progress(report, program, outcome) -> None:
    print(f"{report.checked:6} {program.family:5} {len(program.lines):2} lines  {outcome.category:14} "
          f"{outcome.seconds:5.2f} s  {outcome.kind}", flush=True)


def _dots(report, program, outcome) -> None:
    mark = {"ok": ".", "inconclusive": "?", "hang": "H", "crash": "X", "error": "E"}.get(outcome.category, "F")
    print(mark, end="" if report.checked % 100 else f" {report.checked}\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
