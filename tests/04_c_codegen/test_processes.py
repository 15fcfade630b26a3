"""The disk cache across processes: a second run compiles nothing, and two processes compiling the
same kernel at the same moment both succeed (atomic writes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from shrimpgrad.c.cache import lookup

WORKER = Path(__file__).parent / "c_subprocess_worker.py"
EXPECTED = [k + 0.5 for k in range(8)]


def start(cache_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "SHRIMPGRAD_CACHE_DIR": str(cache_dir),
           "PYTHONPATH": os.pathsep.join([str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(WORKER), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_second_process_compiles_nothing(fresh_cache):
    first = result(start(fresh_cache, "E_two_runs"))
    second = result(start(fresh_cache, "E_two_runs"))
    assert (first["compiled"], first["cache_hits"], first["origin"]) == (1, 0, "compiled")
    assert (second["compiled"], second["cache_hits"], second["origin"]) == (0, 1, "disk cache")
    assert first["out"] == second["out"] == EXPECTED


def test_two_processes_compiling_the_same_kernel_at_once(fresh_cache, tmp_path):
    go = tmp_path / "go"
    workers = [start(fresh_cache, "E_race", str(go)) for _ in range(2)]
    go.touch()
    results = [result(w) for w in workers]
    assert all(r["out"] == EXPECTED for r in results)
    files = sorted(p.name for p in (fresh_cache / "c").iterdir())
    assert len(files) == 2 and files[0].endswith(".so") and files[1].endswith(".so.sha256"), files  # no temp files
    assert lookup(files[0][: -len(".so")]) is not None, "the entry left behind verifies"
