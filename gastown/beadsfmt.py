"""The beads project's `issues.jsonl` format: parse and check it, map it to Gastown's
model and back, and beads' own ready rule (to check that `gt ready` agrees with it).

Stdlib only and pure: the daemon's importer writes what `plan()` returns in one
transaction. One JSON object per line with `id`, `title`, `description`, `status`,
`priority`, `issue_type`, `labels`, `dependencies` (`issue_id`, `depends_on_id`, `type`),
`assignee`, `created_at`, `updated_at`, `closed_at`, `close_reason`.

Mapping (what Gastown cannot hold natively is kept under `metadata.beads` so an export
gives it back):
- status `open` → open; `closed` → closed; `tombstone` → not imported (nor dependencies on it); `in_progress`,
  `blocked`, `deferred`, `hooked`, `pinned` (and a future `defer_until`) → open and held
  (`gt:held`), so nothing dispatches work beads itself says is not ready.
- `blocks`, `conditional-blocks`, `waits-for` → a Gastown `blocks` dependency; `parent-child`
  → the bead's parent; every other type (`related`, `discovered-from`, …) is a link kept for
  export only (it never affects readiness, in beads or here).
- `issue_type` and `assignee` (a person in beads, not a Gastown agent) are kept for export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

STATUSES = ("open", "in_progress", "blocked", "deferred", "closed", "tombstone", "pinned", "hooked")
HELD_STATUSES = ("in_progress", "blocked", "deferred", "hooked", "pinned")
BLOCKING = ("blocks", "conditional-blocks", "waits-for")
MAX_LINE = 1 << 20


class FormatError(ValueError):
    """A line that is not a beads issue; the message names the line."""


@dataclass
class Issue:
    id: str
    title: str
    description: str = ""
    status: str = "open"
    priority: int = 2
    issue_type: str = "task"
    labels: list[str] = field(default_factory=list)
    deps: list[tuple[str, str]] = field(default_factory=list)  # (depends_on_id, type)
    assignee: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None
    close_reason: str = ""
    defer_until: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other fields, given back on export

    @property
    def parent(self) -> str | None:
        return next((d for d, t in self.deps if t == "parent-child"), None)


_KNOWN = {"id", "title", "description", "status", "priority", "issue_type", "labels", "dependencies", "assignee",
          "created_at", "updated_at", "closed_at", "close_reason", "defer_until"}


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise FormatError(f"{where}: missing '{key}'")
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{where}: '{key}' must be a string")
    return value


def _time(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise FormatError(f"{where}: '{key}' must be an ISO 8601 time")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FormatError(f"{where}: '{key}' is not an ISO 8601 time: {value[:40]!r}") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_line(line: str, lineno: int) -> Issue:
    where = f"line {lineno}"
    if len(line) > MAX_LINE:
        raise FormatError(f"{where}: longer than {MAX_LINE} characters")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: not JSON ({exc.msg})") from None
    except (ValueError, RecursionError):
        raise FormatError(f"{where}: not JSON (too deeply nested or not decodable)") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: not a JSON object")
    bead_id = _str(obj, "id", where, required=True).strip()
    if not bead_id or len(bead_id) > 100 or any(c.isspace() for c in bead_id):
        raise FormatError(f"{where}: 'id' must be 1-100 characters without spaces")
    where = f"line {lineno} ({bead_id})"
    title = _str(obj, "title", where, required=True).strip()
    if not title or len(title) > 500 or "\x00" in title:
        raise FormatError(f"{where}: 'title' must be 1-500 characters")
    status = _str(obj, "status", where) or "open"
    if status not in STATUSES:
        raise FormatError(f"{where}: unknown status '{status}' (one of {', '.join(STATUSES)})")
    priority = obj.get("priority", 2)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 4:
        raise FormatError(f"{where}: 'priority' must be a whole number from 0 to 4")
    labels = obj.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) and 0 < len(x) <= 100 for x in labels):
        raise FormatError(f"{where}: 'labels' must be a list of strings")
    deps = []
    for dep in obj.get("dependencies") or []:
        if not isinstance(dep, dict) or not isinstance(dep.get("depends_on_id"), str):
            raise FormatError(f"{where}: every dependency needs a 'depends_on_id'")
        if dep.get("issue_id") not in (None, bead_id):
            raise FormatError(f"{where}: a dependency's 'issue_id' must be the issue's own id")
        kind = dep.get("type") or "blocks"
        if not isinstance(kind, str):
            raise FormatError(f"{where}: a dependency's 'type' must be a string")
        if dep["depends_on_id"] == bead_id:
            raise FormatError(f"{where}: depends on itself")
        deps.append((dep["depends_on_id"], kind))
    if sum(1 for _, t in deps if t == "parent-child") > 1:
        raise FormatError(f"{where}: more than one parent")
    description = _str(obj, "description", where)
    if len(description) > 100_000:
        raise FormatError(f"{where}: 'description' is longer than 100,000 characters")
    return Issue(id=bead_id, title=title, description=description, status=status, priority=priority,
                 issue_type=_str(obj, "issue_type", where) or "task", labels=sorted(set(labels)), deps=deps,
                 assignee=_str(obj, "assignee", where), created_at=_time(obj, "created_at", where),
                 updated_at=_time(obj, "updated_at", where), closed_at=_time(obj, "closed_at", where),
                 close_reason=_str(obj, "close_reason", where), defer_until=_time(obj, "defer_until", where),
                 extra={k: v for k, v in obj.items() if k not in _KNOWN})


def parse(text: str) -> list[Issue]:
    """Every issue of a file, or FormatError naming the first bad line (all or nothing)."""
    issues: list[Issue] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        issue = parse_line(line, lineno)
        if issue.id in seen:
            raise FormatError(f"line {lineno} ({issue.id}): the id appears twice in the file")
        seen.add(issue.id)
        issues.append(issue)
    return issues


def check_graph(issues: list[Issue], known: set[str]) -> None:
    """Dependencies point at issues of the file or of the town, and blocking ones form no cycle."""
    ids = {i.id for i in issues}
    for issue in issues:
        for target, kind in issue.deps:
            if target not in ids and target not in known and (kind in BLOCKING or kind == "parent-child"):
                raise FormatError(f"{issue.id}: depends on unknown issue '{target}' ({kind})")
    edges = {i.id: [d for d, t in i.deps if (t in BLOCKING or t == "parent-child") and d in ids] for i in issues}
    cycle = find_cycle(edges)
    if cycle:
        raise FormatError(f"dependency cycle: {' -> '.join(cycle)}")


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle of the graph as a path that returns to its start, or None. Peels off nodes
    that lead nowhere (no edge to a remaining node); every node left then has such an edge,
    so walking forward from any of them must repeat."""
    targets = {n: [t for t in ts if t in edges] for n, ts in edges.items()}
    preds: dict[str, list[str]] = {n: [] for n in targets}
    for n, ts in targets.items():
        for t in ts:
            preds[t].append(n)
    out = {n: len(ts) for n, ts in targets.items()}
    queue = [n for n, d in out.items() if d == 0]
    while queue:
        node = queue.pop()
        for p in preds[node]:
            out[p] -= 1
            if out[p] == 0:
                queue.append(p)
    left = {n for n, d in out.items() if d > 0}
    if not left:
        return None
    node = min(left)
    path: list[str] = []
    seen: dict[str, int] = {}
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(t for t in targets[node] if t in left)
    return path[seen[node]:] + [node]


