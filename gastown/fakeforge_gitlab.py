"""The GitLab v4 dialect of the fake forge (under /api/v4): the same pull requests, reviews,
comments, checks and issues as the GitHub dialect, shaped as merge requests, approvals,
discussions, pipelines and notes. Stdlib only."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from gastown.fakeforge import JSON, FakeError, ForgeState

P = r"/projects/(?P<repo>[^/]+)"
ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/user", "user"),
    ("GET", P, "project"),
    ("GET", P + r"/merge_requests", "list_mrs"),
    ("POST", P + r"/merge_requests", "create_mr"),
    ("GET", P + r"/merge_requests/(?P<n>\d+)", "get_mr"),
    ("PUT", P + r"/merge_requests/(?P<n>\d+)", "put_mr"),
    ("GET", P + r"/merge_requests/(?P<n>\d+)/approvals", "approvals"),
    ("GET", P + r"/merge_requests/(?P<n>\d+)/discussions", "discussions"),
    ("POST", P + r"/merge_requests/(?P<n>\d+)/discussions/(?P<d>[^/]+)/notes", "reply"),
    ("PUT", P + r"/merge_requests/(?P<n>\d+)/merge", "merge"),
    ("GET", P + r"/pipelines", "pipelines"),
    ("GET", P + r"/issues", "list_issues"),
    ("POST", P + r"/issues/(?P<n>\d+)/notes", "issue_note"),
    ("PUT", P + r"/issues/(?P<n>\d+)", "put_issue"),
]


class GitLabApi:
    def __init__(self, state: ForgeState) -> None:
        self.s = state

    def _mr(self, pr: JSON) -> JSON:
        v = self.s.pull_view(pr)
        state = "merged" if v["merged"] else "opened" if v["state"] == "open" else "closed"
        conflict = v.get("mergeable") is False
        return {"iid": v["number"], "id": v["id"], "web_url": v["html_url"].replace("/pull/", "/-/merge_requests/"),
                "state": state, "source_branch": v["head"]["ref"], "target_branch": v["base"]["ref"],
                "sha": v["head"]["sha"], "title": v["title"], "description": v["body"],
                "merge_commit_sha": v["merge_commit_sha"], "has_conflicts": conflict,
                "merge_status": "cannot_be_merged" if conflict else "can_be_merged",
                "detailed_merge_status": "conflict" if conflict else "mergeable"}

    def user(self, p: JSON, q: JSON, b: JSON) -> Any:
        return {"username": self.s.login, "id": 1}

    def project(self, p: JSON, q: JSON, b: JSON) -> Any:
        return {"path_with_namespace": unquote(p["repo"]), "default_branch": "main"}

    def list_mrs(self, p: JSON, q: JSON, b: JSON) -> Any:
        repo, state = unquote(p["repo"]), {"opened": "open"}.get(q.get("state", "opened"), q.get("state"))
        return [self._mr(pr) for pr in self.s.pulls.values() if pr["repo"] == repo
                and (state == "all" or pr["state"] == state)
                and (not q.get("source_branch") or pr["head"]["ref"] == q["source_branch"])]

    def create_mr(self, p: JSON, q: JSON, b: JSON) -> Any:
        if any(pr["head"]["ref"] == b.get("source_branch") and pr["state"] == "open" for pr in self.s.pulls.values()):
            raise FakeError(409, "Another open merge request already exists for this source branch")
        pr = self.s.create_pull(unquote(p["repo"]), {"title": b.get("title"), "head": b.get("source_branch"),
                                                     "base": b.get("target_branch"), "body": b.get("description")})
        return 201, self._mr(self.s.pull(int(pr["number"])))

    def get_mr(self, p: JSON, q: JSON, b: JSON) -> Any:
        return self._mr(self.s.pull(int(p["n"])))

    def put_mr(self, p: JSON, q: JSON, b: JSON) -> Any:
        pr = self.s.pull(int(p["n"]))
        if "description" in b:
            pr["body"] = b["description"]
        return self._mr(pr)

    def approvals(self, p: JSON, q: JSON, b: JSON) -> Any:
        pr = self.s.pull(int(p["n"]))
        by = [{"user": {"username": r["user"]["login"], "id": r["id"]}} for r in pr["reviews"]
              if r["state"] == "APPROVED"]
        return {"approved": bool(by), "approved_by": by}

    def discussions(self, p: JSON, q: JSON, b: JSON) -> Any:
        pr = self.s.pull(int(p["n"]))
        threads: dict[int, list[JSON]] = {}
        for c in pr["comments"]:
            threads.setdefault(int(c.get("in_reply_to_id") or c["id"]), []).append(c)
        return [{"id": f"d{top}", "notes": [
            {"id": c["id"], "body": c["body"], "author": {"username": c["user"]["login"]}, "system": False,
             "resolvable": True, "resolved": False,
             "position": {"new_path": c.get("path"), "new_line": c.get("line")} if c.get("path") else None}
            for c in notes]} for top, notes in threads.items()]

    def reply(self, p: JSON, q: JSON, b: JSON) -> Any:
        pr = self.s.pull(int(p["n"]))
        top = p["d"].removeprefix("d")
        if not any(str(c["id"]) == top for c in pr["comments"]):
            raise FakeError(404, "404 Discussion Not Found")
        note = {"id": self.s.new_id(), "user": {"login": self.s.login}, "body": b.get("body", ""),
                "in_reply_to_id": int(top), "path": None, "line": None}
        pr["comments"].append(note)
        return 201, {"id": note["id"], "body": note["body"], "author": {"username": self.s.login}}

    def merge(self, p: JSON, q: JSON, b: JSON) -> Any:
        self.s.merge(int(p["n"]), "squash" if b.get("squash") else "merge", by=self.s.login)
        return self._mr(self.s.pull(int(p["n"])))

    def pipelines(self, p: JSON, q: JSON, b: JSON) -> Any:
        runs = self.s.checks.get(q.get("sha", ""), [])
        if not runs:
            return []
        if any(r["status"] != "completed" for r in runs):
            status = "running"
        else:
            status = "failed" if any(r["conclusion"] not in ("success", "neutral", "skipped") for r in runs) \
                else "success"
        return [{"id": runs[0]["id"], "sha": q.get("sha"), "status": status}]

    def list_issues(self, p: JSON, q: JSON, b: JSON) -> Any:
        state = {"opened": "open"}.get(q.get("state", "opened"), q.get("state"))
        labels = {x for x in q.get("labels", "").split(",") if x}
        return [{"iid": i["number"], "title": i["title"], "description": i["body"],
                 "state": "opened" if i["state"] == "open" else "closed", "web_url": i["html_url"],
                 "labels": [lb["name"] for lb in i["labels"]], "author": {"username": i["user"]["login"]}}
                for i in self.s.issues.values()
                if (state == "all" or i["state"] == state) and labels <= {lb["name"] for lb in i["labels"]}]

    def _issue(self, n: str) -> JSON:
        if int(n) not in self.s.issues:
            raise FakeError(404, "404 Issue Not Found")
        return self.s.issues[int(n)]

    def issue_note(self, p: JSON, q: JSON, b: JSON) -> Any:
        note = {"id": self.s.new_id(), "user": {"login": self.s.login}, "body": b.get("body", "")}
        self._issue(p["n"])["comments"].append(note)
        return 201, note

    def put_issue(self, p: JSON, q: JSON, b: JSON) -> Any:
        issue = self._issue(p["n"])
        if b.get("state_event") == "close":
            issue["state"] = "closed"
        return {"iid": issue["number"], "state": "opened" if issue["state"] == "open" else "closed"}
