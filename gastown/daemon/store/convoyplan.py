"""A convoy's plan (a batch file): parsed and checked -- shape, known keys, local ids,
dependencies ordered with Kahn's algorithm -- before `convoys.convoy_create` writes anything."""

from __future__ import annotations

import json
import tomllib
from collections import deque
from typing import Any

from gastown.daemon.store import integration
from gastown.protocol import ErrorCode, RpcError


def parse_plan(text: str) -> dict[str, Any]:
    """A batch file: TOML, or JSON of the same shape."""
    stripped = text.lstrip()
    try:
        plan = json.loads(text) if stripped.startswith("{") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"batch file is neither valid TOML nor JSON: {exc}") from None
    return check_plan(plan)


PLAN_KEYS = ("title", "rig", "beads", "merge_mode")
BEAD_KEYS = ("id", "title", "body", "rig", "priority", "depends_on", "script", "agent", "review_script")


def _known_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """A misspelt key (`depends-on`, `prority`) would silently do nothing: refuse it."""
    import difflib

    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{where}: unknown key '{key}'"
                           + (f" (did you mean '{close[0]}'?)" if close else f": use {', '.join(allowed)}"))


def check_plan(plan: Any) -> dict[str, Any]:
    """Validate the shape and order the beads with Kahn's algorithm before anything is written."""
    if not isinstance(plan, dict) or not isinstance(plan.get("beads"), list) or not plan["beads"]:
        raise RpcError(ErrorCode.INVALID_PARAMS, "a batch needs a non-empty [[beads]] list")
    _known_keys(plan, PLAN_KEYS, "the batch")
    local: dict[str, dict[str, Any]] = {}
    for i, b in enumerate(plan["beads"]):
        if not isinstance(b, dict) or not isinstance(b.get("title"), str) or not b["title"].strip():
            raise RpcError(ErrorCode.INVALID_PARAMS, f"bead {i + 1} of the batch needs a title")
        key = str(b.get("id") or f"#{i + 1}")
        _known_keys(b, BEAD_KEYS, f"bead '{key}'")
        if key in local:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"duplicate local id '{key}' in the batch")
        for field in ("depends_on", "script"):
            if not isinstance(b.get(field, []), list):
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead '{key}': {field} must be a list")
        local[key] = b
    for key, b in local.items():
        for dep in b.get("depends_on", []):
            if str(dep) not in local:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"bead '{key}' depends on '{dep}', which is not in the batch")
    indegree = {k: len(b.get("depends_on", [])) for k, b in local.items()}
    users: dict[str, list[str]] = {k: [] for k in local}
    for k, b in local.items():
        for dep in b.get("depends_on", []):
            users[str(dep)].append(k)
    queue, order = deque(k for k, n in indegree.items() if n == 0), []
    while queue:
        k = queue.popleft()
        order.append(k)
        for user in users[k]:
            indegree[user] -= 1
            if indegree[user] == 0:
                queue.append(user)
    if len(order) != len(local):
        stuck = sorted(k for k, n in indegree.items() if n > 0)
        raise RpcError(ErrorCode.CONFLICT, f"dependency cycle among {', '.join(stuck)} in the batch")
    mode = plan.get("merge_mode") or "review-and-merge"
    if mode not in integration.MODES:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"merge_mode must be {' or '.join(integration.MODES)}, not {mode!r}")
    return {"title": str(plan.get("title") or "convoy"), "order": order, "beads": local,
            "rig": plan.get("rig"), "merge_mode": mode}
