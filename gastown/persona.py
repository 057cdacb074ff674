"""Personas: named agent profiles (TOML) -- adapter, model, instructions added to the role
prompt, and a turn time limit -- so a step, a sling, a rig, the reviewer or the triage
agent can use another agent CLI or model than the polecats.

Resolution is the formulas' one: the rig's `.gastown/personas/` (in its default branch)
-> the town's `<town>/personas/` -> the built-ins shipped here. Empty fields inherit the
town/rig settings (`agent.adapter`, `agent.model`). Stdlib only.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Callable

from gastown.protocol import ErrorCode, RpcError

KEYS = {"name", "description", "adapter", "model", "instructions", "turn_minutes"}
REVIEWER, TRIAGE = "reviewer", "triage"
"""The personas the refinery's review agent and the triage agent take (override them by file)."""


@dataclass(frozen=True)
class Persona:
    name: str
    description: str = ""
    adapter: str = ""  # empty: agent.adapter of the rig
    model: str = ""  # empty: agent.model of the rig
    instructions: str = ""
    turn_minutes: float = 0.0  # 0: no limit
    source: str = "built-in"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.name, **asdict(self)}


def parse(text: str, source: str) -> Persona:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{source}: malformed TOML: {exc}") from None
    extra = sorted(set(data) - KEYS)
    if extra:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{source}: unknown key(s) {', '.join(extra)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{source}: needs a `name`")
    minutes = data.get("turn_minutes", 0)
    if not isinstance(minutes, (int, float)) or minutes < 0:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"{source}: turn_minutes must be a number >= 0")
    for key in ("description", "adapter", "model", "instructions"):
        if not isinstance(data.get(key, ""), str):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{source}: {key} must be a string")
    return Persona(name=name, description=data.get("description", ""), adapter=data.get("adapter", ""),
                   model=data.get("model", ""), instructions=data.get("instructions", ""),
                   turn_minutes=float(minutes), source=source)


def builtin_texts() -> dict[str, str]:
    root = resources.files("gastown.personas")
    return {p.name[:-5]: p.read_text() for p in root.iterdir() if p.name.endswith(".toml")}


Layer = tuple[str, Callable[[], dict[str, str]]]


def all_personas(layers: list[Layer]) -> dict[str, Persona]:
    """Every persona by name, the first layer (rig, town, built-in) winning."""
    out: dict[str, Persona] = {}
    for label, loader in layers:
        for name, text in sorted(loader().items()):
            if name not in out:
                p = parse(text, f"{label} persona {name}")
                if p.name != name:
                    raise RpcError(ErrorCode.INVALID_PARAMS,
                                   f"{label} persona {name}: its name is '{p.name}', not the file's name")
                out[name] = p
    return out


def get(name: str, layers: list[Layer]) -> Persona:
    found = all_personas(layers).get(name)
    if found is None:
        raise RpcError(ErrorCode.NOT_FOUND, f"no persona '{name}' (try `gt persona list`)")
    return found
