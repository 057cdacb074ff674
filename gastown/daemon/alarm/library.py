"""Where formulas and personas come from for one town and rig: the rig's
`.gastown/<kind>/` in its default branch (versioned with the code, read from the town's
bare clone), the town's `<town>/<kind>/`, then the built-ins in the package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from gastown import formula, persona
from gastown.daemon.vcs import git, riglock

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town


def _dir_texts(path: Path) -> Callable[[], dict[str, str]]:
    def load() -> dict[str, str]:
        if not path.is_dir():
            return {}
        return {p.name[:-5]: p.read_text() for p in sorted(path.glob("*.toml"))}
    return load


def _rig_texts(rig: dict[str, Any], kind: str) -> Callable[[], dict[str, str]]:
    def load() -> dict[str, str]:
        repo, ref = rig["repo_path"], f"origin/{rig['default_branch']}"
        try:
            names = git.output(["ls-tree", "--name-only", f"{ref}:.gastown/{kind}"], repo, ok=(0, 128))
        except git.GitError:
            return {}
        out = {}
        for name in names.splitlines():
            if name.endswith(".toml"):
                out[name[:-5]] = git.run(["show", f"{ref}:.gastown/{kind}/{name}"], repo).stdout
        return out
    return load


def layers(town: "Town", rig: dict[str, Any] | None, kind: str, *, fetch: bool = False
           ) -> list[tuple[str, Callable[[], dict[str, str]]]]:
    """Blocking (reads git): call it in a worker thread. `fetch` first brings the rig's
    clone up to date (a human asking for a formula expects the one just pushed)."""
    if fetch and rig is not None:
        repo = rig["repo_path"]
        try:
            riglock.fetch_coalesced(repo, lambda: git.fetch(repo))  # a fetch rewrites the clone's refs
        except git.GitError:
            pass  # an unreachable origin: what the clone has is still versioned with the code
    builtin = formula.builtin_texts if kind == "formulas" else persona.builtin_texts
    out: list[tuple[str, Callable[[], dict[str, str]]]] = []
    if rig is not None:
        out.append((f"rig {rig['name']}", _rig_texts(rig, kind)))
    out.append(("town", _dir_texts(town.root / kind)))
    out.append(("built-in", builtin))
    return out


def personas(town: "Town", rig: dict[str, Any] | None) -> dict[str, persona.Persona]:
    return persona.all_personas(layers(town, rig, "personas"))


def snapshot(p: persona.Persona) -> dict[str, Any]:
    """What a bead carries of its persona (taken when it is created, so later edits of the
    file do not change work already poured)."""
    meta: dict[str, Any] = {"persona": p.name}
    if p.adapter:
        meta["agent"] = p.adapter
    if p.model:
        meta["model"] = p.model
    if p.instructions:
        meta["persona_instructions"] = p.instructions
    if p.turn_minutes:
        meta["turn_minutes"] = p.turn_minutes
    return meta
