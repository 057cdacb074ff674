"""The event types and failure codes are closed vocabularies (`gastown.model.EventType`,
`FailureCode`): clients match on them, so a new one must be a new enum member. This scans the
source for string literals written as an event type or a failure code and fails on any that is
not a member, so the vocabulary stays closed as features are added."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

from gastown.model import EventType, FailureCode

SOURCE = Path(__file__).resolve().parent.parent / "gastown"
EVENT_WRITERS = ("_event", "event")  # the store's event append: (bead_id, event_type, ...)


def _literals(node: ast.expr | None) -> Iterator[ast.Constant]:
    """String literals an expression can evaluate to: itself, either branch of a conditional,
    the values of a literal dict (a lookup table of event types)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)
    elif isinstance(node, ast.Subscript):
        yield from _literals(node.value)
    elif isinstance(node, ast.Dict):
        for v in node.values:
            yield from _literals(v)


def _event_type_arg(call: ast.Call) -> ast.expr | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in EVENT_WRITERS:
        return None
    if len(call.args) > 1:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg == "event_type"), None)


def _merge_code_arg(call: ast.Call) -> ast.expr | None:
    """The code of a refinery `MergeResult(ok, code, message, ...)`: it becomes the MR's failure code."""
    if not (isinstance(call.func, ast.Name) and call.func.id == "MergeResult"):
        return None
    if len(call.args) > 1:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg == "code"), None)


def scan(tree: ast.AST) -> Iterator[tuple[str, ast.Constant]]:
    """("event"|"code", literal) for every literal in an event-type or failure-code position:
    the second argument of `store._event`/`store.event`, an `"event_type"` dict value, and the
    `"code"` of a failure dict (one with a `"message"`, as every failure reason has) and of a
    refinery `MergeResult`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for lit in _literals(_event_type_arg(node)):
                yield "event", lit
            for lit in _literals(_merge_code_arg(node)):
                yield "code", lit
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "event_type":
                    yield from (("event", lit) for lit in _literals(v))
                elif isinstance(k, ast.Constant) and k.value == "code" and "message" in keys:
                    yield from (("code", lit) for lit in _literals(v))


def _files() -> list[Path]:
    # The dashboard's failure banner reuses the failure-dict shape for its "retry" label.
    return [p for p in sorted(SOURCE.rglob("*.py")) if p.parts[-3:] != ("tui", "screens", "drawers.py")]


def test_every_event_type_and_failure_code_literal_is_an_enum_member() -> None:
    allowed = {"event": {m.value for m in EventType}, "code": {m.value for m in FailureCode}}
    strays, writers = [], 0
    for path in _files():
        tree = ast.parse(path.read_text(), str(path))
        writers += sum(1 for n in ast.walk(tree) if isinstance(n, ast.Call) and _event_type_arg(n) is not None)
        for kind, lit in scan(tree):
            if lit.value not in allowed[kind]:
                strays.append(f"{path.relative_to(SOURCE.parent)}:{lit.lineno}: {kind} {lit.value!r}")
    assert not strays, "not in gastown.model EventType/FailureCode (add a member, use it):\n" + "\n".join(strays)
    assert writers >= 60, f"the scan found only {writers} event writes: has the store's event call been renamed?"


@pytest.mark.parametrize("source, stray", [
    ('store._event(b, "hooked_twice", actor="x")', "hooked_twice"),
    ('self.event(None, "a" if x else "bogus_event")', "bogus_event"),
    ('store._event(b, {"ok": "budget_warning", "x": "budget_gone"}[s])', "budget_gone"),
    ('rows.append({"event_type": "made_up"})', "made_up"),
    ('fail({"code": "exploded", "message": "boom", "source": "runner"})', "exploded"),
    ('return MergeResult(False, "gate_wobbled", "why")', "gate_wobbled"),
])
def test_the_scan_catches_a_literal_outside_the_vocabulary(source: str, stray: str) -> None:
    allowed = {m.value for m in EventType} | {m.value for m in FailureCode}
    values = [lit.value for _, lit in scan(ast.parse(source))]
    assert stray in values and stray not in allowed


def test_the_scan_ignores_other_codes_and_enum_members() -> None:
    tree = ast.parse('store._event(b, EventType.MERGED)\nerr = {"code": -32601}\nx = {"code": "E1"}')
    assert list(scan(tree)) == []


def test_enum_members_are_their_values_on_the_wire() -> None:
    import json
    assert json.dumps({"t": EventType.MERGED, "c": FailureCode.AGENT_CRASHED}) == \
        '{"t": "merged", "c": "agent_crashed"}'
    assert f"{EventType.TURN_EXITED}" == "turn_exited" and str(FailureCode.INFRA) == "infra"
