"""What a person can do from the dashboard, as data (plain Python, no textual).

An `Action` applies to a `Subject` (the selected row: a bead, an agent, a merge request or
a convoy; or nothing, for town-wide actions like sling). It may ask for a form and for a
confirmation, then turns into daemon calls. The app runs those calls in a thread worker
through its `Remote`; the key-help overlay, the action menu and the command palette are
all built from `ACTIONS`, so every action is reachable the same three ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from gastown.protocol import Method
from gastown.tui.state import TERMINAL

Row = dict[str, Any]
Call = tuple[str, dict[str, Any]]

HELD = "gt:held"
"""The label a held bead carries (the daemon's `holds` module)."""


@dataclass(frozen=True)
class Subject:
    """The row the person is looking at. `parent` is the convoy a member row belongs to."""

    kind: str  # bead | agent | mr | convoy
    id: str
    row: Row = field(default_factory=dict, compare=False, hash=False)
    parent: str | None = None

    def describe(self) -> str:
        title = self.row.get("title") or self.row.get("status_message") or ""
        noun = {"mr": "merge request"}.get(self.kind, self.kind)
        return f"{noun} {self.id}" + (f" ({title})" if title else "")


def subject_of_bead(row: Row, parent: str | None = None) -> Subject:
    kind = {"merge_request": "mr", "convoy": "convoy"}.get(str(row.get("type")), "bead")
    return Subject(kind, str(row["id"]), row, parent)


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    default: str = ""
    multiline: bool = False
    required: bool = False
    placeholder: str = ""


Values = dict[str, str]


@dataclass(frozen=True)
class Action:
    name: str
    key: str
    """The key on the board, the pages and the drawers (shift-letters: navigation keeps the lower case)."""
    title: str
    kinds: tuple[str, ...]
    """Subject kinds it applies to; () is town-wide (no selection needed)."""
    build: Callable[[Subject | None, Values], list[Call]]
    confirm: str | None = None
    """Asked before a destructive call ({subject} is filled in)."""
    form: Callable[[Subject | None], list[Field]] | None = None
    prefill: bool = False
    """The form needs the full bead (body, dependencies) first: the app fetches `bead.show`."""
    when: Callable[[Subject], bool] = lambda s: True

    def applies(self, subject: Subject | None) -> bool:
        if not self.kinds:
            return True
        return subject is not None and subject.kind in self.kinds and self.when(subject)

    def calls(self, subject: Subject | None, values: Values | None = None) -> list[Call]:
        return self.build(subject, values or {})


def split(text: str) -> list[str]:
    """`a, b c` → [a, b, c]: ids and labels are typed comma- or space-separated."""
    return [p for p in text.replace(",", " ").split() if p]


def _id(s: Subject | None) -> str:
    assert s is not None
    return s.id


# ------------------------------------------------------------------- forms
def sling_form(s: Subject | None) -> list[Field]:
    rig = str((s.row.get("rig") if s else None) or "")
    return [Field("title", "title", required=True, placeholder="what to do"),
            Field("body", "body", multiline=True, placeholder="details, acceptance criteria"),
            Field("rig", "rig", default=rig, required=True),
            Field("depends_on", "depends on", placeholder="bead ids, comma-separated"),
            Field("agent", "agent", placeholder="adapter (empty: the town's default)"),
            Field("persona", "persona", placeholder="gt persona list (empty: agent.persona)"),
            Field("priority", "priority", default="2", placeholder="0 (highest) … 4")]


def edit_form(s: Subject | None) -> list[Field]:
    b = s.row if s else {}
    deps = [d["id"] for d in b.get("depends_on") or [] if d.get("type", "blocks") == "blocks"]
    return [Field("title", "title", str(b.get("title") or ""), required=True),
            Field("body", "body", str(b.get("body") or ""), multiline=True),
            Field("priority", "priority", str(b.get("priority", 2))),
            Field("labels", "labels", ", ".join(b.get("labels") or [])),
            Field("depends_on", "depends on", ", ".join(deps))]


def _priority(text: str) -> int:
    try:
        value = int(text.strip() or "2")
    except ValueError:
        raise ValueError(f"priority must be a number from 0 to 4, not '{text}'") from None
    if not 0 <= value <= 4:
        raise ValueError(f"priority must be from 0 to 4, not {value}")
    return value


def reason_form(label: str) -> Callable[[Subject | None], list[Field]]:
    return lambda s: [Field("reason", label, required=True)]


# ------------------------------------------------------------------ builds
def build_sling(s: Subject | None, v: Values) -> list[Call]:
    params: dict[str, Any] = {"title": v["title"].strip(), "rig": v["rig"].strip(), "body": v.get("body", ""),
                              "priority": _priority(v.get("priority", "2"))}
    if split(v.get("depends_on", "")):
        params["depends_on"] = split(v["depends_on"])
    if v.get("agent", "").strip():
        params["agent"] = v["agent"].strip()
    if v.get("persona", "").strip():
        params["persona"] = v["persona"].strip()
    return [(Method.SLING, params)]


def build_edit(s: Subject | None, v: Values) -> list[Call]:
    """One `bead.update` for the fields (only what changed), then a call per dependency change."""
    assert s is not None
    b = s.row
    params: dict[str, Any] = {"id": s.id}
    if v["title"].strip() != b.get("title"):
        params["title"] = v["title"].strip()
    if v.get("body", "") != (b.get("body") or ""):
        params["body"] = v.get("body", "")
    priority = _priority(v.get("priority", "2"))
    if priority != b.get("priority"):
        params["priority"] = priority
    old, new = list(b.get("labels") or []), split(v.get("labels", ""))
    if [x for x in new if x not in old]:
        params["add_labels"] = [x for x in new if x not in old]
    if [x for x in old if x not in new]:
        params["remove_labels"] = [x for x in old if x not in new]
    calls: list[Call] = [(Method.BEAD_UPDATE, params)] if len(params) > 1 else []
    before = [d["id"] for d in b.get("depends_on") or [] if d.get("type", "blocks") == "blocks"]
    after = split(v.get("depends_on", ""))
    calls += [(Method.DEP_ADD, {"id": s.id, "depends_on": d}) for d in after if d not in before]
    calls += [(Method.DEP_REMOVE, {"id": s.id, "depends_on": d}) for d in before if d not in after]
    return calls


def one(method: str, key: str = "id", **extra: str) -> Callable[[Subject | None, Values], list[Call]]:
    """One call on the subject's id; `extra` maps params to form fields."""
    def build(s: Subject | None, v: Values) -> list[Call]:
        return [(method, {key: _id(s), **{p: v[f] for p, f in extra.items()}})]
    return build


def build_member(method: str) -> Callable[[Subject | None, Values], list[Call]]:
    def build(s: Subject | None, v: Values) -> list[Call]:
        assert s is not None
        convoy = s.id if s.kind == "convoy" else s.parent
        beads = split(v.get("beads", "")) or ([s.id] if s.kind != "convoy" else [])
        return [(method, {"id": convoy, "beads": beads})]
    return build


def build_rig(method: str) -> Callable[[Subject | None, Values], list[Call]]:
    return lambda s, v: [(method, {"name": v["rig"].strip()})]


def _status(s: Subject) -> str:
    return str(s.row.get("status") or "")


def _staged(s: Subject) -> bool:
    return bool(s.row.get("staged")) and not s.row.get("landed_at")


def _held(s: Subject) -> bool:
    return HELD in (s.row.get("labels") or [])


def _closed(s: Subject) -> bool:
    return _status(s) in TERMINAL


ACTIONS: tuple[Action, ...] = (
    Action("sling", "S", "Sling new work", (), build_sling, form=sling_form),
    Action("edit", "E", "Edit bead", ("bead",), build_edit, form=edit_form, prefill=True),
    Action("hold", "H", "Hold bead (keep it from dispatch)", ("bead",), one(Method.BEAD_HOLD),
           when=lambda s: not _closed(s) and not _held(s)),
    Action("release", "U", "Release a held bead", ("bead",), one(Method.BEAD_RELEASE), when=_held),
    Action("retry", "R", "Retry bead now", ("bead",), one(Method.BEAD_RETRY, reason="reason"),
           form=lambda s: [Field("reason", "reason", required=_status(s) == "failed" if s else False,
                                 placeholder="why run it again (needed for a failed bead)")]),
    Action("close", "X", "Close bead", ("bead", "mr"), one(Method.BEAD_CLOSE, reason="reason"),
           confirm="Close {subject}?", form=reason_form("reason (optional)"), when=lambda s: not _closed(s)),
    Action("reopen", "O", "Reopen bead", ("bead",), one(Method.BEAD_REOPEN, reason="reason"),
           form=reason_form("why reopen"), when=_closed),
    Action("archive", "A", "Archive bead", ("bead", "mr", "convoy"), lambda s, v: [(Method.BEAD_ARCHIVE, {"ids": [_id(s)]})],
           confirm="Archive {subject}? It leaves the board (gt bead list --archived still shows it).",
           when=_closed),
    Action("mq-retry", "R", "Retry merge request", ("mr",), one(Method.MQ_RETRY)),
    Action("stop", "K", "Stop agent", ("agent",), one(Method.AGENT_STOP, "name"),
           confirm="Stop {subject}? Its running turn is killed."),
    Action("reset", "Z", "Reset agent", ("agent",), one(Method.AGENT_RESET, "name"),
           confirm="Reset {subject}? Its turn is stopped and its hook cleared."),
    Action("nudge", "N", "Nudge agent", ("agent",), one(Method.AGENT_NUDGE, "name", message="message"),
           form=lambda s: [Field("message", "message", required=True)]),
    Action("convoy-start", "G", "Start staged convoy", ("convoy",), one(Method.CONVOY_START), when=_staged),
    Action("convoy-close", "X", "Close convoy", ("convoy",), one(Method.CONVOY_CLOSE),
           confirm="Close {subject}? Unfinished members close and their turns stop.",
           when=lambda s: not _closed(s)),
    Action("convoy-add", "plus", "Add beads to staged convoy", ("convoy",), build_member(Method.CONVOY_ADD),
           form=lambda s: [Field("beads", "bead ids", required=True, placeholder="comma-separated")], when=_staged),
    Action("convoy-remove", "minus", "Remove bead from staged convoy", ("convoy", "bead"),
           build_member(Method.CONVOY_REMOVE),
           form=lambda s: [Field("beads", "bead ids", s.id if s and s.kind == "bead" else "", required=True)],
           when=lambda s: s.kind == "convoy" and _staged(s) or s.kind == "bead" and s.parent is not None),
    Action("town-pause", "P", "Pause the town (no new dispatch)", (), lambda s, v: [(Method.TOWN_PAUSE, {})],
           confirm="Pause the town? Nothing new is dispatched until you resume."),
    Action("town-resume", "W", "Resume the town", (), lambda s, v: [(Method.TOWN_RESUME, {})]),
    Action("rig-park", "L", "Park a rig (lock it: no dispatch, no merges)", (), build_rig(Method.RIG_PARK),
           form=lambda s: [Field("rig", "rig", str((s.row.get("rig") if s else "") or ""), required=True)]),
    Action("rig-unpark", "F", "Unpark a rig (free it)", (), build_rig(Method.RIG_UNPARK),
           form=lambda s: [Field("rig", "rig", str((s.row.get("rig") if s else "") or ""), required=True)]),
)
BY_NAME = {a.name: a for a in ACTIONS}
KEYS = sorted({a.key for a in ACTIONS})


def for_key(key: str, subject: Subject | None) -> Action | None:
    """The action a key means for this subject (a key can mean retry on a bead and on an MR)."""
    candidates = [a for a in ACTIONS if a.key == key]
    return next((a for a in candidates if a.kinds and a.applies(subject)), None) or \
        next((a for a in candidates if not a.kinds), None) or \
        next((a for a in candidates if subject is not None and subject.kind in a.kinds), None)


def applicable(subject: Subject | None) -> list[Action]:
    return [a for a in ACTIONS if a.applies(subject)]


def key_label(key: str) -> str:
    return {"plus": "+", "minus": "-"}.get(key, key)