def held_reason(issue: Issue, now: datetime) -> str | None:
    """Why an imported open issue must not be dispatched (beads would not call it ready)."""
    if issue.status in HELD_STATUSES:
        return f"beads status {issue.status}"
    if issue.defer_until and issue.defer_until > now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"):
        return f"deferred until {issue.defer_until}"
    return None


def beads_meta(issue: Issue) -> dict[str, Any]:
    """What Gastown keeps only to give it back on export."""
    meta: dict[str, Any] = {"id": issue.id, "status": issue.status, "issue_type": issue.issue_type}
    links = [[d, t] for d, t in issue.deps if t not in BLOCKING and t != "parent-child"]
    kinds = {d: t for d, t in issue.deps if t in BLOCKING and t != "blocks"}
    for key, value in (("assignee", issue.assignee), ("links", links), ("dep_types", kinds),
                       ("defer_until", issue.defer_until), ("extra", issue.extra)):
        if value:
            meta[key] = value
    return meta


def ready(issues: Iterable[Issue], now: datetime) -> set[str]:
    """beads' ready rule: status open, not deferred, no open blocker (blocks,
    conditional-blocks, waits-for) and no ancestor (through parent-child) with one.
    parent-child alone never blocks; an epic with open children is ready in beads."""
    by_id = {i.id: i for i in issues}

    def open_blocker(issue: Issue) -> bool:
        return any(t in BLOCKING and by_id.get(d) is not None and by_id[d].status != "closed"
                   for d, t in issue.deps)

    def blocked(issue: Issue, depth: int = 0) -> bool:
        if open_blocker(issue):
            return True
        parent = by_id.get(issue.parent or "")
        return parent is not None and depth < 50 and blocked(parent, depth + 1)

    return {i.id for i in by_id.values() if i.status == "open" and held_reason(i, now) is None and not blocked(i)}


def _rfc3339(stamp: str | None) -> str | None:
    if not stamp:
        return None
    return stamp.replace(".000000Z", "Z") if stamp.endswith(".000000Z") else stamp


def export_line(bead: dict[str, Any], deps: list[tuple[str, str]], id_of: dict[str, str]) -> str:
    """One Gastown issue bead as a beads line; `deps` are (target bead id, gastown type)."""
    meta = (bead.get("metadata") or {}).get("beads") or {}
    my_id = id_of.get(bead["id"], bead["id"])
    status = "closed" if bead["status"] in ("closed", "failed") else \
        meta.get("status") if meta.get("status") in HELD_STATUSES and bead.get("held") else \
        "in_progress" if bead["status"] in ("in_progress", "in_review") else "open"
    kinds = meta.get("dep_types") or {}
    dependencies = []
    for target, kind in deps:
        their = id_of.get(target, target)
        dependencies.append({"issue_id": my_id, "depends_on_id": their,
                             "type": "parent-child" if kind == "parent-child" else kinds.get(their, "blocks")})
    for target, kind in meta.get("links") or []:
        dependencies.append({"issue_id": my_id, "depends_on_id": target, "type": kind})
    out: dict[str, Any] = {
        "id": my_id, "title": bead["title"], "description": bead.get("body") or "", "status": status,
        "priority": bead["priority"], "issue_type": meta.get("issue_type", "task"),
        "labels": sorted(lb for lb in bead.get("labels") or [] if not lb.startswith("gt:")),
        "dependencies": dependencies, "assignee": meta.get("assignee", ""),
        "created_at": _rfc3339(bead.get("created_at")), "updated_at": _rfc3339(bead.get("updated_at")),
    }
    if bead.get("closed_at"):
        out["closed_at"] = _rfc3339(bead["closed_at"])
        if bead.get("close_reason"):
            out["close_reason"] = bead["close_reason"]
    if meta.get("defer_until"):
        out["defer_until"] = _rfc3339(meta["defer_until"])
    out.update(meta.get("extra") or {})
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))
