"""`gt` as a user runs it: real processes, a real daemon, real git repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import make_repo, run_gt
from tests.helpers import QUICK_IDLE_S, ticks, wait_ticks

pytestmark = pytest.mark.slow


def lines(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_full_bead_lifecycle(gt_home: Path) -> None:
    run_gt("town", "create", "demo", check=True)
    repo = make_repo(gt_home / "src" / "app")
    added = lines(run_gt("rig", "add", "app", str(repo), "--json", check=True).stdout)[0]
    assert added["default_branch"] == "main" and added["id"] == "app"
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # no polecats: beads stay ready
    assert Path(added["repo_path"]).joinpath("HEAD").exists()  # cloned into the town

    a = lines(run_gt("bead", "create", "add mul", "--rig", "app", "--json", check=True).stdout)[0]
    b = lines(run_gt("bead", "create", "add sub", "--rig", "app", "--depends-on", a["id"], "-p", "P1", "--json",
                     check=True).stdout)[0]
    assert a["status"] == "open" and b["priority"] == 1

    ready = lines(run_gt("ready", "--json", check=True).stdout)
    assert [r["id"] for r in ready] == [a["id"]]
    assert all({"id", "status"} <= set(r) for r in ready)

    cycle = run_gt("bead", "dep", "add", a["id"], b["id"])
    assert cycle.returncode == 4 and "dependency cycle" in cycle.stderr and cycle.stderr.count("\n") == 1

    run_gt("bead", "close", a["id"], "--reason", "merged", check=True)
    assert [r["id"] for r in lines(run_gt("ready", "--json").stdout)] == [b["id"]]

    reopen = run_gt("bead", "update", a["id"], "--status", "open")
    assert reopen.returncode == 4 and "reopen" in reopen.stderr
    run_gt("bead", "reopen", a["id"], "--reason", "regressed", check=True)
    explain = run_gt("ready", "--explain", check=True).stdout
    assert b["id"] in explain and f"waiting for {a['id']}" in explain

    shown = run_gt("bead", "show", b["id"], check=True).stdout
    assert "add sub" in shown and a["id"] in shown
    listed = lines(run_gt("bead", "list", "--status", "open", "--json", check=True).stdout)
    assert {x["id"] for x in listed} == {a["id"], b["id"]}
    events = lines(run_gt("bead", "events", a["id"], "--json", check=True).stdout)
    assert [e["event_type"] for e in events] == ["created", "closed", "reopened"]


def test_fast_path_matches_typer_path(gt_home: Path) -> None:
    run_gt("town", "create", "demo", check=True)
    bead = lines(run_gt("bead", "create", "x", "--body", "line one", "--json", check=True).stdout)[0]
    fast = run_gt("bead", "show", bead["id"])
    slow = run_gt("bead", "show", bead["id"], "--town", "demo")  # still the fast path
    typer_path = subprocess.run(
        [sys.executable, "-c", "import sys; from gastown.cli.app import run; sys.argv=['gt','bead','show',sys.argv[1]]; run()",
         bead["id"]], capture_output=True, text=True)
    assert fast.stdout == slow.stdout == typer_path.stdout and "line one" in fast.stdout
    missing = run_gt("bead", "show", "demo-zzzzz")
    assert missing.returncode == 3 and missing.stderr == "gt: no bead 'demo-zzzzz'\n"


def test_rig_add_rejects_what_is_not_git(gt_home: Path) -> None:
    run_gt("town", "create", "demo", check=True)
    plain = gt_home / "plain"
    plain.mkdir()
    res = run_gt("rig", "add", "app", str(plain))
    assert res.returncode == 9 and "not a git repository" in res.stderr and res.stderr.count("\n") == 1
    res = run_gt("rig", "add", "app", str(gt_home / "missing"))
    assert res.returncode == 9
    res = run_gt("rig", "add", "Bad Name", str(plain))
    assert res.returncode == 2 and "invalid rig name" in res.stderr
    repo = make_repo(gt_home / "r")
    res = run_gt("rig", "add", "app", str(repo), "--branch", "nope")
    assert res.returncode == 9 and "nope" in res.stderr
    assert run_gt("rig", "list", "--json").stdout == ""
    assert not (gt_home / "towns" / "demo" / "rigs" / "app").exists()
    run_gt("rig", "add", "app", str(repo), check=True)
    dup = run_gt("rig", "add", "app", str(repo))
    assert dup.returncode == 4 and "already exists" in dup.stderr


def test_rig_remove(gt_home: Path) -> None:
    run_gt("town", "create", "demo", check=True)
    run_gt("rig", "add", "app", str(make_repo(gt_home / "r")), check=True)
    run_gt("config", "set", "rig.max_polecats", "0", check=True)
    bead = lines(run_gt("bead", "create", "x", "--rig", "app", "--json").stdout)[0]
    busy = run_gt("rig", "remove", "app")
    assert busy.returncode == 5 and "unfinished" in busy.stderr
    run_gt("bead", "close", bead["id"], check=True)
    run_gt("rig", "remove", "app", check=True)
    assert not (gt_home / "towns" / "demo" / "rigs" / "app").exists()


def test_towns(gt_home: Path) -> None:
    run_gt("town", "create", "one", check=True)
    assert run_gt("town", "create", "one").returncode == 4
    assert run_gt("town", "create", "Bad!").returncode == 2
    run_gt("town", "create", "two", "--prefix", "tw", check=True)
    assert {t["id"] for t in lines(run_gt("town", "list", "--json").stdout)} == {"one", "two"}
    amb = run_gt("bead", "list")
    assert amb.returncode == 2 and "--town" in amb.stderr
    bead = lines(run_gt("bead", "create", "x", "--json", env={"GT_TOWN": "two"}).stdout)[0]
    assert bead["id"].startswith("tw-")
    refused = run_gt("town", "delete", "two")  # no tty, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert (gt_home / "towns" / "two").exists()
    run_gt("town", "delete", "two", "--yes", check=True)
    assert not (gt_home / "towns" / "two").exists()
    assert run_gt("town", "show", "two").returncode == 3


def test_town_show_counts_the_loops_ticks(gt_home: Path) -> None:
    run_gt("town", "create", "one", check=True)
    assert run_gt("config", "set", "loop.idle_seconds", "-1").returncode == 2
    run_gt("config", "set", "loop.idle_seconds", QUICK_IDLE_S, check=True)
    before = ticks("one")
    wait_ticks(2, town="one")  # an idle town still ticks, every loop.idle_seconds
    assert ticks("one") >= before + 3
    shown = lines(run_gt("town", "show", "--json", check=True).stdout)[0]["loop"]
    assert shown["ticks"] >= before + 3 and shown["active"] is False
    assert "ticks, idle" in run_gt("town", "show", check=True).stdout


def test_config(gt_home: Path) -> None:
    run_gt("town", "create", "demo", check=True)
    run_gt("rig", "add", "app", str(make_repo(gt_home / "r")), check=True)
    run_gt("config", "set", "refinery.gates", '["python3 -m pytest -q"]', "--rig", "app", check=True)
    assert run_gt("config", "get", "refinery.gates", "--rig", "app").stdout.strip() == '["python3 -m pytest -q"]'
    assert run_gt("config", "get", "refinery.gates").stdout.strip() == "[]"
    run_gt("config", "set", "rig.max_polecats", "2", check=True)
    got = lines(run_gt("config", "get", "rig.max_polecats", "--rig", "app", "--json").stdout)[0]
    assert got["value"] == 2 and got["source"] == "town"
    assert "rig" in (gt_home / "towns" / "demo" / "config.toml").read_text()
    bad = run_gt("config", "set", "rig.max_polecats", "lots")
    assert bad.returncode == 2 and "takes a whole number" in bad.stderr
    assert run_gt("config", "set", "runtime", "podman", "--rig", "app").returncode == 2
    assert run_gt("config", "set", "nope.key", "1").returncode == 2
    run_gt("config", "set", "rig.max_polecats", "--unset", check=True)
    assert run_gt("config", "get", "rig.max_polecats").stdout.strip() == "4"


def test_daemon_commands(gt_home: Path) -> None:
    assert run_gt("daemon", "status").returncode == 7
    run_gt("daemon", "start", check=True)
    status = lines(run_gt("daemon", "status", "--json", check=True).stdout)[0]
    assert status["status"] == "running" and status["id"] == "daemon"
    again = run_gt("daemon", "start", check=True)
    assert "already running" in again.stderr
    assert "listening on" in run_gt("daemon", "logs", check=True).stdout
    run_gt("daemon", "stop", check=True)
    assert run_gt("daemon", "status").returncode == 7


def _commands(app: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    import typer.main

    group = typer.main.get_command(app)
    stack = [(prefix, group)]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append(((*path, name), sub))


def test_every_command_has_help() -> None:
    from gastown.cli.app import full_app  # every command built (`app` lists stubs until one runs)

    seen = 0
    for path, cmd in _commands(full_app()):
        assert (cmd.help or "").strip(), f"gt {' '.join(path)} has no help text"
        seen += 1
    assert seen > 25
    res = run_gt("bead", "create", "--help")
    assert res.returncode == 0 and "--depends-on" in res.stdout
