"""An in-process town for tests: the loop, the store, the RPC handlers and the refinery,
with no daemon process, no socket and no agent process.

What is real: the `Towns`/`Town` under the test's GT_HOME (SQLite store, writer thread,
settings files), the rig's clone of a real bare repository, the polecats' git worktrees,
the merge queue with its gates (shell commands) and pushes, the RPC handlers (called
through the server's own `Daemon.handle`, so parameter checks and role rules apply).

What is fake, and why:
- `FakeRuntime` starts no process. `start_turn` records the `TurnSpec` and writes the
  runner's status file the loop reads; the test plays the agent (`commit`, `done`) and
  ends the turn with `finish(exit_code)`. Liveness is the status file itself (the real
  runner also checks a pid), so a second runtime on the same town sees the same turns:
  that is how a daemon restart adopts a turn here.
- `FixedClock` is the loop's and the store's `now`: the scheduler's backoff and the
  store's timestamps move only when the test calls `advance`.
- The loop never runs in the background: the test calls `tick()` (one pass of observe,
  inbox, reconcile, apply), then `settle()` waits for the merges it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from gastown import runner
from gastown.daemon.alarm.loop import TownLoop
from gastown.daemon.runtime.base import TurnSpec, WithoutContainer
from gastown.daemon.edge.rpc import REGISTRY
from gastown.daemon.edge.server import Connection, Daemon
from gastown.daemon.town.towns import Town
from gastown.protocol import Method, RpcError, request

START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)


class FixedClock:
    """A `now` that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeRuntime(WithoutContainer):
    """The `Runtime` interface, in process: turns are status files the test finishes."""

    name = "fake"  # not "local": no sandbox wrapping of an argv that never runs

    def __init__(self) -> None:
        self.specs: list[TurnSpec] = []
        self.hold_start: threading.Event | None = None  # set: start_turn blocks until it is set
        self.started = threading.Event()  # set whenever start_turn has written the status file
        self.silent = False  # set: start_turn writes no status (a runner that never started)
        self.dead: set[Path] = set()  # turns whose runner died without a final status

    def check(self) -> None:
        return None

    def start_turn(self, spec: TurnSpec) -> int:
        self.specs.append(spec)
        spec.turn_dir.mkdir(parents=True, exist_ok=True)
        (spec.turn_dir / runner.OUTPUT).touch()
        if self.silent:
            return os.getpid()
        self._write(spec.turn_dir, {"state": "running", "exit_code": None, "runner_pid": os.getpid()})
        self.started.set()
        if self.hold_start is not None:
            self.hold_start.wait(10)
        return os.getpid()

    def is_running(self, turn_dir: Path) -> bool:
        if Path(turn_dir) in self.dead:
            return False
        status = runner.read_status(turn_dir)
        return bool(status and status.get("state") == "running")

    def stop_turn(self, turn_dir: Path, grace: float = 5.0) -> None:
        if self.is_running(turn_dir):
            self.finish(turn_dir, None, stopped=True, signal=15)

    def finish(self, turn_dir: Path | str, exit_code: int | None, output: str = "", **ending: Any) -> None:
        """End a turn the way the runner does: output appended, then the final status."""
        path = Path(turn_dir)
        with open(path / runner.OUTPUT, "a") as fh:
            fh.write(output)
        self._write(path, {"state": "exited", "exit_code": exit_code, **ending})

    def lose(self, turn_dir: Path | str) -> None:
        """The runner dies without writing its final status (killed with its container)."""
        self.dead.add(Path(turn_dir))

    @staticmethod
    def _write(turn_dir: Path, status: dict[str, Any]) -> None:
        tmp = turn_dir / f".{runner.STATUS}.tmp"
        tmp.write_text(json.dumps(status))
        os.replace(tmp, turn_dir / runner.STATUS)


