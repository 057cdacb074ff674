"""GitLab's REST API v4 (gitlab.com or a self-managed host at https://HOST/api/v4).

Merge requests are addressed by their iid (the number people see); review comments are
the notes of resolvable discussions; a reply goes into the note's discussion."""

from __future__ import annotations

import urllib.parse
from typing import Any

from gastown.forge.base import Checks, Comment, Forge, ForgeError, Issue, PullRequest, Review


class GitLab(Forge):
    kind = "gitlab"

    def _headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token} if self.token else {}

    @property
    def _p(self) -> str:
        return "/projects/" + urllib.parse.quote(self.repo, safe="")

    def _mr(self, d: dict[str, Any]) -> PullRequest:
        state = {"opened": "open", "locked": "open"}.get(str(d.get("state")), str(d.get("state")))
        conflicts = d.get("has_conflicts") or d.get("detailed_merge_status") == "conflict" \
            or d.get("merge_status") == "cannot_be_merged"
        checking = d.get("merge_status") in ("unchecked", "checking") or d.get("detailed_merge_status") in (
            "unchecked", "checking", "preparing")
        return PullRequest(
            number=int(d["iid"]), url=str(d.get("web_url") or ""), state=state,
            head_branch=str(d["source_branch"]), head_sha=str(d.get("sha") or ""), base=str(d["target_branch"]),
            title=str(d.get("title") or ""), body=str(d.get("description") or ""),
            merge_sha=(d.get("merge_commit_sha") or d.get("squash_commit_sha")) if state == "merged" else None,
            mergeable=None if checking and not conflicts else not conflicts)

    def whoami(self) -> str:
        return str(self.request("GET", "/user")["username"])

    def check_repo(self) -> str:
        return str(self.request("GET", self._p)["default_branch"])

    def find_pr(self, head_branch: str) -> PullRequest | None:
        found = self.request("GET", f"{self._p}/merge_requests",
                             query={"state": "opened", "source_branch": head_branch}) or []
        found = [d for d in found if d.get("source_branch") == head_branch]
        return self._mr(found[0]) if found else None

    def create_pr(self, head_branch: str, base: str, title: str, body: str) -> PullRequest:
        return self._mr(self.request("POST", f"{self._p}/merge_requests", {
            "source_branch": head_branch, "target_branch": base, "title": title, "description": body}))

    def get_pr(self, number: int) -> PullRequest:
        return self._mr(self.request("GET", f"{self._p}/merge_requests/{number}"))

    def update_pr_body(self, number: int, body: str) -> None:
        self.request("PUT", f"{self._p}/merge_requests/{number}", {"description": body})

    def reviews(self, number: int) -> list[Review]:
        """Approvals count as approving reviews (GitLab has no per-review 'changes requested'
        in every edition: unresolved discussions carry that instead)."""
        try:
            d = self.request("GET", f"{self._p}/merge_requests/{number}/approvals") or {}
        except ForgeError as exc:
            if exc.status == 404:  # approvals are not available on every edition
                return []
            raise
        return [Review(id=f"approval-{(a.get('user') or {}).get('id')}",
                       author=str((a.get("user") or {}).get("username") or ""), state="approved")
                for a in d.get("approved_by", [])]

    def review_comments(self, number: int) -> list[Comment]:
        out = []
        for disc in self.request("GET", f"{self._p}/merge_requests/{number}/discussions",
                                 query={"per_page": 100}) or []:
            notes = [n for n in disc.get("notes", []) if not n.get("system")]
            for i, n in enumerate(notes):
                if not n.get("resolvable", True) or n.get("resolved"):
                    continue
                pos = n.get("position") or {}
                out.append(Comment(id=str(n["id"]), author=str((n.get("author") or {}).get("username") or ""),
                                   body=str(n.get("body") or ""), thread=str(disc["id"]),
                                   path=pos.get("new_path"), line=pos.get("new_line"),
                                   reply_to=str(notes[0]["id"]) if i else None))
        return out

    def reply(self, number: int, thread: str, body: str) -> Comment:
        d = self.request("POST", f"{self._p}/merge_requests/{number}/discussions/{thread}/notes", {"body": body})
        return Comment(id=str(d["id"]), author=str((d.get("author") or {}).get("username") or ""), body=body,
                       thread=thread, reply_to=thread)

    def checks(self, sha: str) -> Checks:
        pipelines = self.request("GET", f"{self._p}/pipelines", query={"sha": sha, "per_page": 1}) or []
        if not pipelines:
            return Checks("none")
        status = str(pipelines[0].get("status"))
        if status == "success":
            return Checks("success")
        if status in ("failed", "canceled"):
            return Checks("failure", [f"pipeline {pipelines[0].get('id')}"])
        if status == "skipped":
            return Checks("none")
        return Checks("pending")

    def merge(self, number: int, method: str = "merge") -> str:
        d = self.request("PUT", f"{self._p}/merge_requests/{number}/merge", {"squash": method == "squash"})
        return str(d.get("merge_commit_sha") or d.get("squash_commit_sha") or d.get("sha") or "")

    def list_issues(self, *, state: str = "open", labels: list[str] | None = None) -> list[Issue]:
        query: dict[str, Any] = {"state": {"open": "opened"}.get(state, state), "per_page": 100}
        if labels:
            query["labels"] = ",".join(labels)
        return [Issue(number=int(d["iid"]), title=str(d.get("title") or ""), body=str(d.get("description") or ""),
                      state="open" if d.get("state") == "opened" else str(d.get("state")),
                      url=str(d.get("web_url") or ""), labels=[str(x) for x in d.get("labels", [])],
                      author=str((d.get("author") or {}).get("username") or ""))
                for d in self.request("GET", f"{self._p}/issues", query=query) or []]

    def comment_issue(self, number: int, body: str) -> None:
        self.request("POST", f"{self._p}/issues/{number}/notes", {"body": body})

    def close_issue(self, number: int, comment: str | None = None) -> None:
        if comment:
            self.comment_issue(number, comment)
        self.request("PUT", f"{self._p}/issues/{number}", {"state_event": "close"})
