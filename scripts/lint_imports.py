"""Run import-linter on the package as it is *installed*, not as it sits in the repo.

import-linter finds modules by walking the root package's folder, but our stage packages live
in `stages/NN_name/` and are mapped into `shrimpgrad.*` by setuptools' package-dir. So we copy
the tree into the layout a wheel would have (front end + each mapped stage folder) in a temporary
folder and run `lint-imports` with that folder first on the path.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md", "*.ipynb")
    with tempfile.TemporaryDirectory(prefix="shrimpgrad-lint-") as tmp:
        shutil.copytree(ROOT / "shrimpgrad", pathlib.Path(tmp, "shrimpgrad"), ignore=ignore)
        for package, folder in mapping.items():
            shutil.copytree(ROOT / folder, pathlib.Path(tmp, *package.split(".")), ignore=ignore)
        env = dict(os.environ, PYTHONPATH=tmp + os.pathsep + os.environ.get("PYTHONPATH", ""))
        lint = pathlib.Path(sys.executable).with_name("lint-imports")
        return subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                              env=env, cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main())
