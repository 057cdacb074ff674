"""Issues as beads: a forge's issues come in as beads with a link back, and when such a
bead lands the issue hears about it (a comment with the merge; closing it is optional,
`forge.close_issues`).

Import is idempotent: an issue already imported (same URL) is skipped. The landing comment
is recorded as intended before it is posted and as posted after, so a crash never posts it
twice (at worst, a daemon death in the middle of the call leaves it unposted and logged);
a forge error leaves it pending for the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gastown import forge as fg
from gastown.protocol import ErrorCode, RpcError

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.issuesync")
Row = dict[str, Any]


def forge_of(town: "Town", rig: Row, repo: str | None) -> fg.Forge:
    name = rig["name"]
    try:
        spec = fg.resolve(rig["source"], kind=town.text("forge.kind", name),
                          api_url=town.text("forge.api_url", name),
                          repo=repo or town.text("forge.repo", name), token=town.text("forge.token", name))
    except ValueError as exc:
        raise RpcError(ErrorCode.INVALID_PARAMS, str(exc)) from None
    if spec is None:
        raise RpcError(ErrorCode.INVALID_STATE, f"rig {name} has no forge: its origin is not on a known forge "
                       "(set forge.kind and forge.api_url)")
    if repo and spec.repo != repo:
        spec = fg.ForgeSpec(spec.kind, spec.api_url, repo, spec.token, spec.token_source, spec.host)
    return fg.build(spec)


def fetch(forge: fg.Forge, labels: list[str]) -> list[fg.Issue]:
    """Blocking: the open issues (with every given label)."""
    try:
        return forge.list_issues(state="open", labels=labels or None)
    except fg.ForgeError as exc:
        raise RpcError(ErrorCode.EXTERNAL, f"listing issues of {forge.repo}: {exc}") from None


def add_beads(store: Any, issues: list[fg.Issue], *, rig: str, repo: str, kind: str,
              actor: str | None) -> Row:
    """One transaction: a bead per issue not imported before."""
    items = []
    for issue in issues:
        body = (issue.body or "").strip()
        body = f"{body}\n\nFrom {issue.url}" if body else f"From {issue.url}"
        items.append({"title": issue.title[:500] or f"issue #{issue.number}", "body": body[:100_000],
                      "labels": [lb[:100] for lb in issue.labels if lb.strip()],
                      "issue": {"url": issue.url, "number": issue.number, "repo": repo, "forge": kind,
                                "author": issue.author}})
    created = store.issues_add(items, rig=rig, actor=actor)
    return {"id": repo, "created": created, "skipped": len(issues) - len(created), "total": len(issues)}


# --------------------------------------------------------------- landing back


async def announce(town: "Town", retry_at: dict[str, float]) -> int:
    """Tell each landed issue where its work went; returns how many were told. A forge error
    backs off per bead (`retry_at`: bead -> loop time of the next try, doubling to an hour)."""
    pending = await town.call(town.store.landed_unannounced)
    told = 0
    now = asyncio.get_running_loop().time()
    for item in pending:
        if retry_at.get(item["id"], 0.0) > now:
            continue
        rig = await town.call(town.store.rig_get, item["rig"]) if item["rig"] else None
        if rig is None:
            continue
        close = town.flag("forge.close_issues", rig["name"])
        text = (f"Landed by Gastown in {item['sha'][:12]} on `{item['branch'] or 'the target branch'}` "
                f"(bead {item['id']}).")
        await town.call(town.store.issue_mark, item["id"], "posting")
        try:
            forge = forge_of(town, rig, item["issue"].get("repo"))
            number = int(item["issue"]["number"])
            await asyncio.to_thread(forge.close_issue if close else forge.comment_issue, number, text)
        except (fg.ForgeError, RpcError, OSError) as exc:
            log.warning("telling issue %s about %s failed (will retry): %s", item["issue"].get("url"), item["id"], exc)
            await town.call(town.store.issue_unmark, item["id"])
            wait = min(3600.0, 2 * max(30.0, retry_at.get(item["id"] + ":wait", 15.0)))
            retry_at[item["id"] + ":wait"], retry_at[item["id"]] = wait, now + wait
            continue
        await town.call(town.store.issue_mark, item["id"], "posted")
        told += 1
    return told


