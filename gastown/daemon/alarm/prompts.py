"""Role prompts from `gastown/prompts/*.md`, filled with the bead and the agent's identity."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from gastown.model import FailureCode


@lru_cache(maxsize=None)
def template(role: str) -> str:
    return resources.files("gastown.prompts").joinpath(f"{role}.md").read_text()


class _Safe(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def failure_section(failure: dict[str, Any] | None) -> str:
    """The previous attempt's failure, so the next polecat starts from what went wrong."""
    if not failure:
        return ""
    lines = ["", "## The previous attempt failed", f"[{failure.get('code')}] {failure.get('message')}"]
    details = failure.get("details") or {}
    for key in ("gate", "files", "output_tail"):
        if details.get(key):
            value = details[key]
            lines.append(f"{key}:\n{value if isinstance(value, str) else json.dumps(value)}")
    if failure.get("code") == FailureCode.CONFLICT and details.get("target"):
        from gastown.daemon.alarm.followups import bring_in_target

        lines.append(bring_in_target(str(details["target"]), [str(f) for f in details.get("files") or []]))
    lines.append("Fix that first.")
    return "\n".join(lines) + "\n"


def prior_work(prior: dict[str, Any]) -> str:
    """Commits an earlier attempt left on this bead's branch: the turn continues from them
    (its branch starts there) instead of redoing the work; the failure follows below."""
    lines = [f"## Work already done on this bead (branch {prior['branch']})",
             "These commits are already on your branch; build on them, do not redo them:"]
    lines += [f"- {c['sha'][:12]} {c['subject']}" for c in prior["commits"]]
    return "\n".join(lines) + "\n\n"


def polecat(*, agent: str, town: str, bead: dict[str, Any], branch: str, base: str, instructions: str = "") -> str:
    return template("polecat").format_map(_Safe(
        agent=agent, town=town, rig=bead.get("rig") or "", bead_id=bead["id"], title=bead["title"],
        priority=bead.get("priority", 2), requested_by=bead.get("requested_by") or "a human",
        body=bead.get("body") or "", failure=failure_section(bead.get("failure_reason")),
        branch=branch, base=base,
        instructions=f"\n## Instructions from the town\n{instructions}\n" if instructions else "",
    ))


def refinery(*, agent: str, town: str, mr: dict[str, Any], bead: dict[str, Any], diff: str) -> str:
    limit = 40_000
    if len(diff) > limit:
        diff = diff[:limit] + f"\n... ({len(diff) - limit} more characters; read the branch for the rest)"
    return template("refinery").format_map(_Safe(
        agent=agent, town=town, rig=mr.get("rig") or "", mr_id=mr["id"], branch=mr["branch"],
        target=mr["target_branch"], bead_id=bead["id"], title=bead["title"], body=bead.get("body") or "",
        diff=diff or "(empty diff)",
    ))


def inbox(mail: list[dict[str, Any]], nudges: list[dict[str, Any]]) -> str:
    """Mail and nudges delivered at a turn boundary, ahead of the role prompt."""
    if not mail and not nudges:
        return ""
    lines = ["## Since your last turn"]
    for n in nudges:
        lines.append(f"- NUDGE from {n.get('source') or 'a human'}: {n['message']}")
    for m in mail:
        lines.append(f"- MAIL {m['id']} from {m['metadata'].get('from')}: {m['title']}")
        if m.get("body"):
            lines += ["    " + line for line in m["body"].splitlines()]
    lines.append("(`gt mail inbox` lists your mail; `gt mail read ID` marks a message read.)")
    return "\n".join(lines) + "\n\n"


def mayor(*, town: str, rigs: list[str]) -> str:
    return template("mayor").format_map(_Safe(town=town, rigs=", ".join(rigs) or "(none yet: `gt rig add`)"))


def triage(*, town: str, agent: str, bead: dict[str, Any], minutes: float, tail: str) -> str:
    return template("triage").format_map(_Safe(town=town, agent=agent, bead_id=bead["id"], title=bead["title"],
                                                minutes=f"{minutes:.0f}", tail=tail[-3000:] or "(no output)"))
