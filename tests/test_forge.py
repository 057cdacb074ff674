"""The forge layer (resolution, the GitHub client) against the fake forge backed by a real
bare git repository; the fake forge's own CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from gastown import forge as fg
from gastown.fakeforge import FakeForge
from tests.conftest import make_repo


def g(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


# ------------------------------------------------------------------ resolution
@pytest.mark.parametrize("url,expected", [
    ("https://github.com/o/r.git", ("github.com", "o/r")),
    ("git@github.com:o/r.git", ("github.com", "o/r")),
    ("ssh://git@gitlab.example.com:2222/group/sub/r.git", ("gitlab.example.com", "group/sub/r")),
    ("https://user@gitea.example.com/o/r", ("gitea.example.com", "o/r")),
    ("/srv/git/r.git", None),
    ("./r", None),
])
def test_parse_remote(url: str, expected: tuple[str, str] | None) -> None:
    assert fg.parse_remote(url) == expected


def test_resolve_kinds_api_urls_and_tokens() -> None:
    gh = fg.resolve("https://github.com/o/r.git", env={"GITHUB_TOKEN": "t1"})
    assert gh and (gh.kind, gh.api_url, gh.repo, gh.token, gh.token_source) == (
        "github", "https://api.github.com", "o/r", "t1", "env GITHUB_TOKEN")
    ghe = fg.resolve("git@github.corp.example:team/app.git", env={"GH_TOKEN": "t2"})
    assert ghe and ghe.api_url == "https://github.corp.example/api/v3" and ghe.token == "t2"
    gl = fg.resolve("https://gitlab.com/g/s/app.git", env={}, token="cfg")
    assert gl and (gl.kind, gl.api_url, gl.repo, gl.token_source) == ("gitlab", "https://gitlab.com/api/v4",
                                                                      "g/s/app", "config")
    assert fg.resolve("/srv/git/app.git", env={"GITHUB_TOKEN": "x"}) is None  # a plain path: no forge
    assert fg.resolve("https://git.example.com/o/r.git", env={}) is None  # an unknown host: no forge
    local = fg.resolve("/srv/git/app.git", api_url="http://127.0.0.1:9/", repo="o/app", env={})
    assert local and (local.kind, local.api_url, local.repo, local.token) == ("github", "http://127.0.0.1:9", "o/app", "")
    enterprise = fg.resolve("https://code.corp/o/r.git", kind="gitlab", env={"GITLAB_TOKEN": "z"})
    assert enterprise and enterprise.api_url == "https://code.corp/api/v4" and enterprise.token == "z"
    with pytest.raises(ValueError, match="forge.repo"):
        fg.resolve("/srv/git/app.git", api_url="http://127.0.0.1:9", env={})
    with pytest.raises(ValueError, match="forge.kind"):
        fg.resolve("https://github.com/o/r", kind="bitbucket", env={})


# ------------------------------------------------------------------ the GitHub client on the fake forge
@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin with main and two feature branches (one of them conflicting), and a clone."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work = make_repo(tmp_path / "work", {"README.md": "# app\n", "shared.txt": "base\n"})
    g(work, "push", "-q", str(bare), "main")
    for branch, name, text in (("feat-a", "a.txt", "a\n"), ("feat-b", "shared.txt", "theirs\n")):
        g(work, "switch", "-q", "-c", branch, "main")
        (work / name).write_text(text)
        g(work, "add", "-A")
        g(work, "commit", "-qm", branch)
        g(work, "push", "-q", str(bare), branch)
    g(work, "switch", "-q", "main")
    (work / "shared.txt").write_text("ours\n")
    g(work, "commit", "-qam", "main moves")
    g(work, "push", "-q", str(bare), "main")
    return bare, work


@pytest.fixture
def client(remote: tuple[Path, Path]) -> Iterator[tuple[fg.Forge, FakeForge]]:
    with FakeForge(git_dir=remote[0], token="sekrit") as fake:
        spec = fg.resolve(str(remote[0]), api_url=fake.url, repo="o/app", token="sekrit", env={})
        assert spec is not None
        yield fg.build(spec), fake


def test_pull_request_lifecycle(client: tuple[fg.Forge, FakeForge], remote: tuple[Path, Path]) -> None:
    api, fake = client
    assert api.whoami() == "gastown-bot" and api.check_repo() == "main"
    assert api.find_pr("feat-a") is None
    pr = api.create_pr("feat-a", "main", "Add a", "gates: ok")
    assert pr.number == 1 and pr.state == "open" and pr.head_sha == g(remote[0], "rev-parse", "feat-a")
    assert api.find_pr("feat-a") == pr
    with pytest.raises(fg.ForgeError) as dup:
        api.create_pr("feat-a", "main", "Add a", "again")
    assert dup.value.status == 422 and "already exists" in str(dup.value)
    assert api.get_pr(1).mergeable is True and api.checks(pr.head_sha).state == "none"

    fake.control("check", number=1, name="unit", status="in_progress", conclusion=None)
    assert api.checks(pr.head_sha).state == "pending"
    fake.control("check", number=1, name="lint", conclusion="failure")
    assert api.checks(pr.head_sha).state == "failure" and api.checks(pr.head_sha).failed == ["lint"]

    fake.control("review", number=1, state="CHANGES_REQUESTED", body="please rename", user="alice")
    c = fake.control("comment", number=1, body="typo here", path="a.txt", line=1, user="alice")
    assert [(r.author, r.state) for r in api.reviews(1)] == [("alice", "changes_requested")]
    comments = api.review_comments(1)
    assert [(x.author, x.body, x.path, x.thread) for x in comments] == [("alice", "typo here", "a.txt", str(c["id"]))]
    reply = api.reply(1, comments[0].thread, "fixed in the next commit")
    after = api.review_comments(1)
    assert after[-1].id == reply.id and after[-1].reply_to == str(c["id"]) and after[-1].author == "gastown-bot"

    sha = api.merge(1)
    assert sha == g(remote[0], "rev-parse", "main")  # a real merge commit on the bare origin
    assert g(remote[0], "rev-parse", f"{sha}^2") == pr.head_sha
    merged = api.get_pr(1)
    assert merged.state == "merged" and merged.merge_sha == sha
    with pytest.raises(fg.ForgeError) as again:
        api.merge(1)
    assert again.value.status == 405


def test_conflicting_pull_request_is_not_mergeable(client: tuple[fg.Forge, FakeForge]) -> None:
    api, fake = client
    pr = api.create_pr("feat-b", "main", "Change shared", "")
    assert api.get_pr(pr.number).mergeable is False
    with pytest.raises(fg.ForgeError, match="not mergeable"):
        api.merge(pr.number)
    fake.control("close", number=pr.number)
    assert api.get_pr(pr.number).state == "closed" and api.find_pr("feat-b") is None


def test_errors_carry_status_hint_and_retry_after(client: tuple[fg.Forge, FakeForge], remote: tuple[Path, Path]) -> None:
    api, fake = client
    wrong = fg.build(fg.ForgeSpec("github", api.api_url, "o/app", "wrong", "config"))
    with pytest.raises(fg.ForgeError) as bad:
        wrong.whoami()
    assert bad.value.status == 401 and bad.value.code == "forge_unauthorized" and "forge.token" in str(bad.value)
    fake.control("fail", path="/pulls", method="POST", status=403, count=1)
    with pytest.raises(fg.ForgeError) as forbidden:
        api.create_pr("feat-a", "main", "t", "b")
    assert forbidden.value.code == "forge_forbidden" and not forbidden.value.rate_limited
    fake.control("fail", path="/pulls", status=429, count=1, retry_after=7)
    with pytest.raises(fg.ForgeError) as limited:
        api.find_pr("feat-a")
    assert limited.value.rate_limited and limited.value.retry_after == 7.0
    assert api.create_pr("feat-a", "main", "t", "b").number == 1  # the rules were used up
    with pytest.raises(fg.ForgeError) as missing:
        api.get_pr(99)
    assert missing.value.code == "forge_not_found"
    down = fg.build(fg.ForgeSpec("github", "http://127.0.0.1:1", "o/app", "x", "config"))
    with pytest.raises(fg.ForgeError, match="unreachable") as unreachable:
        down.whoami()
    assert unreachable.value.status == 0


def test_issues_list_comment_close(client: tuple[fg.Forge, FakeForge]) -> None:
    api, fake = client
    fake.control("issue", title="Crash on start", body="trace", labels=["bug", "gastown"])
    fake.control("issue", title="Docs", labels=["docs"])
    api.create_pr("feat-a", "main", "a pull request is not an issue", "")
    issues = api.list_issues(labels=["gastown"])
    assert [(i.number, i.title, i.labels) for i in issues] == [(1, "Crash on start", ["bug", "gastown"])]
    assert len(api.list_issues()) == 2
    api.close_issue(1, comment="fixed by gastown")
    assert [i.number for i in api.list_issues()] == [2]
    state = fake.state.snapshot()
    assert state["issues"][0]["comments"][0]["body"] == "fixed by gastown"


def test_scripted_trigger_reviews_every_new_pull_request(remote: tuple[Path, Path]) -> None:
    script = [{"action": "review", "on": "pr_created", "state": "APPROVED", "user": "bot"}]
    with FakeForge(git_dir=remote[0], script=script) as fake:
        api = fg.build(fg.ForgeSpec("github", fake.url, "o/app", "", ""))
        pr = api.create_pr("feat-a", "main", "t", "b")
        assert [r.state for r in api.reviews(pr.number)] == ["approved"]


def test_fakeforge_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    proc = subprocess.run([sys.executable, "-m", "gastown.fakeforge", "--script", str(bad)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "must be a JSON list" in proc.stderr
    server = subprocess.Popen([sys.executable, "-m", "gastown.fakeforge", "--port", "0"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        api = fg.build(fg.ForgeSpec("github", line.split()[-1], "o/r", "", ""))
        assert api.whoami() == "gastown-bot"
        issue = json.loads(subprocess.run(
            ["curl", "-s", "-X", "POST", "-d", '{"title": "via control"}', line.split()[-1] + "/_fake/issue"],
            capture_output=True, text=True, timeout=30).stdout)
        assert issue["number"] == 1 and api.list_issues()[0].title == "via control"
    finally:
        server.terminate()
        server.wait(timeout=10)


# ------------------------------------------------------------------ the GitLab client on the fake forge's /api/v4
@pytest.fixture
def gitlab(remote: tuple[Path, Path]) -> Iterator[tuple[fg.Forge, FakeForge]]:
    with FakeForge(git_dir=remote[0], token="glpat") as fake:
        spec = fg.resolve(str(remote[0]), kind="gitlab", api_url=fake.url + "/api/v4", repo="group/app",
                          env={"GITLAB_TOKEN": "glpat"})
        assert spec is not None and spec.token_source == "env GITLAB_TOKEN"
        yield fg.build(spec), fake


def test_gitlab_merge_request_lifecycle(gitlab: tuple[fg.Forge, FakeForge], remote: tuple[Path, Path]) -> None:
    api, fake = gitlab
    assert api.kind == "gitlab" and api.whoami() == "gastown-bot" and api.check_repo() == "main"
    assert api.find_pr("feat-a") is None
    mr = api.create_pr("feat-a", "main", "Add a", "gates: ok")
    assert (mr.number, mr.state, mr.mergeable) == (1, "open", True) and "/-/merge_requests/1" in mr.url
    assert api.find_pr("feat-a") == mr and fake.state.pulls[1]["repo"] == "group/app"
    with pytest.raises(fg.ForgeError) as dup:
        api.create_pr("feat-a", "main", "Add a", "again")
    assert dup.value.status == 409
    assert api.checks(mr.head_sha).state == "none"
    fake.control("check", number=1, name="pipeline", status="running", conclusion=None)
    assert api.checks(mr.head_sha).state == "pending"
    fake.state.checks[mr.head_sha] = [{"id": 1, "name": "pipeline", "status": "completed", "conclusion": "failure"}]
    assert api.checks(mr.head_sha).state == "failure"

    note = fake.control("comment", number=1, body="typo", path="a.txt", line=1, user="alice")
    comments = api.review_comments(1)
    assert [(c.id, c.author, c.path, c.thread) for c in comments] == [(str(note["id"]), "alice", "a.txt",
                                                                       f"d{note['id']}")]
    api.reply(1, comments[0].thread, "fixed")
    after = api.review_comments(1)
    assert [c.body for c in after] == ["typo", "fixed"] and after[1].reply_to == str(note["id"])
    assert api.reviews(1) == []
    fake.control("review", number=1, state="APPROVED", user="bob")
    assert [(r.author, r.state) for r in api.reviews(1)] == [("bob", "approved")]

    sha = api.merge(1)
    assert sha == g(remote[0], "rev-parse", "main") and api.get_pr(1).state == "merged"
    assert api.get_pr(1).merge_sha == sha


def test_gitlab_conflict_issues_and_errors(gitlab: tuple[fg.Forge, FakeForge]) -> None:
    api, fake = gitlab
    mr = api.create_pr("feat-b", "main", "Change shared", "")
    assert api.get_pr(mr.number).mergeable is False
    fake.control("issue", title="Crash", labels=["gastown"])
    assert [(i.number, i.title, i.state) for i in api.list_issues(labels=["gastown"])] == [(2, "Crash", "open")]
    api.close_issue(2, comment="landed")
    assert api.list_issues() == [] and fake.state.issues[2]["comments"][0]["body"] == "landed"
    wrong = fg.build(fg.ForgeSpec("gitlab", api.api_url, "group/app", "nope", "config"))
    with pytest.raises(fg.ForgeError) as bad:
        wrong.whoami()
    assert bad.value.code == "forge_unauthorized"
