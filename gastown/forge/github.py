"""GitHub's REST API (github.com, GitHub Enterprise at https://HOST/api/v3, or any compatible
server such as the fake forge). Gitea and Forgejo speak nearly the same dialect under
/api/v1; the differences are handled here by `kind`."""

from __future__ import annotations

import urllib.parse
from typing import Any

from gastown.forge.base import Checks, Comment, Forge, Issue, PullRequest, Review

REVIEW_STATES = {"APPROVED": "approved", "CHANGES_REQUESTED": "changes_requested", "COMMENTED": "commented",
                 "DISMISSED": "dismissed", "REQUEST_CHANGES": "changes_requested", "COMMENT": "commented"}


class GitHub(Forge):
    kind = "github"

    def _headers(self) -> dict[str, str]:
        headers = {"X-GitHub-Api-Version": "2022-11-28"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}" if self.kind == "github" else f"token {self.token}"
        return headers

    @property
    def _r(self) -> str:
        return f"/repos/{self.repo}"

    def _pr(self, d: dict[str, Any]) -> PullRequest:
        merged = bool(d.get("merged") or d.get("merged_at"))
        return PullRequest(
            number=int(d["number"]), url=str(d.get("html_url") or d.get("url") or ""),
            state="merged" if merged else str(d.get("state") or "open"),
            head_branch=str(d["head"]["ref"]), head_sha=str(d["head"].get("sha") or ""), base=str(d["base"]["ref"]),
            title=str(d.get("title") or ""), body=str(d.get("body") or ""),
            merge_sha=d.get("merge_commit_sha") if merged else None,
            mergeable=d.get("mergeable") if isinstance(d.get("mergeable"), bool) else None)

    def whoami(self) -> str:
        return str(self.request("GET", "/user")["login"])

    def check_repo(self) -> str:
        return str(self.request("GET", self._r)["default_branch"])

    def find_pr(self, head_branch: str) -> PullRequest | None:
        owner = self.repo.split("/")[0]
        for d in self.request("GET", f"{self._r}/pulls", query={"state": "open", "head": f"{owner}:{head_branch}",
                                                                 "per_page": 100}) or []:
            if d["head"]["ref"] == head_branch:  # servers that ignore `head` return every open PR
                return self._pr(d)
        return None

    def create_pr(self, head_branch: str, base: str, title: str, body: str) -> PullRequest:
        return self._pr(self.request("POST", f"{self._r}/pulls",
                                     {"title": title, "head": head_branch, "base": base, "body": body}))

    def get_pr(self, number: int) -> PullRequest:
        return self._pr(self.request("GET", f"{self._r}/pulls/{number}"))

    def update_pr_body(self, number: int, body: str) -> None:
        self.request("PATCH", f"{self._r}/pulls/{number}", {"body": body})

    def reviews(self, number: int) -> list[Review]:
        return [Review(id=str(d["id"]), author=str((d.get("user") or {}).get("login") or ""),
                       state=REVIEW_STATES.get(str(d.get("state")), str(d.get("state")).lower()),
                       body=str(d.get("body") or ""))
                for d in self.request("GET", f"{self._r}/pulls/{number}/reviews", query={"per_page": 100}) or []]

    def review_comments(self, number: int) -> list[Comment]:
        out = []
        for d in self.request("GET", f"{self._r}/pulls/{number}/comments", query={"per_page": 100}) or []:
            reply_to = d.get("in_reply_to_id")
            out.append(Comment(id=str(d["id"]), author=str((d.get("user") or {}).get("login") or ""),
                               body=str(d.get("body") or ""), thread=str(reply_to or d["id"]),
                               path=d.get("path"), line=d.get("line") or d.get("original_line"),
                               reply_to=str(reply_to) if reply_to else None))
        return out

    def reply(self, number: int, thread: str, body: str) -> Comment:
        d = self.request("POST", f"{self._r}/pulls/{number}/comments/{thread}/replies", {"body": body})
        return Comment(id=str(d["id"]), author=str((d.get("user") or {}).get("login") or ""), body=body,
                       thread=thread, reply_to=thread)

    def checks(self, sha: str) -> Checks:
        """Check runs (Actions) and commit statuses (older CI) together."""
        states: list[str] = []
        failed: list[str] = []
        runs = self.request("GET", f"{self._r}/commits/{sha}/check-runs", query={"per_page": 100}) or {}
        for run in runs.get("check_runs", []):
            if run.get("status") != "completed":
                states.append("pending")
            elif run.get("conclusion") in ("success", "neutral", "skipped"):
                states.append("success")
            else:
                states.append("failure")
                failed.append(str(run.get("name")))
        combined = self.request("GET", f"{self._r}/commits/{sha}/status") or {}
        for st in combined.get("statuses", []):
            state = {"success": "success", "pending": "pending"}.get(str(st.get("state")), "failure")
            states.append(state)
            if state == "failure":
                failed.append(str(st.get("context")))
        if not states:
            return Checks("none")
        overall = "failure" if failed else "pending" if "pending" in states else "success"
        return Checks(overall, failed)

    def merge(self, number: int, method: str = "merge") -> str:
        d = self.request("PUT", f"{self._r}/pulls/{number}/merge", {"merge_method": method})
        return str(d.get("sha") or "")

    def list_issues(self, *, state: str = "open", labels: list[str] | None = None) -> list[Issue]:
        query: dict[str, Any] = {"state": state, "per_page": 100}
        if labels:
            query["labels"] = ",".join(labels)
        out = []
        for d in self.request("GET", f"{self._r}/issues", query=query) or []:
            if d.get("pull_request"):  # GitHub lists pull requests among issues
                continue
            out.append(Issue(number=int(d["number"]), title=str(d.get("title") or ""), body=str(d.get("body") or ""),
                             state=str(d.get("state") or "open"), url=str(d.get("html_url") or ""),
                             labels=[str(lb["name"] if isinstance(lb, dict) else lb) for lb in d.get("labels", [])],
                             author=str((d.get("user") or {}).get("login") or "")))
        return out

    def comment_issue(self, number: int, body: str) -> None:
        self.request("POST", f"{self._r}/issues/{number}/comments", {"body": body})

    def close_issue(self, number: int, comment: str | None = None) -> None:
        if comment:
            self.comment_issue(number, comment)
        self.request("PATCH", f"{self._r}/issues/{number}", {"state": "closed"})


