"""Every notebook in notebooks/ runs top to bottom in a fresh kernel without an error, and is saved without outputs.

The notebooks are documentation that executes: their prose describes what the cells print, and a few
cells assert it, so an API change that breaks a notebook breaks this test. Each one runs in its own
Jupyter kernel, started with this interpreter (the venv's python, where shrimpgrad is installed) whatever
kernelspecs the machine has, in notebooks/ as its working folder. The kernel inherits this process's
environment, so it compiles into the test session's private cache (SHRIMPGRAD_CACHE_DIR, set by conftest.py).
"""

import json
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} were saved with outputs; notebooks are committed without them "
                       f"(small diffs, nothing machine-specific). Clear them with: "
                       f".venv/bin/jupyter nbconvert --clear-output --inplace {path.relative_to(NOTEBOOK_DIR.parent)}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernel_specs: KernelSpecManager):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, km=KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs),
                            timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # a cell's error raises CellExecutionError, showing that cell's source and traceback
    skipped = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.execution_count is None]
    assert not skipped, f"{path.name}: cells {skipped} did not run (a skip-execution tag?)"
