"""Steering a real day end to end through `gt`: scripted polecats, a real daemon, real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_gt
from tests.helpers import agent, bead, gtj, turn_env, wait_for

pytestmark = pytest.mark.slow


def _branch_log(gt_home: Path, branch: str) -> str:
    repo = gt_home / "towns" / "t" / "rigs" / "app" / "repo.git"
    return subprocess.run(["git", "-C", str(repo), "log", "--format=%s", branch], capture_output=True, text=True,
                          check=True).stdout


def agent_home(gt_home: Path) -> Path:
    """A place both the test and the sandboxed polecat `toast` can write (its own home)."""
    home = gt_home / "towns" / "t" / "agents" / "toast" / "home"
    home.mkdir(parents=True, exist_ok=True)
    return home


def _events(bead_id: str) -> list[str]:
    return [e["event_type"] for e in gtj("bead", "events", bead_id)]


def test_hold_during_a_turn_keeps_the_commits_and_release_finishes_it(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "1", check=True)
    flag = agent_home(gt_home) / "first-turn"
    step = (f"test -f {flag} || {{ echo wip > wip.txt && git add -A && git commit -qm 'half done' && "
            f"touch {flag} && sleep 60; }}")
    a = gtj("sling", "slow work", "--rig", "app", "--script", step)[0]
    wait_for(flag.exists, 60, "the first turn committed")
    held = gtj("bead", "hold", a["id"], "--reason", "waiting for the API decision")[0]
    assert held["status"] == "open" and "gt:held" in held["labels"] and held["stopped_agent"]["name"] == "toast"
    wait_for(lambda: agent()["turn_ended_at"], 30, "the stopped turn ended")
    assert "half done" in _branch_log(gt_home, f"gt/toast/{a['id']}")  # the work stays on its branch
    # the only polecat is free, yet the held bead is passed over: a later bead runs and merges
    b = gtj("sling", "other work", "--rig", "app", "--script", "echo b > b.txt")[0]
    wait_for(lambda: bead(b["id"])["status"] == "closed", 60, "the other bead merged")
    assert bead(a["id"])["status"] == "open" and _events(a["id"]).count("hooked") == 1
    run_gt("bead", "release", a["id"], check=True)
    wait_for(lambda: bead(a["id"])["status"] == "closed", 60, "the released bead merged")
    assert (town / "wip.txt").read_text() == "wip\n"  # the commit from before the hold landed


def test_agent_stop_holds_the_bead_and_retry_runs_it_now(town: Path, gt_home: Path) -> None:
    flag = agent_home(gt_home) / "go"
    a = gtj("sling", "waits", "--rig", "app", "--script", f"test -f {flag} || sleep 60; echo a > a.txt")[0]
    wait_for(lambda: agent()["status"] == "working", 60, "working")
    res = run_gt("agent", "stop", "toast", check=True)
    assert f"bead {a['id']} is held" in res.stdout
    assert "gt:held" in bead(a["id"])["labels"] and agent()["status"] == "stopped"
    run_gt("agent", "reset", "toast", check=True)
    flag.write_text("go")
    retried = gtj("bead", "retry", a["id"])[0]
    assert "gt:held" not in retried["labels"] and retried["dispatch_attempts"] == 0
    wait_for(lambda: bead(a["id"])["status"] == "closed", 60, "merged after retry")


def test_retry_reopens_a_failed_bead_with_a_reason(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "dispatch.max_attempts", "1", check=True)
    flag = agent_home(gt_home) / "fixed"
    a = gtj("sling", "flaky", "--rig", "app", "--script", f"test -f {flag} || exit 3; echo f > f.txt")[0]
    wait_for(lambda: bead(a["id"])["status"] == "failed", 60, "failed")
    res = run_gt("bead", "retry", a["id"])
    assert res.returncode == 2 and "--reason" in res.stderr
    flag.write_text("ok")
    run_gt("bead", "retry", a["id"], "--reason", "the flake is fixed", check=True)
    wait_for(lambda: bead(a["id"])["status"] == "closed", 60, "merged after retry")


def test_town_pause_stops_turns_and_resume_finishes_the_work(town: Path, gt_home: Path) -> None:
    flag = agent_home(gt_home) / "started"
    a = gtj("sling", "long", "--rig", "app", "--script",
            f"test -f {flag} || {{ touch {flag}; sleep 60; }}; echo p > p.txt")[0]
    wait_for(flag.exists, 60, "the turn started")
    paused = gtj("town", "pause", "--reason", "rate limited")[0]
    assert paused["paused"] and [s["name"] for s in paused["stopped"]] == ["toast"]
    wait_for(lambda: agent()["turn_ended_at"], 30, "the turn stopped")
    assert bead(a["id"])["status"] == "open" and bead(a["id"])["assignee"] is None
    assert gtj("town", "pause")[0]["paused"]  # idempotent
    run_gt("town", "resume", check=True)
    wait_for(lambda: bead(a["id"])["status"] == "closed", 60, "merged after resume")


def test_rig_park_then_unpark(town: Path) -> None:
    assert gtj("rig", "park", "app", "--reason", "freeze")[0]["parked"] is True
    res = run_gt("rig", "park", "nope")
    assert res.returncode == 3
    a = gtj("sling", "parked work", "--rig", "app", "--script", "echo k > k.txt")[0]
    assert bead(a["id"])["status"] == "open"
    assert gtj("rig", "unpark", "app")[0]["parked"] is False
    wait_for(lambda: bead(a["id"])["status"] == "closed", 60, "merged after unpark")


def test_done_no_change_closes_without_a_merge(town: Path) -> None:
    head = subprocess.run(["git", "-C", str(town), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    a = gtj("sling", "is add broken?", "--rig", "app", "--script",
            "gt done --status no-change --summary 'add already works; test_add passes' && "
            "gt done --status no-change --summary 'add already works; test_add passes' > /dev/null")[0]
    closed = wait_for(lambda: (b := bead(a["id"]))["status"] == "closed" and b, 60, "closed")
    assert closed["close_reason"] == "add already works; test_add passes"
    assert gtj("mq", "list") == []  # nothing was merged
    assert subprocess.run(["git", "-C", str(town), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout == head
    wait_for(lambda: agent()["status"] == "idle" and agent()["turn_ended_at"], 30, "idle")
    assert agent()["restarts"] == []  # not counted as a crash
    exits = [e["new_value"] for e in gtj("bead", "events", agent()["bead_id"]) if e["event_type"] == "turn_exited"]
    assert exits == ["0"]  # the repeated `gt done` succeeded too (else the script's step fails the turn)
    events = [e for e in gtj("bead", "events", a["id"]) if e["event_type"] == "agent_done"]
    assert len(events) == 1  # the repeated call was answered from the first, not done twice


def test_done_deferred_and_escalated_hold_the_bead(town: Path) -> None:
    d = gtj("sling", "needs the new API", "--rig", "app", "--script",
            "echo part > part.txt && git add -A && git commit -qm part && "
            "gt done --status deferred --summary 'waits for the v2 API'")[0]
    held = wait_for(lambda: (b := bead(d["id"]))["metadata"].get("hold") and b, 60, "deferred")
    assert held["status"] == "open" and "gt:held" in held["labels"] and "v2 API" in held["metadata"]["hold"]["reason"]
    e = gtj("sling", "delete the users table?", "--rig", "app", "--script",
            "gt done --status escalated --summary 'is dropping user data intended?'")[0]
    wait_for(lambda: "gt:held" in bead(e["id"])["labels"], 60, "escalated")
    escalations = gtj("escalation", "list")
    assert any("dropping user data" in x["title"] and x["metadata"].get("bead") == e["id"] for x in escalations)
    res = run_gt("done", "--status", "no-change")  # a human has no hook; the summary is checked first
    assert res.returncode != 0


def test_sling_refuses_a_mistyped_id_and_defaults_to_the_only_rig(town: Path, gt_home: Path) -> None:
    a = gtj("sling", "no rig given", "--script", "echo r > r.txt")[0]  # one rig: --rig is optional
    assert a["rig"] == "app"
    prefix = a["id"].split("-")[0]
    typo = f"{prefix}-zzz"
    res = run_gt("sling", typo)
    assert res.returncode == 3 and f"no bead '{typo}'" in res.stderr
    assert not [b for b in gtj("bead", "list") if b["title"] == typo]  # nothing was created
    from tests.conftest import make_repo
    run_gt("rig", "add", "web", str(make_repo(gt_home / "src" / "web")), check=True)
    res = run_gt("sling", "which rig?")
    assert res.returncode == 2 and "2 rigs (app, web): pass --rig" in res.stderr


def test_no_usable_agent_refuses_work_with_a_hint(town: Path) -> None:
    run_gt("config", "set", "agent.adapter", "--unset", check=True)  # as if no agent CLI were installed
    res = run_gt("sling", "fix the login bug")
    assert res.returncode == 5 and "no agent to do the work" in res.stderr and "gt config set agent.adapter" in res.stderr
    assert gtj("bead", "list") == [] or all(b["title"] != "fix the login bug" for b in gtj("bead", "list"))
    res = run_gt("mayor", "ask", "plan my day")
    assert res.returncode == 5 and "no agent" in res.stderr


def test_town_create_says_which_agent_and_scripted_only_when_asked(gt_home: Path) -> None:
    res = run_gt("town", "create", "asked", "--agent", "scripted", check=True)
    assert "agent scripted: as asked (the deterministic stand-in" in res.stderr
    res = run_gt("town", "create", "detected", env={"GT_DEFAULT_AGENT": ""}, check=True)
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("agent ")][0]
    assert "scripted" not in line and ("detected" in line or "no agent CLI found" in line)
    got = gtj("config", "get", "agent.adapter", "--town", "detected")[0]["value"]
    assert got != "scripted"


def test_rig_add_proposes_the_detected_gate_and_warns_when_ungated(gt_home: Path) -> None:
    from tests.conftest import ARITH, make_repo

    run_gt("town", "create", "g", check=True)
    detect = {"GT_DEFAULT_GATE": "", "GT_TOWN": "g"}
    res = run_gt("rig", "add", "calc", str(make_repo(gt_home / "src" / "calc", ARITH)), env=detect, check=True)
    assert "gate python3 -m pytest -q: detected" in res.stderr
    assert gtj("config", "get", "refinery.gates", "--rig", "calc", "--town", "g")[0]["value"] == ["python3 -m pytest -q"]
    res = run_gt("rig", "add", "web", str(make_repo(gt_home / "src" / "web")), "--gate", "make check", env=detect,
                 check=True)
    assert gtj("config", "get", "refinery.gates", "--rig", "web", "--town", "g")[0]["value"] == ["make check"]
    run_gt("rig", "add", "docs", str(make_repo(gt_home / "src" / "docs")), env=detect, check=True)
    res = run_gt("sling", "write docs", "--rig", "docs", "--town", "g", check=True)
    assert "rig docs has no quality gate: its work will merge untested" in res.stderr
    run_gt("rig", "add", "raw", str(make_repo(gt_home / "src" / "raw")), "--no-gate", env=detect, check=True)
    res = run_gt("sling", "quick hack", "--rig", "raw", "--town", "g", check=True)
    assert "quality gate" not in res.stderr  # turned off on purpose: no warning


def test_parked_landing_is_told_builds_on_and_syncs_into_the_users_branch(town: Path) -> None:
    from gastown.client import Client
    from gastown.protocol import Method

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(town), *args], capture_output=True, text=True, check=True).stdout

    def notices() -> list[dict[str, object]]:
        with Client(town="t") as c:
            return list(c.call(Method.TOWN_NOTICES)["parked"])

    (town / "test_arith.py").write_text((town / "test_arith.py").read_text() + "# my edit in progress\n")
    mul = gtj("sling", "add mul", "--script", "printf '\\ndef mul(a, b):\\n    return a * b\\n' >> arith.py")[0]
    wait_for(lambda: bead(mul["id"])["status"] == "closed", 60, "mul merged")
    assert "def mul" not in (town / "arith.py").read_text()  # the user's dirty checkout was not touched
    assert "into gastown/main" in git("log", "-1", "--format=%s", "gastown/main")
    [note] = notices()
    assert note["commits"] and "gt rig sync app" in str(note["message"])
    res = run_gt("rig", "sync", "app")
    assert res.returncode == 5 and "uncommitted changes (test_arith.py)" in res.stderr
    # the next bead starts from the parked branch: appending to the same file does not conflict
    sub = gtj("sling", "add sub", "--script", "printf '\\ndef sub(a, b):\\n    return a - b\\n' >> arith.py")[0]
    wait_for(lambda: bead(sub["id"])["status"] == "closed", 60, "sub merged")
    git("commit", "-qam", "my edit")
    res = run_gt("rig", "sync", "app", check=True)
    assert "into main" in res.stdout
    text = (town / "arith.py").read_text()
    assert "def mul" in text and "def sub" in text and "# my edit in progress" in (town / "test_arith.py").read_text()
    assert git("status", "--porcelain") == "" and notices() == []


def test_consistency_of_the_cli(town: Path, gt_home: Path) -> None:
    a = gtj("sling", "an issue", "--script", "echo i > i.txt")[0]
    wait_for(lambda: bead(a["id"])["status"] == "closed", 60, "merged")
    assert {b["type"] for b in gtj("bead", "list")} == {"issue"}  # issues by default
    assert {"issue", "merge_request", "agent"} <= {b["type"] for b in gtj("bead", "list", "--all")}
    b = gtj("bead", "create", "todo", "--rig", "app")[0]
    res = run_gt("bead", "update", b["id"], "--status", "closed")
    assert res.returncode == 2 and f"gt bead close {b['id']}" in res.stderr
    assert run_gt("-h").returncode == 0 and run_gt("bead", "-h").returncode == 0
    res = run_gt("--town", "t", "bead", "show", b["id"], env={"GT_TOWN": ""})
    assert res.returncode == 0 and b["id"] in res.stdout
    help_text = run_gt("sling", "-h").stdout + run_gt("bead", "-h").stdout
    assert "<str>" not in help_text and "list[" not in help_text and "Example:" in help_text
    plan = gt_home / "plan.toml"
    plan.write_text('[[beads]]\nid = "a"\ntitle = "A"\nrig = "app"\ndepends-on = []\n')
    res = run_gt("sling", "--batch", str(plan))
    assert res.returncode == 2 and "unknown key 'depends-on' (did you mean 'depends_on'?)" in res.stderr
    assert run_gt("agent", "reset", "toast").stdout.startswith("reset toast")  # results on stdout


def test_mayor_ask_exits_non_zero_when_its_turn_failed(town: Path) -> None:
    # the scripted stand-in cannot answer as a mayor (its workspace is no git checkout): the turn fails
    res = run_gt("mayor", "ask", "anything?", "--json")
    assert res.returncode == 9
    assert gtj_lines(res.stdout)[0]["status"] == "failed"


def gtj_lines(text: str) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_dispatch_exhausted_escalates_once_and_resolves_when_retried(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "dispatch.max_attempts", "1", check=True)
    flag = agent_home(gt_home) / "ok"
    a = gtj("sling", "flaky", "--script", f"test -f {flag} || exit 3; echo f > f.txt")[0]
    wait_for(lambda: bead(a["id"])["status"] == "failed", 60, "failed")
    escs = [e for e in gtj("escalation", "list") if e["metadata"].get("bead") == a["id"]]
    assert len(escs) == 1 and escs[0]["category"] == "dispatch"
    flag.write_text("ok")
    run_gt("bead", "retry", a["id"], "--reason", "fixed", check=True)
    wait_for(lambda: not [e for e in gtj("escalation", "list") if e["metadata"].get("bead") == a["id"]], 60,
             "the escalation resolved itself")
    events = [e["event_type"] for e in gtj("bead", "events", escs[0]["id"])]
    assert "escalation_resolved" in events


def test_daemon_install_and_uninstall_a_user_service(gt_home: Path) -> None:
    import os

    config = gt_home / "xdg"
    bin_dir = gt_home / "fakebin"
    bin_dir.mkdir()
    calls = gt_home / "systemctl-calls"
    fake = bin_dir / "systemctl"  # records what it is asked; systemd itself is not in the test machine
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    fake.chmod(0o755)
    env = {"XDG_CONFIG_HOME": str(config), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    res = run_gt("daemon", "install", env=env, check=True)
    unit = config / "systemd" / "user" / "gastown.service"
    text = unit.read_text()
    assert "-m gastown.daemon" in text and f"GT_HOME={gt_home}" in text and "Restart=on-failure" in text
    assert "enabled gastown.service" in res.stdout
    assert calls.read_text().splitlines() == ["--user daemon-reload", "--user enable --now gastown.service"]
    run_gt("daemon", "uninstall", env=env, check=True)
    assert not unit.exists() and "--user disable --now gastown.service" in calls.read_text()
    fake.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2; exit 1\n")
    res = run_gt("daemon", "install", env=env)
    assert res.returncode == 9 and "Failed to connect to bus" in res.stderr and unit.exists()


def test_rig_files_and_agent_mail_to_nobody_reaches_the_mayor(town: Path, gt_home: Path) -> None:
    from gastown.client import Client
    from gastown.daemon.api.agent import ROLE_METHODS
    from gastown.protocol import Method

    listing = run_gt("rig", "files", "app", check=True).stdout.split()
    assert "arith.py" in listing and "test_arith.py" in listing
    assert "def add" in run_gt("rig", "files", "app", "arith.py", check=True).stdout
    assert run_gt("rig", "files", "app", "nope.py").returncode == 3
    assert {Method.RIG_FILES, Method.DEP_REMOVE, Method.BEAD_HOLD, Method.CONVOY_ADD} <= ROLE_METHODS["mayor"]
    gtj("sling", "x", "--script", "sleep 30")
    wait_for(lambda: agent()["status"] == "working", 30, "working")
    env = turn_env(Path(agent()["turn_dir"]))
    with Client(Path(env["GT_AGENT_SOCKET"]), token=env["GT_AGENT_TOKEN"]) as me:
        [msg] = me.call(Method.MAIL_SEND, to="witness", subject="who reviews?", body="asking")
    assert msg["assignee"] == "mayor" and "which is no mailbox in this town" in msg["body"]
    res = run_gt("mail", "send", "nobody", "typo", "-m", "x")  # a human's typo is refused, not redirected
    assert res.returncode == 3
