"""Every notebook in notebooks/ is stored executed, and runs top to bottom in a fresh kernel without an error.

The notebooks are documentation that executes: their prose describes what the cells print, and a few cells
assert it. They are stored with their outputs (small, pictures as inline SVG), so that read on GitHub they show
what the text talks about; `make notebooks` runs them all again and stores the result. Here each one runs again
in its own Jupyter kernel, started with this interpreter (the venv's python, where shrimpgrad is installed)
whatever kernelspecs the machine has, in notebooks/ as its working folder, so an API change that breaks a
notebook breaks this test; the stored outputs must still be the kinds of output the code gives (a cell that
no longer prints, or now shows a picture, means the notebook was not run again). The kernel inherits this
process's environment, so it compiles into the test session's private cache (SHRIMPGRAD_CACHE_DIR, set by
conftest.py).
"""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import get_kernel_dict
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# the tour and one notebook per stage; new notebooks are picked up by the glob without being listed here
EXPECTED = {"00_tour", "01_graph", "02_schedule", "03_linearize", "04_c", "05_cuda"}
CELL_TIMEOUT_S = 120  # each notebook runs in a few seconds; this only stops a hung kernel
MAX_OUTPUT_BYTES = 150_000  # one cell's outputs (the biggest: a whole CUDA kernel, highlighted, ~120 KB)
MAX_NOTEBOOK_OUTPUT_BYTES = 400_000
VOLATILE = [r" at 0x[0-9a-f]{6,}", r"/tmp/ipykernel_\d+"]  # a repr's memory address; a cell's temporary file
KERNEL_NAME = "shrimpgrad-test"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A kernelspec that starts `sys.executable -m ipykernel_launcher`, and a spec manager that knows only it.

    The usual `python3` spec may come from the user's ~/.local/share/jupyter and name another interpreter."""
    kernels = tmp_path_factory.mktemp("kernels")
    (kernels / KERNEL_NAME).mkdir()
    spec = get_kernel_dict() | {"display_name": f"ShrimpGrad tests ({sys.executable})"}
    assert spec["argv"][0] == sys.executable
    (kernels / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)


def test_every_notebook_is_covered():
    found = {p.stem for p in NOTEBOOKS}
    assert EXPECTED <= found, f"missing notebooks in {NOTEBOOK_DIR}: {sorted(EXPECTED - found)}"


def output_kinds(cell) -> list[tuple[str, str | None]]:
    """What a cell shows, without its values (timings and cache states change from run to run): the outputs' kinds
    in order (stream stdout/stderr, display_data, execute_result, error). Consecutive pieces of one stream are one:
    how a cell's prints are split into pieces depends on when the kernel flushed them."""
    kinds: list[tuple[str, str | None]] = []
    for o in cell.outputs:
        kind = (o.output_type, o.get("name"))
        if not (kind[0] == "stream" and kinds and kinds[-1] == kind):
            kinds.append(kind)
    return kinds


def stored_problems(nb) -> list[str]:
    """Why a notebook isn't stored as `make notebooks` stores it: executed top to bottom, no errors, small outputs,
    nothing that changes every run (memory addresses, the kernel's temporary folder)."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    problems = []
    if [cell.execution_count for cell in code] != list(range(1, len(code) + 1)):
        problems.append(f"its cells were not run once each, top to bottom, in one kernel "
                        f"(execution counts {[cell.execution_count for cell in code]})")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text = json.dumps(cell.outputs)
        if any(o.output_type == "error" for o in cell.outputs):
            problems.append(f"cell {i} stored an error")
        if len(text) > MAX_OUTPUT_BYTES:
            problems.append(f"cell {i} stores {len(text):,} bytes of output (at most {MAX_OUTPUT_BYTES:,})")
        if any("image/png" in o.get("data", {}) for o in cell.outputs):
            problems.append(f"cell {i} stores a PNG: pictures are inline SVG (small, sharp, diffable)")
        for volatile in VOLATILE:
            if re.search(volatile, text):
                problems.append(f"cell {i} stores {volatile!r}, which changes every run")
    total = sum(len(json.dumps(cell.outputs)) for cell in code)
    if total > MAX_NOTEBOOK_OUTPUT_BYTES:
        problems.append(f"its outputs are {total:,} bytes (at most {MAX_NOTEBOOK_OUTPUT_BYTES:,})")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    problems = stored_problems(nb)
    assert not problems, (f"{path.name}: " + "; ".join(problems) + ". Run the notebooks again and store them with "
                          "`make notebooks`")


def test_the_stored_check_can_fail():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x"), nbformat.v4.new_code_cell("y")])
    nb.cells[0].execution_count, nb.cells[1].execution_count = 1, 3
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "<KernelView at 0x7f12ab>"}),
                           nbformat.v4.new_output("display_data", {"image/png": "iVBOR"})]
    problems = " ".join(stored_problems(nb))
    assert "execution counts [1, 3]" in problems and "PNG" in problems and "changes every run" in problems
    printed = nbformat.v4.new_code_cell("print(1); print(2); display(3); print(4)")
    printed.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in ("1\n", "2\n")]
    printed.outputs += [nbformat.v4.new_output("display_data", {"text/plain": "3"}),
                        nbformat.v4.new_output("stream", name="stdout", text="4\n")]
    assert output_kinds(printed) == [("stream", "stdout"), ("display_data", None), ("stream", "stdout")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernel_specs: KernelSpecManager):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, km=KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs),
                            timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    stored = [output_kinds(cell) for cell in nb.cells if cell.cell_type == "code"]
    client.execute()  # clears each cell's stored outputs first; a cell's error raises CellExecutionError
    skipped = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.execution_count is None]
    assert not skipped, f"{path.name}: cells {skipped} did not run (a skip-execution tag?)"
    fresh = [output_kinds(cell) for cell in nb.cells if cell.cell_type == "code"]
    stale = [i for i, (a, b) in enumerate(zip(stored, fresh)) if a != b]
    assert not stale, (f"{path.name}: code cells {stale} show other kinds of output than the stored ones "
                       f"({[stored[i] for i in stale]} stored, {[fresh[i] for i in stale]} now): `make notebooks`")
