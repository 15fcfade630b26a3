"""The architecture's layering is enforced by import-linter (run by `make test`); this test keeps
its front-end list honest: every module of the front end must be forbidden to the stages."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_front_end_module_is_forbidden_to_the_stages():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")["forbidden_modules"]
    front_end = {f"shrimpgrad.{p.stem}" for p in (ROOT / "shrimpgrad").glob("*.py") if p.stem != "__init__"}
    front_end |= {f"shrimpgrad.{p.name}" for p in (ROOT / "shrimpgrad").iterdir()
                  if (p / "__init__.py").exists() and not p.is_symlink()}  # links are the stages (next test)
    missing = front_end - set(forbidden)
    assert not missing, f"add {sorted(missing)} to the forbidden contract in pyproject.toml"


def test_every_stage_is_a_layer():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")["layers"]
    stages = set(config["tool"]["setuptools"]["package-dir"])
    in_layers = {name.strip() for layer in layers for name in layer.split("|")}
    assert stages <= in_layers, f"stages missing from the layers contract: {stages - in_layers}"


def test_each_stage_link_matches_the_package_dir_mapping():
    """shrimpgrad/graph -> ../stages/01_graph and so on: the same mapping as setuptools' package-dir. The links
    let tools that walk the package folder (import-linter, editors) see the stages where Python imports them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package, folder in config["tool"]["setuptools"]["package-dir"].items():
        link = ROOT / "shrimpgrad" / package.split(".")[-1]
        assert link.is_symlink(), f"{link} should be a link to {folder}"
        assert link.resolve() == (ROOT / folder).resolve(), f"{link} points at {link.resolve()}, not {folder}"
