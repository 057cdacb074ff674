"""The pr strategy: gate, open, follow up.

Before a pull request opens, the branch goes through the same recipe as a direct merge
(merge onto the target in a scratch worktree, the rig's gates, and the review agent when
`refinery.code_review` is on) without landing; the results go in the PR body. Once the PR
is open the lane is free for the next MR, and each open PR is looked at on its own:
merged -> the bead closes with the merge sha; closed -> failed with the reason; review
comments or requested changes -> a `pr_feedback` bead for the polecat that opened it; a
conflict with the target -> a `pr_conflict` bead; approved and green with
`refinery.auto_merge` -> merged through the forge. A forge that refuses (401/403/404) or
rate-limits leaves its reason on the MR and the attempt is retried with backoff; a PR is
never opened twice (the branch's open PR is looked up first).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gastown import forge as fg
from gastown.daemon.runtime import hostgates
from gastown.daemon.vcs import git, refinery
from gastown.daemon.store import prstore
from gastown.daemon.alarm import turns
from gastown.forge.resolve import ENV_TOKENS
from gastown.model import FailureCode

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.pullrequests")


def forge_spec(town: "Town", rig: dict[str, Any]) -> fg.ForgeSpec | None:
    """The rig's forge from its config and remote (None: no forge, push only)."""
    name = rig["name"]
    return fg.resolve(rig["source"], kind=town.text("forge.kind", name), api_url=town.text("forge.api_url", name),
                      repo=town.text("forge.repo", name), token=town.text("forge.token", name))


def forge_for(town: "Town", rig: dict[str, Any]) -> fg.Forge | None:
    spec = forge_spec(town, rig)
    return fg.build(spec) if spec else None


def check(town: "Town", rig: dict[str, Any]) -> dict[str, Any]:
    """Blocking: can this rig open pull requests? {ok, detail} for `gt doctor` and `gt config set`."""
    try:
        spec = forge_spec(town, rig)
    except ValueError as exc:
        return {"ok": False, "detail": str(exc)}
    if spec is None:
        return {"ok": True, "detail": f"{rig['source']} is on no known forge: branches are pushed, a human opens "
                                      "and merges the PRs (set forge.api_url and forge.repo to use an API)"}
    if not spec.token:
        return {"ok": False, "detail": f"no token for {spec.describe()}: set forge.token, export "
                                       f"{'/'.join(ENV_TOKENS[spec.kind])} or log in with "
                                       f"{'gh' if spec.kind == 'github' else 'glab' if spec.kind == 'gitlab' else 'the CLI'}"}
    try:
        api = fg.build(spec)
        login = api.whoami()
        api.check_repo()
    except fg.ForgeError as exc:
        return {"ok": False, "detail": f"{spec.describe()}: {exc}"}
    return {"ok": True, "detail": f"{spec.describe()} as {login}"}


def pr_body(mr: dict[str, Any], source: dict[str, Any], gates: list[dict[str, Any]]) -> str:
    """What reviewers read: the summary, the bead, and the gates and review it passed."""
    lines = [mr.get("body") or "", "", f"Gastown bead `{source['id']}`: {source['title']}"]
    if source.get("requested_by"):
        lines.append(f"Requested by {source['requested_by']}.")
    lines += ["", "### Gates (run on this branch merged with the target before opening)"]
    if gates:
        lines += ["| gate | result | time |", "|---|---|---|"]
        for gate in gates:
            mark = "passed" if gate["exit_code"] == 0 else f"failed ({gate['exit_code']})"
            lines.append(f"| `{gate['name']}` | {mark} | {gate['duration_s']:.1f} s |")
    else:
        lines.append("No gates are configured for this rig (`refinery.gates`).")
    review = (mr.get("metadata") or {}).get("review") or {}
    if review.get("state") == "approved":
        lines += ["", f"Reviewed and approved by the refinery agent {review.get('agent')}."]
    return "\n".join(lines).strip() + "\n"


