"""Starting and observing agent turns: the side effects of a dispatch.

Starting a turn: fetch the rig, give the polecat its worktree on `gt/<agent>/<bead>`,
mint its token, build the prompt and the adapter's command, and launch it detached
through the runtime. Observing: a turn whose runner has exited becomes a `turn_exited`
inbox event, including turns that ended while the daemon was down (re-adoption).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import logging
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ParamSpec, TypeVar

from gastown import paths, runner
from gastown.daemon import adapters
from gastown.daemon.town import agentenv
from gastown.daemon.vcs import git, riglock, worktreemeta
from gastown.daemon.alarm import prompts, transcripts
from gastown.daemon.runtime import sandbox as sandboxing
from gastown.daemon.adapters import TurnContext
from gastown.daemon.runtime import Runtime, TurnSpec
from gastown.protocol import RpcError
from gastown.model import FailureCode

if TYPE_CHECKING:
    from gastown.daemon.town.towns import Town

log = logging.getLogger("gastown.daemon.alarm.turns")
IDENTITY_RE = re.compile(r"^\s*(.+?)\s*<([^>]+)>\s*$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def agent_socket(town: str) -> Path:
    """Each town's agent socket in a directory of its own: a sandbox or a town container
    mounts that directory (a restarted daemon's new socket shows up), never another town's."""
    return paths.runtime_dir() / "towns" / town / "gt.sock"


def human_identity(requested_by: str | None) -> tuple[str, str]:
    """(name, email) of the human who asked: 'Name <email>' or a bare login name."""
    if requested_by:
        m = IDENTITY_RE.match(requested_by)
        if m:
            return m.group(1), m.group(2)
        return requested_by, f"{requested_by}@localhost"
    return "gastown user", "user@localhost"


START_THREADS = int(os.environ.get("GT_START_THREADS", "64"))
"""Threads that start turns (git, spawning runners: mostly waiting). A pool of their own: a
burst of dispatches holds its threads for seconds each, and the loop's quick reads (is a
turn over, an agent's last words) must not queue behind it in the shared pool."""

P = ParamSpec("P")
R = TypeVar("R")


class TurnStarter:
    def __init__(self, town: "Town", runtime: Runtime) -> None:
        self.town = town
        self.runtime = runtime
        self.pool = ThreadPoolExecutor(max_workers=START_THREADS, thread_name_prefix="start")
        self.starting: set[str] = set()  # agents a turn is being started for now (the loop's invariant skips them)

    async def off_loop(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """`fn` (a blocking step of starting a turn) in the starters' pool."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    def worktree_path(self, rig: str, agent: str) -> Path:
        return self.town.root / "worktrees" / rig / agent

    def prepare_worktree(self, repo: str, path: Path, branch: str, target: str, start_from: str | None = None) -> str:
        """Fetch, then put the worktree on `branch`; a new branch starts from `start_from`, else
        from where merges land now (`origin/gastown/<target>` while merged work is parked
        there, so the bead builds on it instead of conflicting with it). Returns that base.
        Git work on the shared clone holds the rig's lock (gastown.daemon.vcs.riglock): fetch
        (coalesced), a worktree's registration and branch switches; reading a worktree's
        state and checking it out run outside it."""
        from gastown.daemon.vcs.refinery import landing_base
        try:
            riglock.fetch_coalesced(repo, lambda: git.fetch(repo))
        except git.GitError as exc:  # an unreachable origin must not block work on what we have
            log.warning("fetch of %s failed: %s", repo, exc)
        base = start_from or landing_base(repo, target)
        self._trailer_hook(repo)
        if path.exists() and any(path.iterdir()):
            if not worktreemeta.checked_out(path):  # registered, then a crash before its checkout
                git.run(["reset", "--hard", "-q"], path, what="git checkout")
            state = git.worktree_state(path, base)  # the idle polecat's own tree: read without the lock
            if state.branch != branch:
                with riglock.rig_git(repo):  # moves a branch of the shared clone
                    git.switch_worktree(path, branch, base)
            return base
        path.parent.mkdir(parents=True, exist_ok=True)
        git.check_branch_name(branch)
        new_branch = not git.branch_exists(repo, branch)
        if new_branch and not git.rev_exists(repo, base):
            raise git.GitError(f"base {base} not found in {repo} (fetch first?)", "", -1)
        self._add_worktree(repo, path, branch, base if new_branch else None)
        git.run(["reset", "--hard", "-q"], path, what="git checkout")  # the checkout is the worktree's own
        return base

    @staticmethod
    def _add_worktree(repo: str, path: Path, branch: str, base: str | None) -> None:
        """Register `path` on `branch` (new from `base`, or existing when base is None),
        nothing checked out. A new branch is created atomically outside the lock and its
        worktree registered under it in microseconds (gastown.daemon.vcs.worktreemeta);
        an existing one goes through `git worktree add`, which refuses a branch checked out
        elsewhere."""
        if base is not None and worktreemeta.create_branch(repo, branch, base):
            with riglock.rig_git(repo):
                if worktreemeta.register(repo, path, branch):  # drops a stale registration of `path` itself
                    return
        # git refuses a path registered by a worktree whose directory is gone: prune first
        riglock.coalesced(repo, "prune", lambda: TurnStarter._prune(repo))
        with riglock.rig_git(repo):  # one git process under the lock
            git.run(["worktree", "add", "--no-checkout", "--", str(path), branch], repo, what="git worktree add")

    @staticmethod
    def _prune(repo: str) -> None:
        git.run(["worktree", "prune"], repo, ok=(0, 128))

    @staticmethod
    def _trailer_hook(repo: str) -> None:
        """The commit-msg hook in place before an agent commits; read without a git process
        or the lock, written (rarely) under it."""
        common = worktreemeta.common_dir(Path(repo))
        hook = common / "hooks" / "commit-msg" if common is not None else None
        try:
            if hook is not None and hook.read_text() == git.TRAILER_HOOK:
                return
        except OSError:
            pass
        with riglock.rig_git(repo):
            git.install_trailer_hook(repo)

    def prior_work(self, agent: dict[str, Any], bead: dict[str, Any], rig: dict[str, Any]) -> dict[str, Any] | None:
        """The newest branch of this bead (`gt/<any polecat>/<bead>`) that holds commits not
        on the target: work a crashed or failed attempt left, to be continued, not redone."""
        repo, base = rig["repo_path"], f"origin/{rig['default_branch']}"
        try:
            refs = git.output(["for-each-ref", "--sort=-committerdate", "--format=%(refname:short)",
                                 f"refs/heads/gt/*/{bead['id']}"], repo).split()
            for ref in refs:
                commits = git.log(repo, f"{base}..{ref}", 20)
                if commits:
                    return {"branch": ref, "commits": commits}
        except git.GitError as exc:
            log.warning("looking for earlier work on %s failed: %s", bead["id"], exc)
        return None

    def start(self, agent: dict[str, Any], bead: dict[str, Any], rig: dict[str, Any], preamble: str = "",
              record: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Blocking: runs in a worker thread. Returns what the store records on success.
        `record` gets that same dict after the token is minted and BEFORE the runner is
        spawned (intent before effect: see gastown.daemon.store.turnlog)."""
        name = agent["name"]
        # a PR follow-up works on the PR's own branch; everything else on a branch of its own
        branch = str(bead["metadata"]["branch"]) if bead["metadata"].get("followup") else f"gt/{name}/{bead['id']}"
        worktree = self.worktree_path(rig["name"], name)
        prior = bead.get("prior_work")
        start_from = None
        if prior and prior["branch"] != branch and not git.branch_exists(rig["repo_path"], branch):
            start_from = prior["branch"]  # another polecat's commits: continue from them, never from scratch
        base = self.prepare_worktree(rig["repo_path"], worktree, branch, rig["default_branch"], start_from)
        preamble += prompts.prior_work(prior) if prior else ""
        prompt = preamble + prompts.polecat(agent=name, town=self.town.name, bead=bead, branch=branch, base=base,
                                            instructions=self.town.text("agent.instructions", rig["name"]))
        # resume the native session for rework of the same bead, or for the next step of a
        # serial convoy (the agent keeps its worktree and its context)
        same_convoy = bool(bead["metadata"].get("convoy")) and agent.get("session_bead_id") in bead.get(
            "predecessors", ())
        resume = agent["session_id"] if agent.get("session_bead_id") == bead["id"] or same_convoy else None
        where = {"worktree": str(worktree), "branch": branch}
        intent = None if record is None else (lambda d, h: record({"turn_dir": d, "token_hash": h, **where}))
        token = self._launch(agent, bead, rig, worktree, prompt, resume, requested_by=bead.get("requested_by"),
                             record=intent)
        return {"turn_dir": token[0], "token_hash": token[1], **where}

    def start_review(self, agent: dict[str, Any], mr: dict[str, Any], source: dict[str, Any],
                     rig: dict[str, Any]) -> dict[str, Any]:
        """A refinery review turn: a detached checkout of the MR's branch and its diff."""
        worktree = self.worktree_path(rig["name"], agent["name"])
        repo = rig["repo_path"]
        if worktree.exists() and any(worktree.iterdir()):
            git.run(["checkout", "-q", "--detach", mr["branch"]], worktree)
        else:
            worktree.parent.mkdir(parents=True, exist_ok=True)
            with riglock.rig_git(repo):
                git.run(["worktree", "add", "--detach", str(worktree), mr["branch"]], repo)
        diff = git.diff(repo, f"origin/{mr['target_branch']}", mr["branch"])
        prompt = prompts.refinery(agent=agent["name"], town=self.town.name, mr=mr, bead=source, diff=diff)
        if mr["metadata"].get("persona_instructions"):
            prompt += f"\n## Persona: {mr['metadata']['persona']}\n{mr['metadata']['persona_instructions']}\n"
        turn_dir, digest = self._launch(agent, mr, rig, worktree, prompt, None, requested_by=mr.get("requested_by"))
        return {"turn_dir": turn_dir, "token_hash": digest, "worktree": str(worktree), "branch": mr["branch"]}

    def start_nudge(self, agent: dict[str, Any], rig: dict[str, Any], preamble: str) -> dict[str, Any]:
        """A turn for an idle agent to read its nudges and mail, in its own worktree and session."""
        worktree = Path(agent["worktree"])
        prompt = preamble + "Act on the above if it concerns you; you have no bead on your hook right now."
        bead = {"id": agent["bead_id"], "title": "nudge", "metadata": {}}
        turn_dir, digest = self._launch(agent, bead, rig, worktree, prompt, agent["session_id"], requested_by=None)
        return {"turn_dir": turn_dir, "token_hash": digest, "worktree": str(worktree), "branch": agent["branch"] or ""}

    def start_mayor(self, agent: dict[str, Any], message: dict[str, Any], prompt: str) -> dict[str, Any]:
        """A mayor turn: its own workspace (not a git worktree), its native session resumed."""
        return self.start_workspace(agent, message, prompt, "mayor", resume=agent["session_id"])

    def start_workspace(self, agent: dict[str, Any], bead: dict[str, Any], prompt: str, workspace: str,
                        resume: str | None = None) -> dict[str, Any]:
        """A turn in a plain directory of the town (the mayor's, the triage agent's)."""
        path = self.town.root / workspace
        path.mkdir(parents=True, exist_ok=True)
        turn_dir, digest = self._launch(agent, bead, None, path, prompt, resume, requested_by=bead.get("requested_by"))
        return {"turn_dir": turn_dir, "token_hash": digest, "worktree": str(path), "branch": ""}

    def _launch(self, agent: dict[str, Any], bead: dict[str, Any], rig: dict[str, Any] | None, worktree: Path,
                prompt: str, resume: str | None, *, requested_by: str | None,
                record: Callable[[str, str], None] | None = None) -> tuple[str, str]:
        """Mint the token, build the adapter's command and environment, start the turn."""
        name = agent["name"]
        adapter = adapters.get(agent["adapter"])
        adapter.check()
        token = secrets.token_urlsafe(32)
        home = self.town.root / "agents" / name / "home"
        home.mkdir(parents=True, exist_ok=True)
        rig_name = rig["name"] if rig else None
        ctx = TurnContext(
            agent=name, role=agent["role"], town=self.town.name, worktree=worktree, home=home, prompt=prompt,
            session_id=resume, model=str((bead.get("metadata") or {}).get("model") or self.town.text("agent.model", rig_name)),
            base_url=self.town.text("agent.base_url", rig_name), api_key=self.town.text("agent.api_key", rig_name),
            bead=bead,
        )
        adapter.prepare(ctx)
        human, email = human_identity(requested_by)
        overlay: dict[str, str | None] = {
            **adapter.env(ctx),
            "GT_TOWN": self.town.name, "GT_AGENT": name, "GT_ROLE": agent["role"], "GT_BEAD_ID": bead["id"],
            "GT_AGENT_TOKEN": token, "GT_AGENT_SOCKET": str(agent_socket(self.town.name)),
            "GT_BIN": str(Path(agentenv.gt_bin_dir()) / "gt"), "GT_REQUESTED_BY": requested_by or "",
            "GT_PREVIOUS_FAILURE": (bead.get("failure_reason") or {}).get("code"),
            "GT_PR_THREADS": " ".join(sorted({str(c["thread"]) for c in bead["metadata"].get("comments", [])}))
            if bead["metadata"].get("followup") == "pr_feedback" else None,
            "GIT_AUTHOR_NAME": human, "GIT_AUTHOR_EMAIL": email,
            "GT_CO_AUTHOR": co_author(name, agent["adapter"], ctx.model, self.town.name),
            "GIT_COMMITTER_NAME": f"{name} (gastown {agent['role']})",
            "GIT_COMMITTER_EMAIL": f"{name}@{self.town.name}.gastown",
            "PATH": agentenv.gt_path(),
        }
        # never the daemon's environment: the allow-list, agent.env, then the turn's own
        env: dict[str, str | None] = dict(agentenv.build(overlay, agentenv.spec_of(self.town.items("agent.env", rig_name))))
        argv = sandboxing.wrap_turn(self.town, self.runtime.name, adapter, adapter.command(ctx), worktree, home,
                                    agent_socket(self.town.name).parent)
        turn_dir = self.town.root / "turns" / name / f"{agent['turns'] + 1:04d}"
        turn_dir.mkdir(parents=True, exist_ok=True)
        (turn_dir / "prompt.md").write_text(prompt)
        transcripts.write_turn_info(turn_dir, agent=name, adapter=agent["adapter"], role=agent["role"],
                                    bead=str(bead.get("id") or ""), title=str(bead.get("title") or ""))
        if record is not None:
            record(str(turn_dir), token_hash(token))
        minutes = float((bead.get("metadata") or {}).get("turn_minutes") or 0)  # a persona's turn time limit
        self.runtime.start_turn(TurnSpec(turn_dir=turn_dir, argv=argv, cwd=worktree, env=env,
                                         timeout=minutes * 60 if minutes > 0 else None))
        return str(turn_dir), token_hash(token)


def co_author(agent: str, adapter: str, model: str, town: str) -> str:
    """The `Co-authored-by:` identity of an agent's commits: the agent, its CLI and model."""
    what = f"{adapter} {model}".strip()
    return f"{agent} ({what}) <{agent}@{town}.gastown>"


def finished_turn(runtime: Runtime, turn_dir: str) -> dict[str, Any] | None:
    """The runner's final status when the turn is over, else None (still running)."""
    path = Path(turn_dir)
    if runtime.is_running(path):
        return None
    status = runner.read_status(path) or {}
    if status.get("state") == "running":
        status = {**status, "exit_code": None, "lost": True}  # the runner died without a final status
    return status


def read_output(turn_dir: str, limit: int = 4 << 20) -> str:
    """The tail of a turn's output for parsing its exit (4 MiB: session ids and usage sit at
    the ends)."""
    return transcripts.read_output(turn_dir, limit)


def failure_from(exc: BaseException) -> dict[str, Any]:
    message = exc.message if isinstance(exc, RpcError) else str(exc)
    return {"code": FailureCode.DISPATCH_FAILED, "message": message.splitlines()[0] if message else type(exc).__name__,
            "source": "dispatcher"}
