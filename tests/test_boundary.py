"""The core never imports the interface, and the agents' tool path stays stdlib-light."""

from __future__ import annotations

import json
import subprocess
import sys


def imported_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_core_never_imports_textual_or_rich() -> None:
    mods = imported_after("import gastown.protocol, gastown.client, gastown.paths, gastown.model, "
                          "gastown.daemon.edge.server, gastown.daemon.store")
    assert not {m for m in mods if m.split(".")[0] in {"textual", "rich", "typer"}}


def test_tool_path_imports_only_the_stdlib_and_its_own_modules() -> None:
    mods = imported_after("import gastown.client, gastown.cli.entry, gastown.cli.render")
    baseline = imported_after("")  # site hooks of the venv itself
    third_party = {m.split(".")[0] for m in mods - baseline} - set(sys.stdlib_module_names) - {"gastown"}
    assert third_party == set(), third_party
    assert "gastown.daemon" not in mods