async def _forge_error(town: "Town", mr: dict[str, Any], exc: fg.ForgeError, doing: str) -> None:
    log.warning("%s for %s failed: %s", doing, mr["id"], exc)
    failure = {"code": exc.code, "message": f"{doing}: {exc}", "source": "forge", "status": exc.status}
    scale = town.number("dispatch.backoff_scale", mr["rig"])
    await town.call(prstore.forge_failed, town.store, mr["id"], failure, exc.retry_after, scale)


async def open_step(town: "Town", mr: dict[str, Any], rig: dict[str, Any], starter: turns.TurnStarter) -> None:
    """Gate (and review) the branch, push it and open its PR (or find the one already open)."""
    from gastown.daemon.alarm.mergequeue import MAX_REQUEUES, review_gate

    store = town.store
    branch, target = mr["branch"], mr["target_branch"]
    if mr["metadata"].get("gated_head") != mr["head_sha"]:
        if town.flag("refinery.code_review", rig["name"]) and not await review_gate(town, mr, rig, starter):
            return
        human = turns.human_identity(mr["requested_by"])
        in_container = starter.runtime.gate_runner()  # a container town: gates run in its container
        result = await asyncio.to_thread(
            refinery.process, rig["repo_path"], rig["source"], branch, target,
            mode=town.text("refinery.merge_mode", rig["name"]),
            gates=refinery.parse_gates(town.items("refinery.gates", rig["name"])),
            identity={"name": human[0], "email": human[1]}, expect_head=mr["head_sha"], land_it=False,
            gate_runner=in_container or hostgates.host_gate, workdir=town.root / "merges" if in_container else None)
        if not result.ok:
            if result.retry and mr["retry_count"] < MAX_REQUEUES:
                await town.call(store.mr_requeue, mr["id"], result.message)
            else:
                await town.call(store.mr_failed, mr["id"], result.failure(), gates=result.gates,
                                max_retries=town.whole("refinery.max_retries", rig["name"]))
            return
        await town.call(prstore.pr_gated, store, mr["id"], result.gates, mr["head_sha"])
        mr = await town.call(store.mr_get, mr["id"])
    try:
        api = await asyncio.to_thread(forge_for, town, rig)
    except ValueError as exc:
        await _forge_error(town, mr, fg.ForgeError(str(exc)), "reading the forge config")
        return
    try:
        await asyncio.to_thread(refinery.push_branch, rig["repo_path"], branch)
    except git.GitError as exc:
        await _forge_error(town, mr, fg.ForgeError(f"pushing {branch}: {exc}"), "git push")
        return
    if api is None:
        await town.call(prstore.pr_opened, store, mr["id"], None, None, found=False)
        return
    source = await town.call(store.bead_row, mr["source_bead_id"])
    try:
        pr = await asyncio.to_thread(api.find_pr, branch)
        found = pr is not None
        if pr is None:
            pr = await asyncio.to_thread(api.create_pr, branch, target, source["title"],
                                         pr_body(mr, source, mr["gates"]))
    except fg.ForgeError as exc:
        await _forge_error(town, mr, exc, "opening the pull request")
        return
    await town.call(prstore.pr_opened, store, mr["id"], pr.url, pr.number, found=found)


async def poll_step(town: "Town", mr: dict[str, Any], rig: dict[str, Any]) -> None:
    """One look at an open PR; the outcome lands in the store."""
    store = town.store
    number = mr["metadata"].get("pr_number")
    api = await asyncio.to_thread(forge_for, town, rig) if number else None
    if api is None or not number:
        await legacy_poll(town, mr, rig)
        return
    mr = {**mr, "followup_open": await town.call(prstore.followup_open, store, mr["id"])}
    try:
        look = await asyncio.to_thread(observe, api, int(number), mr, rig)
    except fg.ForgeError as exc:
        await _forge_error(town, mr, exc, "following the pull request")
        return
    pr = look["pr"]
    if pr.state == "merged":
        await town.call(prstore.pr_merged, store, mr["id"], merge_commit=pr.merge_sha or pr.head_sha,
                        target=mr["target_branch"])
        await asyncio.to_thread(refinery.retire_branch, rig["repo_path"], mr["branch"], remote=True)
        return
    if pr.state == "closed":
        await town.call(prstore.pr_closed, store, mr["id"], f"pull request #{number} was closed without merging")
        return
    await town.call(prstore.pr_observed, store, mr["id"], look["state"])
    if look["conflict"] is not None:
        await town.call(prstore.followup_create, store, mr["id"], **look["conflict"])
    elif look["feedback"] is not None:
        await town.call(prstore.followup_create, store, mr["id"], **look["feedback"])
    elif look["state"]["ready"] and town.flag("refinery.auto_merge", rig["name"]):
        mode = town.text("refinery.merge_mode", rig["name"])
        try:
            sha = await asyncio.to_thread(api.merge, int(number), mode)
        except fg.ForgeError as exc:
            await _forge_error(town, mr, exc, "merging the pull request")
            return
        await town.call(prstore.pr_merged, store, mr["id"], merge_commit=sha or pr.head_sha,
                        target=mr["target_branch"])
        await asyncio.to_thread(refinery.retire_branch, rig["repo_path"], mr["branch"], remote=True)


