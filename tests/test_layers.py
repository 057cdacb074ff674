"""The layers hold: import-linter's contracts (`[tool.importlinter]` in pyproject.toml) over the
package as it is, every daemon folder placed in a layer, the stdlib-only leaves, and proof
that the contracts would catch a wrong-way import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

try:
    import grimp  # comes with import-linter (the dev extras)
except ImportError:  # pragma: no cover - an old venv
    pytest.fail("import-linter is not installed in this venv: run `make venv`", pytrace=False)

ROOT = Path(__file__).resolve().parent.parent
LINT = str(Path(sys.executable).parent / "lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts: list[dict[str, Any]] = config["contracts"]
    return contracts


def test_every_contract_is_kept() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in res.stdout


@pytest.mark.parametrize("contract", [c for c in _contracts() if c["type"] == "layers"], ids=lambda c: c["id"])
def test_every_module_of_a_layered_package_sits_in_a_layer(contract: dict[str, Any]) -> None:
    """A module or folder added to a layered package (the daemon, vcs) outside every layer
    would be unconstrained."""
    named = {name.strip() for layer in contract["layers"] for name in layer.replace("|", ":").split(":")}
    for container in contract["containers"]:
        folder = ROOT / container.replace(".", "/")
        children = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
        children |= {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
        assert children - named == set(), f"add these to a layer of the {contract['id']} contract"
        assert named - children == set(), f"the {contract['id']} contract names modules that no longer exist"


def test_the_leaves_import_only_the_standard_library() -> None:
    """The wire and the agents' client run on the standard library alone (their own imports;
    `paths` may reach for platformdirs when no GT_HOME is set)."""
    graph = grimp.build_graph("gastown", include_external_packages=True)
    allowed = {"gastown.protocol": set(), "gastown.model": set(),
               "gastown.client": {"gastown.paths", "gastown.protocol"}}
    for module, inside in allowed.items():
        imported = graph.find_modules_directly_imported_by(module)
        outside = {m for m in imported if not m.startswith("gastown")}
        assert {m.split(".")[0] for m in outside} <= set(sys.stdlib_module_names), (module, outside)
        assert imported - outside == inside, module


def test_a_wrong_way_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The same contracts over a copy of the package with three wrong-way imports planted: a rule
    reaching into the loop, the CLI into the daemon, the store up into the edge."""
    shutil.copytree(ROOT / "gastown", tmp_path / "gastown", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    plant = {"daemon/rules/budgets.py": "from gastown.daemon.alarm import loop",
             "cli/render.py": "from gastown.daemon.town import config",
             "daemon/store/readiness.py": "from gastown.daemon.edge import hub"}
    for rel, line in plant.items():
        path = tmp_path / "gastown" / rel
        path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "gastown.daemon.rules is not allowed to import gastown.daemon.alarm" in res.stdout, res.stdout
    assert "gastown.cli is not allowed to import gastown.daemon" in res.stdout, res.stdout
    assert "gastown.daemon.store.readiness -> gastown.daemon.edge.hub" in res.stdout, res.stdout
    assert f"Contracts: {len(_contracts()) - 3} kept, 3 broken." in res.stdout, res.stdout
