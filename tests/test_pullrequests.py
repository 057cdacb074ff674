"""What one look at a pull request concludes (approval, readiness, which feedback is new),
against the fake forge; and the PR body."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from gastown import forge as fg
from gastown.daemon.alarm import pullrequests
from gastown.fakeforge import FakeForge
from tests.conftest import make_repo


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[tuple[fg.Forge, FakeForge, int]]:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = make_repo(tmp_path / "work")
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    subprocess.run(["git", "-C", str(work), "switch", "-q", "-c", "gt/toast/x-1"], check=True)
    (work / "a.txt").write_text("a\n")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "a"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), "gt/toast/x-1"], check=True)
    with FakeForge(git_dir=bare) as fake:
        api = fg.build(fg.ForgeSpec("github", fake.url, "o/app", "t", "config"))
        pr = api.create_pr("gt/toast/x-1", "main", "a", "body")
        yield api, fake, pr.number


def look(api: fg.Forge, number: int, **meta: Any) -> dict[str, Any]:
    mr = {"id": "t-mr", "branch": "gt/toast/x-1", "target_branch": "main", "metadata": meta,
          "followup_open": meta.pop("followup_open", False)}
    return pullrequests.observe(api, number, mr, {"repo_path": "/nonexistent"})


def test_readiness_follows_each_reviewers_last_word(opened: tuple[fg.Forge, FakeForge, int]) -> None:
    api, fake, n = opened
    first = look(api, n)
    assert first["state"] == {"checks": "none", "failed_checks": [], "approved": False, "mergeable": True,
                              "head": first["pr"].head_sha, "ready": False}
    assert first["feedback"] is None and first["conflict"] is None
    fake.control("review", number=n, state="APPROVED", user="bob")
    fake.control("review", number=n, state="COMMENTED", user="carol")  # a comment is not a verdict
    assert look(api, n, seen=[])["state"]["ready"] is True
    fake.control("check", number=n, name="ci", conclusion="failure")
    assert look(api, n)["state"]["ready"] is False
    fake.control("check", number=n, name="ci", conclusion="success")
    fake.state.checks[first["pr"].head_sha].pop(0)
    changes = fake.control("review", number=n, state="CHANGES_REQUESTED", body="not yet", user="alice")
    blocked = look(api, n)
    assert blocked["state"]["approved"] is False
    assert blocked["feedback"]["seen"] == [f"review:{changes['id']}"] and "not yet" in blocked["feedback"]["body"]
    fake.control("review", number=n, state="APPROVED", user="alice")  # alice's last word now approves
    assert look(api, n, seen=[f"review:{changes['id']}"])["state"]["ready"] is True


def test_feedback_is_new_comments_only_never_our_replies(opened: tuple[fg.Forge, FakeForge, int]) -> None:
    api, fake, n = opened
    c = fake.control("comment", number=n, body="rename x", path="a.txt", line=1, user="alice")
    fb = look(api, n)["feedback"]
    assert fb["kind"] == "pr_feedback" and fb["seen"] == [f"comment:{c['id']}"]
    assert f"[{c['id']}] alice on a.txt:1: rename x" in fb["body"] and "gt pr reply" in fb["body"]
    assert look(api, n, followup_open=True)["feedback"] is None  # one follow-up at a time
    api.reply(n, str(c["id"]), "renamed")  # our own reply is never feedback
    assert look(api, n, seen=[f"comment:{c['id']}"])["feedback"] is None
    later = fake.control("comment", number=n, body="and y", user="alice", in_reply_to=c["id"])
    again = look(api, n, seen=[f"comment:{c['id']}"])["feedback"]
    assert again["seen"] == [f"comment:{later['id']}"] and f"[{c['id']}] alice: and y" in again["body"]


def test_pr_body_carries_the_gates_and_the_review() -> None:
    mr = {"body": "did the thing", "metadata": {"review": {"state": "approved", "agent": "refinery-app"}}}
    source = {"id": "t-1", "title": "do the thing", "requested_by": "ann"}
    gates = [{"name": "pytest", "exit_code": 0, "duration_s": 3.21}]
    body = pullrequests.pr_body(mr, source, gates)
    assert body.startswith("did the thing") and "`t-1`" in body and "Requested by ann." in body
    assert "| `pytest` | passed | 3.2 s |" in body and "approved by the refinery agent refinery-app" in body
    assert "No gates are configured" in pullrequests.pr_body({"body": ""}, source, [])
