"""The ready rule and cycle detection, as queries over one connection.

Ready: an open `issue` (or a single-mode molecule: one polecat works all its steps), unassigned,
no other worker named (`metadata.worker`: the daemon's run steps, humans' approvals, a
single-mode molecule's steps), not held (`gt:held`), every `blocks` target closed
(a failed blocker keeps its dependents blocked: they would build on work that never
landed), no ancestor blocked through parent-child, and not an epic with unfinished
children (the epic is done when its children are). Sorted by priority, then age.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, Iterator

import apsw

_CANDIDATES = """
SELECT b.id, b.parent FROM beads b
WHERE (b.type = 'issue' OR (b.type = 'molecule' AND json_extract(b.metadata, '$.mode') = 'single'))
  AND b.status = 'open' AND b.assignee IS NULL {rig}
  AND json_extract(b.metadata, '$.worker') IS NULL
  AND NOT EXISTS (SELECT 1 FROM bead_labels l WHERE l.bead_id = b.id AND l.label = 'gt:held')
  AND NOT EXISTS (SELECT 1 FROM bead_dependencies d JOIN convoys c ON c.bead_id = d.depends_on
                  WHERE d.bead_id = b.id AND d.type = 'tracks' AND c.staged = 1)
  {blocked}
ORDER BY b.priority, b.created_at, b.id
"""

_UNFINISHED_BLOCKER = """EXISTS (SELECT 1 FROM bead_dependencies d JOIN beads t ON t.id = d.depends_on
    WHERE d.bead_id = b.id AND d.type = 'blocks' AND t.status != 'closed')"""
_OPEN_CHILDREN = """EXISTS (SELECT 1 FROM beads c WHERE c.parent = b.id AND c.status NOT IN ('closed', 'failed'))"""


def _candidates(conn: apsw.Connection, rig: str | None, *, ready: bool) -> Iterator[tuple[str, str | None]]:
    rig_sql = "AND b.rig = ?" if rig else ""
    blocked_sql = f"AND NOT {_UNFINISHED_BLOCKER} AND NOT {_OPEN_CHILDREN}" if ready else ""
    sql = _CANDIDATES.format(rig=rig_sql, blocked=blocked_sql)
    yield from conn.execute(sql, (rig,) if rig else ())


class _Ancestry:
    """Memoised 'is this bead blocked, directly or through an ancestor' for one query."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self.memo: dict[str, str | None] = {}

    def blocked_ancestor(self, parent: str | None, depth: int = 0) -> str | None:
        """The id of the first ancestor that is blocked, or None."""
        if parent is None or depth > 50:
            return None
        if parent in self.memo:
            return self.memo[parent]
        row = self.conn.execute(
            "SELECT parent, EXISTS (SELECT 1 FROM bead_dependencies d JOIN beads t ON t.id = d.depends_on "
            "WHERE d.bead_id = b.id AND d.type = 'blocks' AND t.status != 'closed') FROM beads b WHERE id = ?",
            (parent,),
        ).get
        if row is None:
            result = None
        else:
            grand, direct = row
            result = parent if direct else self.blocked_ancestor(grand, depth + 1)
        self.memo[parent] = result
        return result


def ready_ids(conn: apsw.Connection, *, rig: str | None = None, limit: int = 100) -> list[str]:
    ancestry = _Ancestry(conn)
    out: list[str] = []
    for bead_id, parent in _candidates(conn, rig, ready=True):
        if parent is not None and ancestry.blocked_ancestor(parent) is not None:
            continue
        out.append(bead_id)
        if limit > 0 and len(out) >= limit:
            break
    return out


def reasons(conn: apsw.Connection, bead_id: str, parent: str | None, ancestry: _Ancestry) -> list[dict[str, Any]]:
    """Why one open, unassigned issue is not ready (empty when it is)."""
    out: list[dict[str, Any]] = []
    for dep, status, failure in conn.execute(
        "SELECT t.id, t.status, t.failure_reason FROM bead_dependencies d JOIN beads t ON t.id = d.depends_on "
        "WHERE d.bead_id = ? AND d.type = 'blocks' AND t.status != 'closed' ORDER BY t.id",
        (bead_id,),
    ):
        item: dict[str, Any] = {"id": dep, "kind": "blocks", "status": status}
        if status == "failed":
            msg = (json.loads(failure) or {}).get("message") if failure else None
            item["message"] = f"blocker {dep} failed" + (f": {msg}" if msg else "") + "; reopen or drop it"
        else:
            item["message"] = f"waiting for {dep} ({status})"
        out.append(item)
    children = conn.execute(
        "SELECT count(*) FROM beads WHERE parent = ? AND status NOT IN ('closed', 'failed')", (bead_id,)).get
    if children:
        out.append({"id": bead_id, "kind": "children", "count": children,
                    "message": f"epic with {children} unfinished child bead(s)"})
    ancestor = ancestry.blocked_ancestor(parent)
    if ancestor:
        out.append({"id": ancestor, "kind": "parent", "message": f"ancestor {ancestor} is blocked"})
    return out


def blocked(conn: apsw.Connection, *, rig: str | None = None, limit: int = 100) -> list[tuple[str, list[dict[str, Any]]]]:
    ancestry = _Ancestry(conn)
    out = []
    for bead_id, parent in _candidates(conn, rig, ready=False):
        why = reasons(conn, bead_id, parent, ancestry)
        if why:
            out.append((bead_id, why))
            if limit > 0 and len(out) >= limit:
                break
    return out


def path(conn: apsw.Connection, start: str, target: str) -> list[str] | None:
    """The dependency chain start -> ... -> target over blocking edges, or None.

    Used before inserting the edge (target depends on start): if target is reachable
    from start, the new edge would close a cycle.
    """
    reachable = conn.execute(
        "WITH RECURSIVE reach(id) AS (SELECT ? UNION SELECT d.depends_on FROM bead_dependencies d "
        "JOIN reach r ON d.bead_id = r.id WHERE d.type IN ('blocks', 'parent-child')) "
        "SELECT 1 FROM reach WHERE id = ? LIMIT 1",
        (start, target),
    ).get
    if not reachable:
        return None
    prev: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == target:
            chain = [node]
            while prev[chain[-1]] is not None:
                chain.append(prev[chain[-1]])  # type: ignore[arg-type]
            return list(reversed(chain))
        for (nxt,) in conn.execute(
            "SELECT depends_on FROM bead_dependencies WHERE bead_id = ? AND type IN ('blocks', 'parent-child')",
            (node,),
        ):
            if nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return None
