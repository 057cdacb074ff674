"""The daemon reads settings through typed accessors (Town.text/number/whole/flag/items/table).

Each asks for a kind; asking for one the registry does not give that key is a programming
error. This test finds every literal key the daemon reads that way and checks its kind against
the registry, so a mismatch fails here rather than at the tick that first reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon.town import config
from gastown.protocol import RpcError

DAEMON = Path(__file__).resolve().parents[1] / "gastown" / "daemon"
KINDS: dict[str, type] = {"text": str, "number": float, "whole": int, "flag": bool, "items": list,
                          "table": dict}
CALL = re.compile(r"\btown\.(text|number|whole|flag|items|table)\(\s*\"([a-z_.]+)\"")


def reads() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DAEMON.rglob("*.py")):
        for kind, key in CALL.findall(path.read_text()):
            found.append((path.relative_to(DAEMON).as_posix(), kind, key))
    return found


def test_the_daemon_reads_settings_through_typed_accessors() -> None:
    found = reads()
    assert len(found) >= 60, found  # the scan sees the call sites (61 when written)
    raw = [p.relative_to(DAEMON).as_posix() for p in DAEMON.rglob("*.py")
           if re.search(r"\.config\(\"[a-z_.]+\"[^)]*\)\[0\]", p.read_text())]
    assert raw == [], f"read settings with town.text/number/...: {raw}"


@pytest.mark.parametrize("where, kind, key", reads())
def test_every_typed_read_asks_for_the_registrys_kind(where: str, kind: str, key: str) -> None:
    setting = config.SETTINGS[key]
    assert config.typed(key, setting.default, KINDS[kind]) == setting.default


@pytest.mark.parametrize("key, kind, value, expected", [
    ("rig.max_polecats", int, 3, 3),
    ("rig.max_polecats", float, 3, 3.0),  # a whole number is a number
    ("dispatch.backoff_scale", float, 0.5, 0.5),
    ("refinery.code_review", bool, True, True),
    ("refinery.gates", list, ["make test"], ["make test"]),
    ("agent.model", str, "m", "m"),
])
def test_typed_gives_the_value_as_its_kind(key: str, kind: type, value: Any, expected: Any) -> None:
    got: Any = config.typed(key, value, kind)
    assert got == expected and type(got) is kind


@pytest.mark.parametrize("key, kind", [("dispatch.backoff_scale", int), ("rig.max_polecats", bool),
                                       ("refinery.code_review", int), ("refinery.gates", str),
                                       ("agent.model", float)])
def test_asking_for_another_kind_is_a_programming_error(key: str, kind: type) -> None:
    with pytest.raises(TypeError, match=key):
        config.typed(key, config.SETTINGS[key].default, kind)


def test_an_unknown_key_is_the_usual_one_line_error() -> None:
    with pytest.raises(RpcError, match="unknown setting 'rig.max_polecat'"):
        config.typed("rig.max_polecat", 1, int)
