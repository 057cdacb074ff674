"""A rig's quality gate: what one is (`Gate`), what runs it (`GateRunner`: the host runners in
`runtime.hostgates`, a town container's `Runtime.gate_runner`), and the one proposed at
`gt rig add` from what the repository holds.

Work that merges untested into the user's branch is the trap; so the test command is
detected from the rig's files (pytest, npm test, cargo test, go test, make test, in that
order) and set as the rig's gate unless told otherwise (`--gate CMD`, `--no-gate`). A rig
with no gate and no explicit `--no-gate` gets a warning each time work is slung to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gastown.daemon.vcs import git

TAIL = 4000  # characters of a gate's output kept (its end: where the failure is)


@dataclass
class Gate:
    """A command a runtime runs in a worktree and reports on: one of a rig's gates (the refinery)
    or a molecule's `run` step."""
    name: str
    cmd: str
    timeout: float = 600.0


class GateRunner(Protocol):
    """Where gates run: the host (`runtime.hostgates`) or the town container (`Runtime.gate_runner`)."""
    def __call__(self, gate: Gate, cwd: Path) -> dict[str, Any]: ...


PY_MARKERS = ("pytest.ini", "conftest.py", "tox.ini")
NPM_DEFAULT_TEST = "no test specified"


def _show(repo: str, ref: str, path: str) -> str:
    try:
        return git.output(["show", f"{ref}:{path}"], repo)
    except git.GitError:
        return ""


def detect(repo: str, branch: str) -> str | None:
    """The test command of the repository at `origin/<branch>`, or None."""
    ref = f"origin/{branch}"
    try:
        files = git.output(["ls-tree", "-r", "--name-only", ref], repo).splitlines()
    except git.GitError:
        return None
    names = {Path(f).name for f in files}
    if names & set(PY_MARKERS) or any(re.fullmatch(r"test_.*\.py|.*_test\.py", n) for n in names) or \
            "[tool.pytest" in _show(repo, ref, "pyproject.toml"):
        return "python3 -m pytest -q"
    if "package.json" in files:
        try:
            test = json.loads(_show(repo, ref, "package.json") or "{}").get("scripts", {}).get("test", "")
        except ValueError:
            test = ""
        if test and NPM_DEFAULT_TEST not in test:
            return "npm test"
    if "Cargo.toml" in files:
        return "cargo test"
    if "go.mod" in files:
        return "go test ./..."
    if "Makefile" in files and re.search(r"^test\s*:", _show(repo, ref, "Makefile"), re.M):
        return "make test"
    return None


def opt_out_key(rig: str) -> str:
    """`patrol_state` key remembering `gt rig add --no-gate`."""
    return f"no_gate:{rig}"


def ungated_warning(rig: str, gates: Any, source: str, opted_out: bool) -> str | None:
    """The warning for slinging to a rig whose work would merge untested; None when gated
    or when gates were turned off on purpose (`--no-gate`, or an explicit empty list)."""
    if gates or source != "default" or opted_out:
        return None
    return (f"rig {rig} has no quality gate: its work will merge untested (set one with "
            f"'gt config set refinery.gates '[\"CMD\"]' --rig {rig}', or silence this with "
            f"'gt config set refinery.gates [] --rig {rig}')")
