"""The pr strategy end to end: a real daemon, scripted polecats, a bare origin, and the fake
forge (python -m gastown.fakeforge in-process) speaking GitHub's REST API over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from gastown.fakeforge import FakeForge
from tests.conftest import make_repo, run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow

GATE = "test -f a.txt || test -f b.txt"
# First turn writes the file; a review follow-up (GT_PR_THREADS set) amends it and answers each
# thread; a conflict follow-up (the target moved) merges the target, keeping its own side.
SCRIPT_A = ('if [ -n "$GT_PR_THREADS" ]; then echo renamed >> a.txt; '
            'for t in $GT_PR_THREADS; do gt pr reply "$t" "renamed as asked"; done; else echo a > a.txt; fi')
SCRIPT_B = ('if git merge-base --is-ancestor origin/main HEAD; then echo b > b.txt; '
            'else git merge -q -X ours --no-edit origin/main; fi')


def cfg(key: str, value: Any) -> subprocess.CompletedProcess[str]:
    return run_gt("config", "set", key, json.dumps(value))


def git_out(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def forge_town(gt_home: Path) -> Iterator[tuple[Path, FakeForge]]:
    remote = gt_home / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    seed = make_repo(gt_home / "seed", {"README.md": "# app\n"})
    subprocess.run(["git", "-C", str(seed), "push", "-q", str(remote), "main"], check=True)
    with FakeForge(git_dir=remote, token="sekrit") as fake:
        run_gt("town", "create", "t", check=True)
        run_gt("rig", "add", "app", str(remote), check=True)
        os.environ["GT_TOWN"] = "t"
        try:
            for key, value in (("dispatch.backoff_scale", 0), ("forge.api_url", fake.url), ("forge.repo", "o/app"),
                               ("refinery.pr_poll_seconds", 0.2), ("refinery.gates", [GATE])):
                assert cfg(key, value).returncode == 0
            yield remote, fake
        finally:
            os.environ.pop("GT_TOWN", None)
            run_gt("daemon", "stop")


def pulls(fake: FakeForge) -> list[dict[str, Any]]:
    with fake.state.lock:
        return [fake.state.pull_view(p) for p in fake.state.pulls.values()]


def mr_of(source_id: str) -> dict[str, Any] | None:
    mrs = [m for m in gtj("mq", "list") if m["source_bead_id"] == source_id]
    return mrs[-1] if mrs else None


def test_credentials_are_checked_and_a_403_is_reported_then_retried(forge_town: tuple[Path, FakeForge]) -> None:
    _, fake = forge_town
    assert cfg("forge.token", "wrong").returncode == 0
    refused = cfg("refinery.strategy", "pr")
    assert refused.returncode != 0 and "HTTP 401" in refused.stderr and "forge.token" in refused.stderr
    assert gtj("config", "get", "refinery.strategy")[0]["value"] == "direct"  # nothing changed
    assert cfg("forge.token", "sekrit").returncode == 0
    assert cfg("refinery.strategy", "pr").returncode == 0
    listed = {r["key"]: r["value"] for r in gtj("config", "get")}
    assert listed["forge.token"] == "********"  # masked when the configuration is listed
    doctor = {r["check"]: r for r in gtj("doctor")}
    assert doctor["forge t/app"]["ok"] and "as gastown-bot" in doctor["forge t/app"]["detail"]

    assert cfg("refinery.code_review", True).returncode == 0  # the review agent judges before the PR opens
    fake.control("fail", path="/pulls", method="POST", status=403, count=1)
    slung = gtj("sling", "file a", "--rig", "app", "--script", "echo a > a.txt")[0]
    mr = wait_for(lambda: (m := mr_of(slung["id"])) and m["pr_url"] and m, 60, "the PR opened after the 403")
    events = [e for e in gtj("bead", "events", mr["id"]) if e["event_type"] == "forge_error"]
    assert len(events) == 1 and events[0]["new_value"] == "forge_forbidden" and "HTTP 403" in json.dumps(events[0])
    assert len(pulls(fake)) == 1 and mr["pr_url"] == pulls(fake)[0]["html_url"]  # opened once
    assert "approved by the refinery agent" in pulls(fake)[0]["body"]
    reviews = [e for e in gtj("bead", "events", mr["id"]) if e["event_type"] == "review_approved"]
    assert len(reviews) == 1  # the retry after the 403 did not review (or gate) again
    shown = gtj("mq", "show", mr["id"])[0]
    assert "forge_error" not in shown["metadata"]  # cleared once the forge answered

    # the forge creates the PR but its answer is lost (a 502 after the effect): the retry finds
    # the open PR for the branch instead of opening a second one
    fake.control("fail", path="/pulls", method="POST", status=502, count=1, after=True)
    second = gtj("sling", "file b", "--rig", "app", "--script", "echo b > b.txt")[0]
    mr2 = wait_for(lambda: (m := mr_of(second["id"])) and m["pr_url"] and m, 60, "the second PR recorded")
    assert len(pulls(fake)) == 2 and mr2["pr_url"] == [p for p in pulls(fake) if p["head"]["ref"] == mr2["branch"]][0][
        "html_url"]
    found = [e for e in gtj("bead", "events", mr2["id"]) if e["event_type"] == "pr_created"]
    meta = found[0]["metadata"]
    assert len(found) == 1 and (json.loads(meta) if isinstance(meta, str) else meta)["found"] is True


def test_prs_in_flight_feedback_conflict_merge_and_close(forge_town: tuple[Path, FakeForge], gt_home: Path) -> None:
    remote, fake = forge_town
    assert cfg("forge.token", "sekrit").returncode == 0
    assert cfg("refinery.strategy", "pr").returncode == 0
    a = gtj("sling", "file a", "--rig", "app", "--script", SCRIPT_A)[0]
    b = gtj("sling", "file b", "--rig", "app", "--script", SCRIPT_B)[0]

    # two pull requests in flight at once, each with the gate results it was opened with
    wait_for(lambda: len(pulls(fake)) == 2, 90, "two PRs open")
    for pr in pulls(fake):
        assert pr["state"] == "open" and "### Gates" in pr["body"] and f"`{GATE}`" in pr["body"] \
            and "| passed |" in pr["body"]
    mr_a, mr_b = mr_of(a["id"]), mr_of(b["id"])
    assert mr_a and mr_b and mr_a["status"] == mr_b["status"] == "in_progress"
    by_branch = {p["head"]["ref"]: p for p in pulls(fake)}
    assert mr_a["pr_url"] == by_branch[mr_a["branch"]]["html_url"] and mr_a["gates"][0]["exit_code"] == 0
    num_a, num_b = by_branch[mr_a["branch"]]["number"], by_branch[mr_b["branch"]]["number"]
    shown = run_gt("mq", "show", mr_a["id"], check=True).stdout
    assert "opened with these gate results" in shown and f"gate {GATE}: ok" in shown

    # a review comment becomes a feedback bead the same polecat answers with a commit and a reply
    note = fake.control("comment", number=num_a, body="please rename", path="a.txt", line=1, user="alice")
    feedback = wait_for(lambda: next((x for x in gtj("bead", "list", "--type", "issue")
                                      if x["metadata"].get("followup") == "pr_feedback"), None), 60, "feedback bead")
    assert "please rename" in feedback["body"] and f"[{note['id']}]" in feedback["body"]
    wait_for(lambda: bead(feedback["id"])["status"] == "closed", 90, "feedback answered")
    assert bead(feedback["id"])["assignee"] == bead(a["id"])["assignee"]  # the polecat that opened the PR
    replies = [c for c in fake.state.pulls[num_a]["comments"] if c.get("in_reply_to_id") == note["id"]]
    assert [r["body"] for r in replies] == ["renamed as asked"]
    assert git_out(remote, "show", f"{mr_a['branch']}:a.txt").splitlines() == ["a", "renamed"]
    assert bead(a["id"])["status"] == "in_review"  # still waiting for a human to merge

    # the target moves under PR b: a conflict bead says which file; the polecat merges the target in
    human = gt_home / "human"
    subprocess.run(["git", "clone", "-q", str(remote), str(human)], check=True)
    (human / "b.txt").write_text("from main\n")
    git_out(human, "add", "-A")
    git_out(human, "commit", "-qm", "main touches b.txt")
    git_out(human, "push", "-q", "origin", "main")
    conflict = wait_for(lambda: next((x for x in gtj("bead", "list", "--type", "issue")
                                      if x["metadata"].get("followup") == "pr_conflict"), None), 60, "conflict bead")
    assert conflict["metadata"]["files"] == ["b.txt"] and "git merge origin/main" in conflict["body"]
    wait_for(lambda: bead(conflict["id"])["status"] == "closed", 90, "conflict resolved")
    wait_for(lambda: fake.state.pull_view(fake.state.pulls[num_b])["mergeable"] is True, 30, "PR b mergeable")

    # a human merges PR a: the bead closes with the merge sha; a human closes PR b: it fails
    merged = fake.control("merge", number=num_a)
    wait_for(lambda: bead(a["id"])["status"] == "closed", 30, "source a closed")
    assert gtj("mq", "show", mr_a["id"])[0]["merge_commit"] == merged["sha"] == git_out(remote, "rev-parse", "main")
    fake.control("close", number=num_b)
    wait_for(lambda: bead(b["id"])["status"] == "failed", 30, "source b failed")
    assert "closed without merging" in bead(b["id"])["failure_reason"]["message"]


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_auto_merge_when_approved_and_green(forge_town: tuple[Path, FakeForge], kind: str) -> None:
    remote, fake = forge_town
    if kind == "gitlab":  # the same flow through the GitLab client and the fake's /api/v4 dialect
        assert cfg("forge.kind", "gitlab").returncode == 0 and cfg("forge.api_url", fake.url + "/api/v4").returncode == 0
    for key, value in (("forge.token", "sekrit"), ("refinery.strategy", "pr"), ("refinery.auto_merge", True)):
        assert cfg(key, value).returncode == 0
    fake.control("check", on="pr_created", name="ci", status="in_progress", conclusion=None)
    slung = gtj("sling", "file a", "--rig", "app", "--script", "echo a > a.txt")[0]
    wait_for(lambda: len(pulls(fake)) == 1, 60, "PR open")
    number = pulls(fake)[0]["number"]
    wait_for(lambda: (m := mr_of(slung["id"])) and (m.get("metadata") or gtj("mq", "show", m["id"])[0]["metadata"])
             .get("pr_state", {}).get("checks") == "pending", 30, "pending checks seen")
    assert pulls(fake)[0]["state"] == "open"  # not approved, checks running: no merge
    fake.control("review", number=number, state="APPROVED", user="alice")
    fake.control("check", number=number, name="ci", conclusion="success")
    assert pulls(fake)[0]["state"] == "open"  # one run still says in_progress
    with fake.state.lock:
        fake.state.checks[pulls(fake)[0]["head"]["sha"]].pop(0)
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 30, "auto-merged")
    mr = mr_of(slung["id"])
    assert mr and mr["merge_commit"] == git_out(remote, "rev-parse", "main") == fake.state.pulls[number]["merge_commit_sha"]
