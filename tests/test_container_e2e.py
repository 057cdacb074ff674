"""The whole Gastown loop with the town's agents in a podman container.

A real daemon (started by `gt`), towns created with `--runtime podman`, real git, scripted
polecats and the real `opencode` CLI (driven by gastown.fakellm on the host). Covers: work
done inside the container and merged on the host; a real agent CLI in the container reaching
a model server on the host's 127.0.0.1 (`container.network host`); a container killed
mid-turn (the turn comes back lost, the bead is redispatched, the container restarts);
sleep after `container.sleep_after_minutes` and wake on the next bead; `gt town delete`
leaving no container, no process and no directory behind.

Marked podman+slow; skipped only when podman is not installed. The town image is built once
per run (session fixture; about 100 s on a clean machine, cached afterwards). Each test uses
its own town name (`gt-<town>` is a global container name) and removes its container.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from gastown import paths
from gastown.daemon import adapters
from gastown.host import engine
from gastown.daemon.runtime.container import ContainerRuntime
from gastown.fakellm import FakeLLM
from gastown.protocol import RpcError
from tests.conftest import make_repo, run_gt
from tests.helpers import bead, gtj, wait_for

HAVE_PODMAN = shutil.which("podman") is not None
pytestmark = [pytest.mark.podman, pytest.mark.slow,
              pytest.mark.skipif(not HAVE_PODMAN, reason="podman is not installed")]

ARITH = {"arith.py": "def add(a, b):\n    return a + b\n"}
BUILD_BUDGET = 600.0
TURN_TIMEOUT = float(os.environ.get("GT_E2E_TURN_TIMEOUT", "180"))
_seq = itertools.count(1)


# ----------------------------------------------------------------------------- helpers
def agent(name: str = "toast") -> dict[str, Any]:
    return gtj("agent", "show", name)[0]


def turn_output(a: dict[str, Any]) -> str:
    path = Path(a["turn_dir"]) / "output.log" if a.get("turn_dir") else None
    return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""


def wait_status(bead_id: str, wanted: tuple[str, ...], timeout: float = TURN_TIMEOUT) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        b = bead(bead_id)
        if b["status"] == "failed":
            raise AssertionError(f"bead failed: {b.get('failure_reason')}\n{turn_output(agent())}")
        return b if b["status"] in wanted else None
    found: dict[str, Any] = wait_for(check, timeout, f"{bead_id} -> {'/'.join(wanted)}")
    return found


def town_events(town_root: Path, event_type: str) -> list[dict[str, Any]]:
    """Town-level events (no bead), read straight from the town's store (read-only)."""
    conn = sqlite3.connect(f"file:{town_root / 'town.db'}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT metadata FROM bead_events WHERE bead_id IS NULL AND event_type = ?",
                            (event_type,)).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0] or "{}") for r in rows]


class Town:
    def __init__(self, name: str, root: Path, repo: Path, runtime: ContainerRuntime) -> None:
        self.name, self.root, self.repo, self.runtime = name, root, repo, runtime
        self.agent_home = root / "agents" / "toast" / "home"

    def state(self) -> str | None:
        info = self.runtime.inspect()
        return None if info is None else str(info["State"]["Status"])

    def container_id(self) -> str | None:
        info = self.runtime.inspect()
        return None if info is None else str(info["Id"])


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def image() -> str:
    """The town image, built once per run (600 s budget: debootstrap on a clean machine)."""
    if not HAVE_PODMAN:
        pytest.skip("podman is not installed")
    engine.reset()
    eng = engine.detect("podman")
    eng.verify()
    result: dict[str, Any] = {}

    def build() -> None:
        try:
            result["image"] = str(engine.build_image(eng, log=print)["image"])
        except BaseException as exc:  # reported below
            result["error"] = exc

    t0 = time.monotonic()
    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    thread.join(BUILD_BUDGET)
    if thread.is_alive():
        pytest.fail(f"town image build took more than {BUILD_BUDGET:.0f} s")
    if "error" in result:
        raise result["error"]
    print(f"town image {result['image']} ready in {time.monotonic() - t0:.1f} s")
    return str(result["image"])


