"""The forge interface: what Gastown asks of GitHub, GitLab (or any compatible API).

One small vocabulary (pull requests, reviews, review comments, checks, merges, issues) so the
refinery and `gt import issues` never speak a forge's dialect. Everything here is blocking
stdlib HTTP (urllib); callers run it in a worker thread.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from gastown.model import FailureCode

TIMEOUT = 30.0


class ForgeError(Exception):
    """A forge call that failed. `status` is the HTTP status (0: unreachable); `retry_after`
    is the wait the forge asked for (rate limits), in seconds."""

    def __init__(self, message: str, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def code(self) -> str:
        """A short failure code for the merge request's failure reason."""
        if self.rate_limited:
            return FailureCode.FORGE_RATE_LIMITED
        return {401: FailureCode.FORGE_UNAUTHORIZED, 403: FailureCode.FORGE_FORBIDDEN,
                404: FailureCode.FORGE_NOT_FOUND, 409: FailureCode.FORGE_CONFLICT,
                422: FailureCode.FORGE_REJECTED}.get(self.status, FailureCode.FORGE_ERROR)

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or (self.status == 403 and self.retry_after is not None)


@dataclass
class PullRequest:
    number: int
    url: str
    state: str  # open, closed or merged
    head_branch: str
    head_sha: str
    base: str
    title: str = ""
    body: str = ""
    merge_sha: str | None = None
    mergeable: bool | None = None  # None: the forge has not computed it yet


@dataclass
class Review:
    id: str
    author: str
    state: str  # approved, changes_requested, commented, dismissed
    body: str = ""


@dataclass
class Comment:
    """A review comment (a thread on a line, or a general note). `thread` is what a reply
    addresses: the top-level comment id on GitHub, the discussion id on GitLab."""

    id: str
    author: str
    body: str
    thread: str
    path: str | None = None
    line: int | None = None
    reply_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "author": self.author, "body": self.body, "thread": self.thread,
                "path": self.path, "line": self.line}


@dataclass
class Checks:
    state: str  # success, pending, failure or none (no CI configured)
    failed: list[str] = field(default_factory=list)


@dataclass
class Issue:
    number: int
    title: str
    body: str
    state: str  # open or closed
    url: str
    labels: list[str] = field(default_factory=list)
    author: str = ""


class Forge:
    """One repository on one forge. Subclasses speak the dialect."""

    kind = "forge"

    def __init__(self, api_url: str, repo: str, token: str, *, web_url: str = "") -> None:
        self.api_url = api_url.rstrip("/")
        self.repo = repo
        self.token = token
        self.web_url = web_url

    # --------------------------------------------------------------- transport
    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: dict[str, Any] | None = None) -> Any:
        """One JSON call. Raises ForgeError with the status and the forge's own message."""
        url = self.api_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            **self._headers(), "Accept": "application/json", "User-Agent": "gastown",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, method, path) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ForgeError(f"{self.kind} API at {self.api_url} unreachable: {getattr(exc, 'reason', exc)}") from None
        return json.loads(raw) if raw.strip() else None

    def _http_error(self, exc: urllib.error.HTTPError, method: str, path: str) -> ForgeError:
        try:
            payload = json.loads(exc.read() or b"{}")
            detail = payload.get("message") or payload.get("error") or "" if isinstance(payload, dict) else ""
        except ValueError:
            detail = ""
        retry_after = None
        if exc.headers.get("Retry-After"):
            retry_after = float(exc.headers["Retry-After"])
        elif exc.headers.get("X-RateLimit-Remaining") == "0" or exc.headers.get("RateLimit-Remaining") == "0":
            reset = exc.headers.get("X-RateLimit-Reset") or exc.headers.get("RateLimit-Reset") or "0"
            retry_after = max(1.0, float(reset) - time.time()) if float(reset) else 60.0
        hint = {401: " (the token is missing, expired or wrong: set forge.token or log in with gh/glab)",
                403: " (the token lacks permission on this repository, or a rate limit)",
                404: f" (no repository {self.repo} here, or the token cannot see it)"}.get(exc.code, "")
        return ForgeError(f"{self.kind} {method} {path}: HTTP {exc.code} {detail or exc.reason}{hint}",
                          exc.code, retry_after)

    # --------------------------------------------------------------- the interface
    def whoami(self) -> str:
        """The login the token acts as (also: the token works)."""
        raise NotImplementedError

    def check_repo(self) -> str:
        """The repository's default branch (also: the token can see the repository)."""
        raise NotImplementedError

    def find_pr(self, head_branch: str) -> PullRequest | None:
        """The open pull request from `head_branch`, if any (looked up before creating one)."""
        raise NotImplementedError

    def create_pr(self, head_branch: str, base: str, title: str, body: str) -> PullRequest:
        raise NotImplementedError

    def get_pr(self, number: int) -> PullRequest:
        raise NotImplementedError

    def update_pr_body(self, number: int, body: str) -> None:
        raise NotImplementedError

    def reviews(self, number: int) -> list[Review]:
        raise NotImplementedError

    def review_comments(self, number: int) -> list[Comment]:
        raise NotImplementedError

    def reply(self, number: int, thread: str, body: str) -> Comment:
        """Answer a review comment in its own thread."""
        raise NotImplementedError

    def checks(self, sha: str) -> Checks:
        raise NotImplementedError

    def merge(self, number: int, method: str = "merge") -> str:
        """Merge the pull request; returns the merge commit's sha."""
        raise NotImplementedError

    def list_issues(self, *, state: str = "open", labels: list[str] | None = None) -> list[Issue]:
        raise NotImplementedError

    def comment_issue(self, number: int, body: str) -> None:
        raise NotImplementedError

    def close_issue(self, number: int, comment: str | None = None) -> None:
        raise NotImplementedError
