"""A fake forge: the subset of GitHub's REST API that Gastown uses, with scripted state changes.

``python -m gastown.fakeforge [--port N] [--repo BARE_GIT_DIR] [--token T] [--script FILE]``
serves pull requests, reviews, review comments (and replies), check runs and commit
statuses, merges and issues for any OWNER/NAME (and the same as GitLab merge requests,
approvals, discussions, pipelines and notes under /api/v4), and prints ``listening on
http://127.0.0.1:PORT`` once ready. With ``--repo`` it reads branch heads from that git
repository and really merges there (``git merge-tree``), so mergeability and merge commits
are real. Stdlib only.

State changes a human or CI would make go through ``POST /_fake/ACTION`` with a JSON body
(or a ``--script`` file: a JSON list of ``{"action": ..., ...}``, run at start, or when a
pull request opens if it has ``"on": "pr_created"``): ``review`` {number, state, body,
user}, ``comment`` {number, body, path, line, user}, ``check`` {number|sha, name, status,
conclusion}, ``status`` {number|sha, context, state}, ``merge`` {number}, ``close``
{number}, ``fail`` {path, method, status, count, retry_after, after} (the next `count`
matching calls answer `status`; with `after` the call takes effect first and only its answer
is lost), ``issue`` {title, body, labels}. ``GET /_fake/state`` shows it all.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]
BOT = "gastown-bot"


class FakeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ForgeState:
    """Pull requests, issues and checks of every repository served (one number space for
    issues and pull requests, like GitHub)."""

    def __init__(self, git_dir: str | None = None, login: str = BOT) -> None:
        self.git_dir = git_dir
        self.login = login
        self.lock = threading.RLock()
        self.next_number = 1
        self.next_id = 1000
        self.pulls: dict[int, JSON] = {}
        self.issues: dict[int, JSON] = {}
        self.checks: dict[str, list[JSON]] = {}
        self.statuses: dict[str, list[JSON]] = {}
        self.failures: list[JSON] = []
        self.triggers: list[JSON] = []
        self.calls: list[str] = []

    # ------------------------------------------------------------------ git
    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.git_dir
        return subprocess.run(["git", "-C", self.git_dir, *args], capture_output=True, text=True)

    def head_sha(self, branch: str, fallback: str = "") -> str:
        if not self.git_dir:
            return fallback
        out = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
        return out.stdout.strip() if out.returncode == 0 else fallback

    def _merge_tree(self, pr: JSON) -> tuple[bool, str]:
        """(clean, tree) of merging the head into the base, computed by git itself."""
        if not self.git_dir:
            return True, ""
        out = self._git("merge-tree", "--write-tree", f"refs/heads/{pr['base']['ref']}", f"refs/heads/{pr['head']['ref']}")
        return out.returncode == 0, out.stdout.split("\n", 1)[0].strip()

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # ------------------------------------------------------------------ pulls
    def pull_view(self, pr: JSON) -> JSON:
        view: JSON = json.loads(json.dumps(pr))
        view["head"]["sha"] = self.head_sha(pr["head"]["ref"], pr["head"].get("sha", ""))
        if pr["state"] == "open":
            view["mergeable"] = self._merge_tree(pr)[0]
            view["mergeable_state"] = "clean" if view["mergeable"] else "dirty"
        return view

    def create_pull(self, repo: str, body: JSON) -> JSON:
        for key in ("title", "head", "base"):
            if not body.get(key):
                raise FakeError(422, f"Validation Failed: {key} is missing")
        head = str(body["head"]).split(":")[-1]
        if any(p["head"]["ref"] == head and p["state"] == "open" and p["repo"] == repo for p in self.pulls.values()):
            raise FakeError(422, f"Validation Failed: A pull request already exists for {head}.")
        if self.git_dir and not self.head_sha(head):
            raise FakeError(422, f"Validation Failed: head branch {head} does not exist")
        number = self.next_number
        self.next_number += 1
        pr = {"id": self.new_id(), "number": number, "repo": repo, "state": "open", "merged": False,
              "title": body["title"], "body": body.get("body") or "", "user": {"login": self.login},
              "head": {"ref": head, "sha": self.head_sha(head, str(body.get("head_sha") or ""))},
              "base": {"ref": body["base"]}, "merge_commit_sha": None,
              "html_url": f"https://forge.test/{repo}/pull/{number}", "reviews": [], "comments": []}
        self.pulls[number] = pr
        for trig in [t for t in self.triggers if t.get("on") == "pr_created"]:
            self.apply({**trig, "number": number, "on": None})
        return self.pull_view(pr)

    def pull(self, number: int) -> JSON:
        if number not in self.pulls:
            raise FakeError(404, "Not Found")
        return self.pulls[number]

    def merge(self, number: int, method: str = "merge", by: str = "") -> JSON:
        pr = self.pull(number)
        if pr["state"] != "open":
            raise FakeError(405, "Pull Request is not mergeable")
        sha = f"{number:040x}"
        if self.git_dir:
            clean, tree = self._merge_tree(pr)
            if not clean:
                raise FakeError(405, "Pull Request is not mergeable: merge conflict")
            base, head = pr["base"]["ref"], pr["head"]["ref"]
            old = self.head_sha(base)
            parents = ["-p", old] if method == "squash" else ["-p", old, "-p", self.head_sha(head)]
            msg = f"Merge pull request #{number} from {head}" + (f" (merged by {by})" if by else "")
            sha = self._git("commit-tree", tree, *parents, "-m", msg).stdout.strip()
            if self._git("update-ref", f"refs/heads/{base}", sha, old).returncode != 0:
                raise FakeError(409, "Base branch was modified")
        pr.update(state="closed", merged=True, merge_commit_sha=sha, merged_at="now")
        return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    # ------------------------------------------------------------------ control
    def _sha_of(self, body: JSON) -> str:
        if body.get("sha"):
            return str(body["sha"])
        return str(self.pull_view(self.pull(int(body["number"])))["head"]["sha"])

    def apply(self, body: JSON) -> JSON:
        """One scripted state change (what a human or CI would do)."""
        action = body.get("action")
        if body.get("on"):
            self.triggers.append(body)
            return {"queued": True}
        if action == "review":
            pr = self.pull(int(body["number"]))
            review = {"id": self.new_id(), "user": {"login": body.get("user", "reviewer")},
                      "state": str(body.get("state", "COMMENTED")).upper(), "body": body.get("body", "")}
            pr["reviews"].append(review)
            return review
        if action == "comment":
            pr = self.pull(int(body["number"]))
            comment = {"id": self.new_id(), "user": {"login": body.get("user", "reviewer")}, "body": body["body"],
                       "path": body.get("path"), "line": body.get("line"), "in_reply_to_id": body.get("in_reply_to")}
            pr["comments"].append(comment)
            return comment
        if action == "check":
            run = {"id": self.new_id(), "name": body.get("name", "ci"), "status": body.get("status", "completed"),
                   "conclusion": body.get("conclusion", "success")}
            self.checks.setdefault(self._sha_of(body), []).append(run)
            return run
        if action == "status":
            st = {"context": body.get("context", "ci"), "state": body.get("state", "success")}
            self.statuses.setdefault(self._sha_of(body), []).append(st)
            return st
        if action == "merge":
            return self.merge(int(body["number"]), str(body.get("method", "merge")), by=body.get("user", "human"))
        if action == "close":
            pr = self.pull(int(body["number"]))
            pr["state"] = "closed"
            return {"number": pr["number"], "state": "closed"}
        if action == "fail":
            rule = {"path": body.get("path", ""), "method": body.get("method"), "status": int(body.get("status", 500)),
                    "count": int(body.get("count", 1)), "retry_after": body.get("retry_after"),
                    "after": bool(body.get("after"))}
            self.failures.append(rule)
            return rule
        if action == "issue":
            number = self.next_number
            self.next_number += 1
            self.issues[number] = {"id": self.new_id(), "number": number, "title": body["title"],
                                   "body": body.get("body", ""), "state": "open", "user": {"login": body.get("user", "human")},
                                   "labels": [{"name": n} for n in body.get("labels", [])], "comments": [],
                                   "html_url": f"https://forge.test/{body.get('repo', 'o/r')}/issues/{number}"}
            return self.issues[number]
        raise FakeError(400, f"unknown action {action!r}")

    def failure_for(self, method: str, path: str) -> JSON | None:
        for rule in self.failures:
            if rule["count"] > 0 and rule["path"] in path and rule["method"] in (None, method):
                rule["count"] -= 1
                return rule
        return None

    def snapshot(self) -> JSON:
        return {"pulls": [self.pull_view(p) for p in self.pulls.values()], "issues": list(self.issues.values()),
                "checks": self.checks, "statuses": self.statuses, "calls": self.calls}


ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/user", "user"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)", "repo"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls", "list_pulls"),
    ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls", "create_pull"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)", "get_pull"),
    ("PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)", "patch_pull"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)/reviews", "reviews"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)/comments", "comments"),
    ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)/comments/(?P<c>\d+)/replies", "reply"),
    ("PUT", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)/merge", "merge"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[^/]+)/check-runs", "check_runs"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[^/]+)/status", "status"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues", "list_issues"),
    ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments", "issue_comment"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments", "issue_comments"),
    ("PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)", "patch_issue"),
]


def _public(pr: JSON) -> JSON:
    return {k: v for k, v in pr.items() if k not in ("reviews", "comments", "repo")}


class Api:
    """The route handlers: (state, params, query, body) -> (status, JSON)."""

    def __init__(self, state: ForgeState) -> None:
        self.s = state

    def user(self, p: JSON, q: JSON, b: JSON) -> Any:
        return {"login": self.s.login, "id": 1}

    def repo(self, p: JSON, q: JSON, b: JSON) -> Any:
        return {"full_name": p["repo"], "default_branch": "main"}

    def list_pulls(self, p: JSON, q: JSON, b: JSON) -> Any:
        state, head = q.get("state", "open"), q.get("head", "").split(":")[-1]
        return [_public(self.s.pull_view(pr)) for pr in self.s.pulls.values() if pr["repo"] == p["repo"]
                and (state == "all" or pr["state"] == state) and (not head or pr["head"]["ref"] == head)]

    def create_pull(self, p: JSON, q: JSON, b: JSON) -> Any:
        return 201, _public(self.s.create_pull(p["repo"], b))

    def get_pull(self, p: JSON, q: JSON, b: JSON) -> Any:
        return _public(self.s.pull_view(self.s.pull(int(p["n"]))))

    def patch_pull(self, p: JSON, q: JSON, b: JSON) -> Any:
        pr = self.s.pull(int(p["n"]))
        pr.update({k: b[k] for k in ("title", "body", "state") if k in b})
        return _public(self.s.pull_view(pr))

    def reviews(self, p: JSON, q: JSON, b: JSON) -> Any:
        return self.s.pull(int(p["n"]))["reviews"]

    def comments(self, p: JSON, q: JSON, b: JSON) -> Any:
        return self.s.pull(int(p["n"]))["comments"]

    def reply(self, p: JSON, q: JSON, b: JSON) -> Any:
        pr = self.s.pull(int(p["n"]))
        if not any(str(c["id"]) == p["c"] for c in pr["comments"]):
            raise FakeError(404, "Not Found")
        comment = {"id": self.s.new_id(), "user": {"login": self.s.login}, "body": b.get("body", ""),
                   "in_reply_to_id": int(p["c"]), "path": None, "line": None}
        pr["comments"].append(comment)
        return 201, comment

    def merge(self, p: JSON, q: JSON, b: JSON) -> Any:
        return self.s.merge(int(p["n"]), str(b.get("merge_method", "merge")), by=self.s.login)

    def check_runs(self, p: JSON, q: JSON, b: JSON) -> Any:
        runs = self.s.checks.get(p["sha"], [])
        return {"total_count": len(runs), "check_runs": runs}

    def status(self, p: JSON, q: JSON, b: JSON) -> Any:
        sts = self.s.statuses.get(p["sha"], [])
        state = "failure" if any(s["state"] in ("failure", "error") for s in sts) else \
            "pending" if any(s["state"] == "pending" for s in sts) or not sts else "success"
        return {"state": state, "statuses": sts, "total_count": len(sts), "sha": p["sha"]}

    def list_issues(self, p: JSON, q: JSON, b: JSON) -> Any:
        state = q.get("state", "open")
        labels = {x for x in q.get("labels", "").split(",") if x}
        return [{k: v for k, v in i.items() if k != "comments"} for i in self.s.issues.values()
                if (state == "all" or i["state"] == state) and labels <= {lb["name"] for lb in i["labels"]}]

    def _issue(self, n: str) -> JSON:
        number = int(n)
        if number in self.s.issues:
            return self.s.issues[number]
        raise FakeError(404, "Not Found")

    def issue_comment(self, p: JSON, q: JSON, b: JSON) -> Any:
        comment = {"id": self.s.new_id(), "user": {"login": self.s.login}, "body": b.get("body", "")}
        if int(p["n"]) in self.s.pulls:
            self.s.pulls[int(p["n"])].setdefault("issue_comments", []).append(comment)
        else:
            self._issue(p["n"])["comments"].append(comment)
        return 201, comment

    def issue_comments(self, p: JSON, q: JSON, b: JSON) -> Any:
        return self._issue(p["n"])["comments"]

    def patch_issue(self, p: JSON, q: JSON, b: JSON) -> Any:
        issue = self._issue(p["n"])
        issue.update({k: b[k] for k in ("title", "body", "state") if k in b})
        return {k: v for k, v in issue.items() if k != "comments"}


class _Handler(BaseHTTPRequestHandler):
    forge: "FakeForge"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        except ValueError:
            return self._send(400, {"message": "Problems parsing JSON"})
        forge, state = self.forge, self.forge.state
        with state.lock:
            state.calls.append(f"{self.command} {path}")
            try:
                if path.startswith("/_fake/"):
                    if self.command == "GET" and path == "/_fake/state":
                        return self._send(200, state.snapshot())
                    return self._send(200, state.apply({**body, "action": path.removeprefix("/_fake/")}))
                given = self.headers.get("PRIVATE-TOKEN") or self.headers.get("Authorization", "").split(" ")[-1]
                if forge.token and given != forge.token:
                    return self._send(401, {"message": "Bad credentials"})
                rule = state.failure_for(self.command, path)
                if rule and not rule.get("after"):
                    headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else {}
                    return self._send(rule["status"], {"message": f"scripted failure {rule['status']}"}, headers)
                routes, api = ROUTES, Api(state)
                if path.startswith("/api/v4/"):  # the GitLab dialect
                    from gastown import fakeforge_gitlab

                    path, routes = path.removeprefix("/api/v4"), fakeforge_gitlab.ROUTES
                    api = fakeforge_gitlab.GitLabApi(state)  # type: ignore[assignment]
                for method, pattern, name in routes:
                    m = re.fullmatch(pattern, path)
                    if m and method == self.command:
                        result = getattr(api, name)(m.groupdict(), query, body)
                        status, payload = result if isinstance(result, tuple) else (200, result)
                        if rule:  # "after": the call took effect, but its answer is lost
                            return self._send(rule["status"], {"message": f"scripted failure {rule['status']}"})
                        return self._send(status, payload)
                return self._send(404, {"message": f"Not Found: {self.command} {path}"})
            except FakeError as exc:
                return self._send(exc.status, {"message": str(exc)})
            except (KeyError, ValueError, TypeError) as exc:
                return self._send(400, {"message": f"bad request: {exc!r}"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class FakeForge:
    """``with FakeForge(git_dir=...) as forge: ... forge.url ... forge.control("review", ...)``."""

    def __init__(self, *, git_dir: str | Path | None = None, token: str = "", host: str = "127.0.0.1",
                 port: int = 0, script: list[JSON] | None = None) -> None:
        self.state = ForgeState(str(git_dir) if git_dir else None)
        self.token = token
        self.host, self.port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for step in script or []:
            self.state.apply(step)

    def start(self) -> "FakeForge":
        handler = type("Handler", (_Handler,), {"forge": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fakeforge",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeForge":
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def control(self, action: str, **body: Any) -> JSON:
        """A scripted state change in-process (the same as POST /_fake/ACTION)."""
        with self.state.lock:
            result: JSON = self.state.apply({**body, "action": action})
            return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry: serve until SIGINT/SIGTERM."""
    ap = argparse.ArgumentParser(prog="python -m gastown.fakeforge", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed)")
    ap.add_argument("--repo", help="bare git repository whose branches the pull requests use")
    ap.add_argument("--token", default="", help="require this token (Authorization: Bearer/token T)")
    ap.add_argument("--script", help="JSON list of state changes: {action, ...}, optionally with on: pr_created")
    args = ap.parse_args(argv)
    try:
        script = json.loads(Path(args.script).read_text()) if args.script else []
        if not isinstance(script, list):
            raise ValueError("the script must be a JSON list")
        forge = FakeForge(git_dir=args.repo, token=args.token, host=args.host, port=args.port, script=script)
    except (OSError, ValueError, KeyError, FakeError) as e:
        print(f"fakeforge: {e}", file=sys.stderr)
        return 2
    forge.start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"listening on {forge.url}", flush=True)
    while not done.wait(0.5):
        pass
    forge.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