@pytest.fixture
def town(image: str, gt_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:
    name = f"ce{os.getpid() % 10000}n{next(_seq)}"
    run_gt("town", "create", name, "--runtime", "podman", check=True)
    monkeypatch.setenv("GT_TOWN", name)
    repo = make_repo(gt_home / "src" / "app", ARITH)
    run_gt("rig", "add", "app", str(repo), check=True)
    root = paths.town_dir(name)
    runtime = ContainerRuntime("podman", root, town=name)
    assert runtime.inspect() is None, f"container {runtime.container} exists before the test"
    try:
        yield Town(name, root, repo, runtime)
    finally:
        run_gt("daemon", "stop")
        runtime.remove()  # only this test's own container


# ----------------------------------------------------------------------------- 1. the loop
def test_scripted_work_runs_in_the_container_and_merges_on_the_host(town: Town) -> None:
    run_gt("config", "set", "refinery.gates", json.dumps(["test -f x.txt"]), "--rig", "app", check=True)
    where = town.agent_home / "where.txt"
    script = ("echo x > x.txt && test -f /run/.containerenv && "
              f"{{ hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; command -v gt; }} > {where}")
    t0 = time.monotonic()
    slung = gtj("sling", "x", "--rig", "app", "--script", script)[0]
    wait_status(slung["id"], ("closed",))
    print(f"sling -> merged (container cold) in {time.monotonic() - t0:.1f} s")

    # the turn ran inside the town container: its hostname, its init, the image's gt
    host, init, gt_path = where.read_text().splitlines()[:3]
    assert host == town.runtime.container
    assert "sleep infinity" in init and gt_path == "/usr/local/bin/gt"
    assert town.state() == "running"
    # the agent reached the daemon through the bind-mounted socket directory
    a = agent()
    assert not (Path(a["turn_dir"]) / "env.json").exists()  # the token is never on disk
    sock = paths.runtime_dir() / "towns" / town.name / "gt.sock"  # the town's own socket dir
    mounts = {m["Destination"] for m in town.runtime.inspect()["Mounts"]}  # type: ignore[index]
    assert str(sock.parent) in mounts and str(town.root) in mounts
    assert str(paths.runtime_dir() / "towns") not in mounts  # never every town's sockets
    events = [e["event_type"] for e in gtj("bead", "events", slung["id"])]
    assert "agent_done" in events
    assert "done: merge request" in run_gt("agent", "logs", "toast", "--raw", check=True).stdout
    assert "gt done --summary" in run_gt("agent", "logs", "toast", check=True).stdout  # the readable transcript
    # merged by the refinery on the host: the human's checkout has it; identity and trailers
    assert (town.repo / "x.txt").read_text() == "x\n"
    mr = [m for m in gtj("mq", "list") if m["source_bead_id"] == slung["id"]]
    assert len(mr) == 1
    log = subprocess.run(["git", "-C", str(town.repo), "log", "-1", "--format=%an|%cn|%s|%B", mr[0]["head_sha"]],
                         capture_output=True, text=True, check=True).stdout
    author, committer, subject, body = log.split("|", 3)
    assert (author, committer, subject) == ("Test Human", "toast (gastown polecat)", "x")
    assert f"Bead-ID: {slung['id']}" in body and "Requested-by: Test Human <human@example.com>" in body
    assert subprocess.run(["git", "-C", str(town.repo), "status", "--porcelain"], capture_output=True, text=True,
                          check=True).stdout == ""


# ----------------------------------------------------------------------------- 2. real opencode
def test_opencode_in_the_container_talks_to_a_model_on_the_host(town: Town) -> None:
    try:
        adapters.get("opencode").resolve_binary()
    except RpcError as exc:
        pytest.skip(exc.message)
    where = town.agent_home / "where.txt"
    work = [
        {"shell": f"hostname > {where}"},
        {"shell": "printf 'def mul(a, b):\\n    return a * b\\n' >> arith.py"},
        {"shell": "git add -A && git commit -qm 'add mul'"},
        {"shell": "gt done --summary 'added mul'"},
        {"say": "Done."},
    ]
    run_gt("config", "set", "container.network", "host", check=True)  # before the container starts
    with FakeLLM(work) as llm:
        for key, value in (("agent.base_url", llm.url + "/v1/"), ("agent.api_key", "sk-fake"),
                           ("agent.model", "fake-model")):
            run_gt("config", "set", key, value, check=True)
        t0 = time.monotonic()
        slung = gtj("sling", "add mul", "--rig", "app", "--agent", "opencode")[0]
        try:
            wait_status(slung["id"], ("in_review", "closed"))
            a = wait_for(lambda: (lambda x: x if x["turn_ended_at"] else None)(agent()), 60, "the turn's exit")
        except AssertionError:
            print(turn_output(agent()), agent())
            raise
        print(f"opencode in container: sling -> gt done + turn exit in {time.monotonic() - t0:.1f} s")
        assert llm.remaining() == 0
    assert where.read_text().strip() == town.runtime.container  # the CLI's shell tool ran inside
    net = town.runtime.inspect()["HostConfig"]["NetworkMode"]  # type: ignore[index]
    assert net == "host"
    assert a["adapter"] == "opencode" and a["turns"] == 1
    assert a["session_id"] and a["session_id"].startswith("ses_")
    assert a["tokens_in"] > 0 and a["tokens_out"] > 0
    mr = [m for m in gtj("mq", "list") if m["source_bead_id"] == slung["id"]]
    assert len(mr) == 1 and mr[0]["branch"] == f"gt/toast/{slung['id']}"
    log = subprocess.run(["git", "-C", str(town.repo), "log", "-1", "--format=%an|%cn|%s", mr[0]["head_sha"]],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert log == "Test Human|toast (gastown polecat)|add mul"


# ----------------------------------------------------------------------------- 3. killed mid-turn
def test_container_killed_mid_turn_is_recovered(town: Town) -> None:
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    marker = town.agent_home / "attempt1"  # persistent across turns (the town dir is bind-mounted)
    script = (f"if [ -f {marker} ]; then echo second > y.txt; "
              f"else touch {marker}; sleep 20; echo first > y.txt; fi")
    slung = gtj("sling", "y", "--rig", "app", "--script", script)[0]
    wait_for(lambda: marker.exists() and agent()["status"] == "working", TURN_TIMEOUT, "the first attempt working")
    first_id = town.container_id()
    t0 = time.monotonic()
    subprocess.run(["podman", "kill", town.runtime.container], env=town.runtime.engine.env, check=True,
                   capture_output=True, timeout=60)
    wait_status(slung["id"], ("closed",), 120)
    print(f"kill -> redispatched, container restarted, merged in {time.monotonic() - t0:.1f} s")
    assert (town.repo / "y.txt").read_text() == "second\n"
    crashes = [e for e in gtj("bead", "events", slung["id"])
               if (e["metadata"].get("failure_reason") or {}).get("code") == "runner_lost"]
    assert crashes and crashes[0]["metadata"]["failure_reason"]["details"]["exit_code"] is None  # lost
    assert agent()["turns"] == 2
    died = town_events(town.root, "container_died")
    assert died and died[0]["alive"] is False
    assert town.state() == "running" and town.container_id() != first_id  # started again


# ----------------------------------------------------------------------------- 4. sleep and wake
def test_idle_container_sleeps_and_the_next_bead_wakes_it(town: Town) -> None:
    run_gt("config", "set", "container.sleep_after_minutes", "0.02", check=True)
    first = gtj("sling", "one", "--rig", "app", "--script", "echo one > one.txt")[0]
    wait_status(first["id"], ("closed",))
    assert town.state() in ("running", "exited", "stopped")
    t0 = time.monotonic()
    # the idle loop ticks every 30 s: the stop comes at the first idle tick past the limit
    wait_for(lambda: town.state() in ("exited", "stopped"), 90, "the idle container to stop")
    print(f"merged -> container stopped after {time.monotonic() - t0:.1f} s")
    assert town.state() in ("exited", "stopped")
    where = town.agent_home / "where.txt"
    t0 = time.monotonic()
    second = gtj("sling", "two", "--rig", "app", "--script", f"echo two > two.txt && hostname > {where}")[0]
    wait_status(second["id"], ("closed",))
    print(f"wake: sling -> merged in {time.monotonic() - t0:.1f} s")
    assert (town.repo / "two.txt").read_text() == "two\n"
    assert where.read_text().strip() == town.runtime.container  # the stopped container was started again
    assert town_events(town.root, "container_died") == []  # a deliberate sleep is no death
    assert agent()["turns"] == 2


# ----------------------------------------------------------------------------- 5. delete
def _procs_mentioning(text: str) -> list[tuple[int, str]]:
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if text in cmd:
            found.append((p.info["pid"], cmd))
    return found


def test_town_delete_leaves_nothing_behind(town: Town) -> None:
    slung = gtj("sling", "long", "--rig", "app", "--script", "sleep 300")[0]
    wait_for(lambda: agent()["status"] == "working" and _procs_mentioning(str(town.root)), TURN_TIMEOUT,
             "a turn running in the container")
    assert town.state() == "running" and slung["id"]
    t0 = time.monotonic()
    run_gt("town", "delete", town.name, "--yes", check=True)
    print(f"town delete with a running turn: {time.monotonic() - t0:.1f} s")
    ps = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], env=town.runtime.engine.env,
                        capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert town.runtime.container not in ps
    wait_for(lambda: not _procs_mentioning(str(town.root)), 10, "no process of the town")
    assert not town.root.exists()