def git(cwd: Path | str, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_origin(root: Path, files: dict[str, str] | None = None) -> Path:
    """A bare repository with one commit on main, as a user's remote would be."""
    seed, bare = root / "seed", root / "origin.git"
    seed.mkdir(parents=True)
    git(seed, "init", "-q", "-b", "main")
    for name, text in (files or {"README.md": "hello\n"}).items():
        (seed / name).write_text(text)
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial")
    git(root, "clone", "-q", "--bare", str(seed), str(bare))
    return bare


class Harness:
    """One town, its loop on a fake runtime and a fixed clock, and the handlers it serves."""

    def __init__(self, daemon: Daemon, town: Town, clock: FixedClock, runtime: FakeRuntime) -> None:
        self.daemon = daemon
        self.town = town
        self.clock = clock
        self.runtime = runtime
        self.loop = self._new_loop(runtime)
        self._ids = 0

    @classmethod
    async def create(cls, name: str = "hx", clock: FixedClock | None = None) -> "Harness":
        daemon = Daemon(socket_path=Path("/nonexistent/gt.sock"))  # never listens
        clock = clock or FixedClock()
        town = await asyncio.to_thread(daemon.towns.create, name, runtime="local", agent="scripted")
        town.store.clock = clock
        town.reader.clock = clock
        town.on_write = daemon.hub.poke
        return cls(daemon, town, clock, FakeRuntime())

    def _new_loop(self, runtime: FakeRuntime) -> TownLoop:
        loop = TownLoop(self.town, self.daemon.hub, runtime=runtime, clock=self.clock)
        self.daemon.loops[self.town.name] = loop
        return loop

    def restart(self) -> TownLoop:
        """A new loop (as after a daemon restart) on the same store, with a runtime that
        knows nothing but what the turn directories say."""
        self.runtime = FakeRuntime()
        self.loop = self._new_loop(self.runtime)
        return self.loop

    async def close(self) -> None:
        await self.loop.stop()
        await asyncio.to_thread(self.daemon.towns.close_all)
        await self.daemon.hub.close()

    # ------------------------------------------------------------------ handlers
    async def call(self, method: str, *, as_agent: str | None = None, **params: Any) -> Any:
        """One RPC through the server's own dispatcher (param checks, role rules, wake).
        `as_agent` calls from that agent's socket, the way its `gt` tools do."""
        conn = Connection(cast(asyncio.StreamReader, None), cast(asyncio.StreamWriter, None))
        conn.hello = True
        conn.actor = "tester"
        if as_agent is not None:
            agent = await self.town.call(self.town.store.agent_get, as_agent)
            conn.agent_town, conn.agent, conn.role, conn.actor = self.town.name, as_agent, agent["role"], as_agent
            conn.token_hash = agent["token_hash"]  # what its hello would have proven (checked on every call)
        elif REGISTRY[method].town:  # town-scoped methods get this town unless told otherwise
            params.setdefault("town", self.town.name)
        self._ids += 1
        frame = await self.daemon.handle(conn, request(self._ids, method, params))
        if "error" in frame:
            err = frame["error"]
            raise RpcError(err["code"], err["message"], err.get("data"))
        return frame["result"]

    async def add_rig(self, origin: Path, name: str = "app", gate: str | None = None) -> dict[str, Any]:
        """`gt rig add` of `origin` with this gate command (none: merges go ungated)."""
        params: dict[str, Any] = {"gate": gate} if gate else {"no_gate": True}
        rig: dict[str, Any] = await self.call(Method.RIG_ADD, name=name, source=str(origin), **params)
        await self.call(Method.CONFIG_SET, key="sandbox", value="off")  # the gates run on the host as given
        return rig

    # ------------------------------------------------------------------ the loop
    async def tick(self, n: int = 1) -> None:
        """`n` loop passes, each followed by the dispatches and merges it started."""
        for _ in range(n):
            await self.loop.tick()
            await self.settle()

    async def settle(self) -> None:
        while self.loop.tasks:
            await asyncio.gather(*list(self.loop.tasks))

    # ------------------------------------------------------------------ playing the agent
    async def agent(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.town.call(self.town.store.agent_get, name))

    async def bead(self, bead_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.town.call(self.town.store.bead_get, bead_id))

    async def working(self) -> list[dict[str, Any]]:
        """Agents with a turn that has not ended."""
        agents = await self.town.call(self.town.store.agent_list)
        return [a for a in agents if a["turn_dir"] and not a["turn_ended_at"]]

    def spec_of(self, turn_dir: str) -> TurnSpec:
        return next(s for s in self.runtime.specs if str(s.turn_dir) == turn_dir)

    def commit(self, agent: dict[str, Any], files: dict[str, str], message: str = "work") -> str:
        """Commit in the agent's worktree with the environment its turn was given."""
        spec = self.spec_of(agent["turn_dir"])
        env = {**os.environ, **{k: v for k, v in spec.env.items() if v is not None}}
        env["PATH"] = os.environ.get("PATH", "")
        for name, text in files.items():
            (spec.cwd / name).write_text(text)
        git(spec.cwd, "add", "-A", env=env)
        git(spec.cwd, "commit", "-q", "-m", message, env=env)
        return git(spec.cwd, "rev-parse", "HEAD")

    async def done(self, agent: dict[str, Any], summary: str = "did it") -> dict[str, Any]:
        """What `gt done` does: the tool handler on the agent's socket."""
        return cast(dict[str, Any], await self.call(Method.TOOL_DONE, as_agent=agent["name"], summary=summary))

    def finish(self, agent: dict[str, Any], exit_code: int | None = 0, output: str = "") -> None:
        self.runtime.finish(agent["turn_dir"], exit_code, output)