def observe(api: fg.Forge, number: int, mr: dict[str, Any], rig: dict[str, Any]) -> dict[str, Any]:
    """Blocking: the PR, its checks and reviews, and which follow-up (if any) it calls for."""
    from gastown.daemon.alarm import followups

    pr = api.get_pr(number)
    out: dict[str, Any] = {"pr": pr, "conflict": None, "feedback": None, "state": {}}
    if pr.state != "open":
        return out
    reviews = api.reviews(number)
    comments = api.review_comments(number)
    checks = api.checks(pr.head_sha) if pr.head_sha else fg.Checks("none")
    latest: dict[str, str] = {}
    for review in reviews:
        if review.state in ("approved", "changes_requested", "dismissed"):
            latest[review.author] = review.state
    approved = bool(latest) and all(s in ("approved", "dismissed") for s in latest.values()) and \
        "approved" in latest.values()
    out["state"] = {"checks": checks.state, "failed_checks": checks.failed, "approved": approved,
                    "mergeable": pr.mergeable, "head": pr.head_sha,
                    "ready": approved and checks.state in ("success", "none") and pr.mergeable is True}
    meta = mr["metadata"]
    open_followup = bool(mr.get("followup_open"))
    if pr.mergeable is False and meta.get("conflict_head") != pr.head_sha:
        files = refinery.conflict_files(rig["repo_path"], mr["branch"], mr["target_branch"])
        out["conflict"] = followups.conflict(mr, pr, files)
        return out
    me = _login(api)
    seen = set(meta.get("seen", []))
    fresh_reviews = [r for r in reviews if r.state == "changes_requested" and f"review:{r.id}" not in seen
                     and r.author != me]
    fresh = [c for c in comments if f"comment:{c.id}" not in seen and c.author != me]
    if (fresh_reviews or fresh) and not open_followup:
        out["feedback"] = followups.feedback(mr, pr, fresh_reviews, fresh)
    return out


_LOGINS: dict[tuple[str, str], str] = {}


def _login(api: fg.Forge) -> str:
    """Who our token is (our own replies are never feedback); asked once per forge and token."""
    key = (api.api_url, api.token)
    if key not in _LOGINS:
        _LOGINS[key] = api.whoami()
    return _LOGINS[key]


async def legacy_poll(town: "Town", mr: dict[str, Any], rig: dict[str, Any]) -> None:
    """No forge API: the branch was only pushed; a human merges it (seen in git) or deletes it."""
    store = town.store
    state, sha = await asyncio.to_thread(refinery.poll_pr, rig["repo_path"], mr["branch"], mr["target_branch"],
                                         mr["head_sha"], mr["pr_url"])
    if state == "merged" and sha:
        await town.call(store.mr_merged, mr["id"], merge_commit=sha, landed_on=mr["target_branch"],
                        gates=mr["gates"], message=f"pull request merged into {mr['target_branch']}")
        await asyncio.to_thread(refinery.retire_branch, rig["repo_path"], mr["branch"], remote=True)
    elif state == "closed":
        await town.call(store.mr_failed, mr["id"], {"code": FailureCode.PR_CLOSED, "message": "the pull request was closed "
                        "without merging", "source": "refinery"}, gates=mr["gates"],
                        max_retries=town.whole("refinery.max_retries", rig["name"]))