class Gitea(GitHub):
    """Gitea and Forgejo: the GitHub dialect under /api/v1 with `token` auth."""

    kind = "gitea"

    def find_pr(self, head_branch: str) -> PullRequest | None:
        for d in self.request("GET", f"{self._r}/pulls", query={"state": "open", "limit": 50}) or []:
            if d["head"]["ref"] == head_branch:
                return self._pr(d)
        return None

    def checks(self, sha: str) -> Checks:
        combined = self.request("GET", f"{self._r}/commits/{urllib.parse.quote(sha)}/status") or {}
        statuses = combined.get("statuses") or []
        if not statuses:
            return Checks("none")
        failed = [str(s.get("context")) for s in statuses if s.get("status", s.get("state")) in ("failure", "error")]
        pending = any(s.get("status", s.get("state")) == "pending" for s in statuses)
        return Checks("failure" if failed else "pending" if pending else "success", failed)

    def merge(self, number: int, method: str = "merge") -> str:
        self.request("POST", f"{self._r}/pulls/{number}/merge", {"Do": method})
        return self.get_pr(number).merge_sha or ""

    def reply(self, number: int, thread: str, body: str) -> Comment:
        """Gitea has no threaded replies over REST: answer on the pull request, quoting the thread."""
        d = self.request("POST", f"{self._r}/issues/{number}/comments", {"body": f"(re #{thread}) {body}"})
        return Comment(id=str(d["id"]), author="", body=body, thread=thread, reply_to=thread)
