"""Run by test_processes.py in a separate Python process: build a kernel, run it, print what happened.

    python c_subprocess_worker.py <kernel name> [<file to wait for>]

Prints one JSON line: the compile counters, where the binary came from, and the kernel's output.
With a second argument, waits until that file exists before compiling (a starting gun, so two
workers compile at the same moment)."""

import json
import sys
import time
from pathlib import Path

import numpy as np
from program_builders import elementwise_add

from shrimpgrad.c import CProgram, compile_stats


def main() -> None:
    name = sys.argv[1]
    if len(sys.argv) > 2:
        deadline = time.time() + 60
        while not Path(sys.argv[2]).exists() and time.time() < deadline:
            time.sleep(0.001)
    prog = CProgram(elementwise_add(8, name=name))
    out = np.zeros(8, np.float32)
    prog([out, np.arange(8, dtype=np.float32), np.full(8, 0.5, np.float32)])
    print(json.dumps({"compiled": compile_stats.compiled, "cache_hits": compile_stats.cache_hits,
                      "origin": prog.origin, "out": out.tolist()}))


if __name__ == "__main__":
    main()
