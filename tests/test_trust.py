"""The trust suite: real turns of a hostile scripted agent on the sandboxed `local` runtime try
every attack of issue 11 from inside the turn; each must fail and the same agent's honest work
must still land. The daemon must never run a hook or fsmonitor planted in the rig clone, and
everything under GT_HOME must be private.

The sandbox is `required` here, so if bwrap stopped working on the CI host the turns would
fail (with the cause) instead of the test silently running unconfined.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from gastown import paths, runner
from gastown.client import Client
from gastown.protocol import PROTOCOL_VERSION, ErrorCode, RpcError
from tests.conftest import make_repo, run_gt
from tests.helpers import bead, gtj, turn_env, wait_for

pytestmark = pytest.mark.slow
ATTACK = Path(__file__).parent / "trust" / "attack.py"
CANARY = "canary-7f3a"
# what an honest agent still does with git inside its fences: stash (refs/stash), a branch of its own
HONEST_GIT = ("echo wip > wip.txt && git add wip.txt && git stash -q && git stash drop -q "
              "&& git checkout -q -b scratch && git checkout -q - && echo ok > git-works.txt")


@pytest.fixture
def hostile_town(gt_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Town `t` (rig `app`, sandbox required) and town `u`, their daemon started from an
    environment holding secrets (the canary)."""
    for name in ("GT_TRUST_CANARY_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, f"{CANARY}-{name}")
    run_gt("town", "create", "t", check=True)
    run_gt("town", "create", "u", check=True)
    repo = make_repo(tmp_path / "src" / "app", {"README.md": "# app\n", "attack.py": ATTACK.read_text()})
    run_gt("rig", "add", "app", str(repo), "--town", "t", check=True)
    run_gt("config", "set", "sandbox", "required", "--town", "t", check=True)
    monkeypatch.setenv("GT_TOWN", "t")
    yield repo


def _log(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "log", "--format=%s", "main"], capture_output=True, text=True,
                          check=True).stdout


def _commit(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", name], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", f"add {name}"], check=True)


def test_hostile_agent_in_the_sandbox(hostile_town: Path, gt_home: Path, tmp_path: Path) -> None:
    repo = hostile_town
    shown = gtj("town", "show")[0]
    assert shown["sandbox"]["active"] and shown["sandbox"]["mode"] == "required"
    assert CANARY not in json.dumps(shown["agent_env"])  # the daemon has it; agents do not get it
    # a victim agent with a live turn
    victim_bead = gtj("sling", "victim", "--rig", "app", "--script", "sleep 120")[0]
    wait_for(lambda: gtj("agent", "list") and gtj("agent", "list")[0]["status"] == "working", 30, "victim working")
    victim = gtj("agent", "list")[0]
    vturn = Path(victim["turn_dir"])
    vstatus = wait_for(lambda: runner.read_status(vturn), 15, "victim status")
    assert CANARY not in json.dumps(turn_env(vturn))  # the victim's real environment: no secret
    town_root = gt_home / "towns" / "t"
    targets = {
        "gt_home": str(gt_home), "town_root": str(town_root), "victim_turn": str(vturn),
        "victim_worktree": victim["worktree"], "victim_attach": vstatus["attach_socket"],
        "victim_pid": vstatus["child_pid"], "victim_runner_pid": vstatus["runner_pid"],
        "victim_branch": victim["branch"], "human_socket": str(paths.socket_path()),
        "other_town_socket": str(paths.runtime_dir() / "towns" / "u" / "gt.sock"),
        "repo_git": str(town_root / "rigs" / "app" / "repo.git"),
    }
    _commit(repo, "targets.json", json.dumps(targets))
    # the gate runs the repository's code too: in the same sandbox, without the daemon's secrets
    gate = (f'test -f honest.txt && test -z "$GT_TRUST_CANARY_KEY$GITHUB_TOKEN" && test ! -e {town_root}/town.db '
            f'&& test ! -e {paths.socket_path()} && ! touch {town_root}/rigs/app/repo.git/hooks/x')
    run_gt("config", "set", "refinery.gates", json.dumps([gate]), "--rig", "app", check=True)
    slung = gtj("sling", "attack and honest work", "--rig", "app", "--script", "python3 attack.py targets.json",
                "--script", HONEST_GIT, "--script", "echo honest > honest.txt")[0]
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 90, "the attacker's honest work merged")
    assert (repo / "git-works.txt").read_text() == "ok\n"  # stash and a branch of its own still work
    mr = [m for m in gtj("mq", "list") if m["source_bead_id"] == slung["id"]][0]
    gates = gtj("mq", "show", mr["id"])[0]["gates"]
    assert [(g["exit_code"], g["ran_in"]) for g in gates] == [(0, "host sandbox")], gates
    assert (repo / "honest.txt").read_text() == "honest\n"  # the work landed on the user's checkout
    results = json.loads((repo / "attacks.json").read_text())
    token = results.pop("my_token")
    assert token and len(results) == 22
    assert "forged base" not in _log(repo)
    opened = {k: v for k, v in results.items() if not v.startswith("blocked: ")}
    assert opened == {}, opened
    assert "pwned" not in (town_root / "config.toml").read_text()
    assert not (clone := town_root / "rigs" / "app" / "repo.git" / "hooks" / "post-checkout").exists(), clone
    # its token died with its turn
    wait_for(lambda: gtj("agent", "show", slung["assignee"] or gtj("bead", "show", slung["id"])[0]["assignee"])[0]
             ["turn_ended_at"], 30, "attacker turn recorded as ended")
    with pytest.raises(RpcError) as exc:
        Client(paths.runtime_dir() / "towns" / "t" / "gt.sock", token=token)
    assert exc.value.code == ErrorCode.FORBIDDEN
    # the victim was untouched and its terminal still works
    assert runner.is_running(vturn)
    run_gt("agent", "stop", victim["name"], check=True)
    assert bead(victim_bead["id"])["status"] != "closed"
    _assert_private(gt_home)


def _frame(sock: socket.socket, method: str, **params: object) -> dict[str, Any]:
    sock.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode() + b"\n")
    line = sock.makefile("rb").readline()
    return dict(json.loads(line))


def test_token_is_revoked_on_a_connection_opened_during_the_turn(hostile_town: Path, gt_home: Path) -> None:
    """A connection that said hello with a live token is refused on its next request once the
    turn has ended (not only new connections)."""
    slung = gtj("sling", "long turn", "--rig", "app", "--script", "sleep 120")[0]
    wait_for(lambda: gtj("agent", "list") and gtj("agent", "list")[0]["status"] == "working", 30, "working")
    agent = gtj("agent", "list")[0]
    token = wait_for(lambda: turn_env(agent["turn_dir"]).get("GT_AGENT_TOKEN"), 15, "the turn's token")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(paths.runtime_dir() / "towns" / "t" / "gt.sock"))
        assert "result" in _frame(sock, "system.hello", protocol=PROTOCOL_VERSION, token=token)
        assert _frame(sock, "system.ping")["result"] == "pong"
        assert _frame(sock, "bead.show", id=slung["id"])["result"]
        run_gt("agent", "stop", agent["name"], check=True)
        wait_for(lambda: gtj("agent", "show", agent["name"])[0]["turn_ended_at"], 30, "turn recorded as ended")
        refused = _frame(sock, "system.ping")["error"]
        assert refused["code"] == ErrorCode.FORBIDDEN and "revoked" in refused["message"], refused
        again = _frame(sock, "bead.show", id=slung["id"])
        assert "error" in again and "result" not in again, again


def test_daemon_never_runs_planted_repository_code(hostile_town: Path, gt_home: Path, tmp_path: Path) -> None:
    """Planted from outside the sandbox (as on a town with sandbox=off, or a container town
    before its mounts were narrowed): hooks of every kind and program keys in the clone's
    config. The daemon fetches, adds worktrees, merges and pushes; none of it runs."""
    repo = hostile_town
    marker = tmp_path / "ran"
    clone = gt_home / "towns" / "t" / "rigs" / "app" / "repo.git"
    for hook in ("post-checkout", "post-merge", "reference-transaction", "pre-push", "post-rewrite",
                 "pre-auto-gc", "fsmonitor-watchman"):
        path = clone / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> {marker}\nexit 0\n")
        path.chmod(0o755)
    for key, value in (("core.fsmonitor", f"echo fsmonitor >> {marker}; false"),
                       ("core.sshCommand", f"echo ssh >> {marker}; ssh"),
                       ("filter.evil.smudge", f"echo smudge >> {marker}; cat"),
                       ("filter.evil.clean", f"echo clean >> {marker}; cat"),
                       ("diff.external", f"echo diff >> {marker}")):
        subprocess.run(["git", "--git-dir", str(clone), "config", key, value], check=True)
    _commit(repo, ".gitattributes", "* filter=evil\n")
    slung = gtj("sling", "work", "--rig", "app", "--script", "echo ok > work.txt")[0]
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 90, "merged")
    assert (repo / "work.txt").read_text() == "ok\n"
    assert not marker.exists(), marker.read_text()
    left = subprocess.run(["git", "--git-dir", str(clone), "config", "--get-regexp", "fsmonitor|sshcommand|filter|external"],
                          capture_output=True, text=True).stdout
    assert left == ""  # scrubbed from the clone's config
    assert "removed planted config" in paths.log_path().read_text()


def _assert_private(gt_home: Path) -> None:
    """Every file and directory under GT_HOME (and the runtime dir) is owner-only."""
    loose = []
    for root in {gt_home, paths.runtime_dir()}:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                st = os.lstat(name)
                if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                    loose.append(f"{oct(st.st_mode & 0o777)} {name}")
    assert loose == [], loose[:20]


def test_existing_home_is_tightened_at_start(gt_home: Path) -> None:
    (gt_home / "towns" / "old").mkdir(parents=True)
    loose = gt_home / "towns" / "old" / "town.db"
    loose.write_text("x")
    os.chmod(gt_home, 0o755)
    os.chmod(loose, 0o644)
    run_gt("daemon", "start", check=True)
    assert stat.S_IMODE(os.stat(gt_home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o600
    _assert_private(gt_home)


def test_sandbox_modes_without_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bwrap: auto runs unconfined and says why, required refuses with the cause, off is off."""
    from gastown.daemon.runtime import sandbox

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    sandbox.probe(fresh=True)
    try:
        assert sandbox.enabled("auto") is False and sandbox.enabled("off") is False
        with pytest.raises(RpcError) as exc:
            sandbox.enabled("required")
        assert exc.value.code == ErrorCode.EXTERNAL and "bwrap is not installed" in exc.value.message
        assert "unconfined" in sandbox.state("auto")["reason"] and not sandbox.state("auto")["active"]
        assert "refuse" in sandbox.state("required")["reason"]
    finally:
        monkeypatch.undo()
        sandbox.probe(fresh=True)


def test_agent_env_config_warns_and_masks(gt_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUST_PRESENT", "yes")
    run_gt("town", "create", "t", check=True)
    res = run_gt("config", "set", "agent.env", '["TRUST_PRESENT", "TRUST_ABSENT", "MY_API_KEY=sk-live-1"]',
                 "--town", "t", check=True)
    assert "TRUST_ABSENT is not set" in res.stderr and "TRUST_PRESENT" not in res.stderr
    assert "sk-live-1" not in res.stdout
    run_gt("config", "set", "agent.api_key", "sk-secret-2", "--town", "t", check=True)
    for args in (("config", "get", "--town", "t"), ("config", "get", "agent.api_key", "--town", "t"),
                 ("config", "get", "agent.env", "--town", "t"), ("town", "show", "t"), ("town", "show", "t", "--json")):
        out = run_gt(*args, check=True).stdout
        assert "sk-secret-2" not in out and "sk-live-1" not in out, args
    show = run_gt("town", "show", "t", check=True).stdout
    assert "TRUST_PRESENT=yes" in show and "MY_API_KEY=********" in show and "GT_AGENT_TOKEN" in show
    rows = {r["check"]: r for r in gtj("doctor")}
    assert rows["sandbox (bwrap)"]["ok"] and "bubblewrap works" in rows["sandbox (bwrap)"]["detail"]
    assert "PATH" in rows["agent environment"]["detail"] and "TRUST_PRESENT" not in rows["agent environment"]["detail"]
    bad = run_gt("config", "set", "agent.env", '["not a name"]', "--town", "t")
    assert bad.returncode != 0 and "NAME or NAME=value" in bad.stderr
    bad = run_gt("config", "set", "runtime.sandbox", "off", "--town", "t")
    assert bad.returncode != 0 and "did you mean 'sandbox'" in bad.stderr
    bad = run_gt("config", "set", "sandbox", "maybe", "--town", "t")
    assert bad.returncode != 0 and "auto, required, off" in bad.stderr


# ----------------------------------------------------------------------------- container towns
@pytest.mark.podman
def test_hostile_agent_in_a_container_town(gt_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same hostile agent in a podman town, next to a victim agent with a live turn in
    the same container: every attack fails (each agent is a uid of its own: no other agent's
    environment, token, turn directory, worktree or terminal; no secret from the daemon's
    environment, no human or other town's socket, the store and settings hidden, the clone's
    config, hooks and origin refs not writable, no capability); its honest work lands, through
    a gate that runs as a uid of its own and cannot read the agents' files either."""
    from gastown.daemon.runtime import agentuids
    from gastown.daemon.runtime.container import ContainerRuntime

    monkeypatch.setenv("GT_TRUST_CANARY_KEY", f"{CANARY}-container")
    name = f"tr{os.getpid() % 10000}"
    run_gt("town", "create", name, "--runtime", "podman", "--quiet", check=True)
    run_gt("town", "create", "u", "--runtime", "local", check=True)
    monkeypatch.setenv("GT_TOWN", name)
    runtime = ContainerRuntime("podman", paths.town_dir(name), town=name)
    try:
        repo = make_repo(tmp_path / "src" / "app", {"README.md": "# app\n", "attack.py": ATTACK.read_text()})
        run_gt("rig", "add", "app", str(repo), check=True)
        town_root = paths.town_dir(name)
        victim_bead = gtj("sling", "victim", "--rig", "app", "--script", "sleep 120")[0]
        wait_for(lambda: gtj("agent", "list") and gtj("agent", "list")[0]["status"] == "working", 300, "victim working")
        victim = gtj("agent", "list")[0]
        vturn = Path(victim["turn_dir"])
        vstatus = wait_for(lambda: runner.read_status(vturn), 30, "victim status")
        assert os.stat(vturn).st_uid > agentuids.BASE and stat.S_IMODE(os.stat(vturn).st_mode) == 0o700
        assert "each as a uid of its own" in gtj("town", "show")[0]["sandbox"]["reason"]
        targets = {
            "gt_home": str(gt_home), "town_root": str(town_root), "victim_turn": str(vturn),
            "victim_worktree": victim["worktree"], "victim_attach": vstatus["attach_socket"],
            "victim_pid": vstatus["child_pid"], "victim_runner_pid": vstatus["runner_pid"],
            "victim_branch": victim["branch"], "human_socket": str(paths.socket_path()),
            "other_town_socket": str(paths.runtime_dir() / "towns" / "u" / "gt.sock"),
            "repo_git": str(town_root / "rigs" / "app" / "repo.git"),
        }
        _commit(repo, "targets.json", json.dumps(targets))
        gate = f'test -f honest.txt && ! ls {victim["worktree"]} && ! cat {vturn}/prompt.md && test "$(id -u)" != 0'
        run_gt("config", "set", "refinery.gates", json.dumps([gate]), "--rig", "app", check=True)
        slung = gtj("sling", "attack and honest work", "--rig", "app", "--script", "python3 attack.py targets.json",
                    "--script", HONEST_GIT, "--script", "echo honest > honest.txt")[0]
        wait_for(lambda: bead(slung["id"])["status"] in ("closed", "failed"), 300, "the attacker's work merged")
        assert bead(slung["id"])["status"] == "closed", bead(slung["id"]).get("failure_reason")
        assert (repo / "honest.txt").read_text() == "honest\n"
        assert (repo / "git-works.txt").read_text() == "ok\n"  # stash and a branch of its own still work
        mr = [m for m in gtj("mq", "list") if m["source_bead_id"] == slung["id"]][0]
        gates = gtj("mq", "show", mr["id"])[0]["gates"]
        assert [g["exit_code"] for g in gates] == [0], gates
        results = json.loads((repo / "attacks.json").read_text())
        assert results.pop("my_token") and len(results) == 22
        opened = {k: v for k, v in results.items() if not v.startswith("blocked: ")}
        assert opened == {}, opened
        assert "forged base" not in _log(repo)
        assert "pwned" not in (town_root / "config.toml").read_text()
        hook = town_root / "rigs" / "app" / "repo.git" / "hooks" / "post-checkout"
        assert not hook.exists()
        # the victim was untouched: still running, its terminal still its own
        assert runtime.is_running(vturn)
        run_gt("agent", "stop", victim["name"], check=True)
        assert bead(victim_bead["id"])["status"] != "closed"
        attacker = gtj("bead", "show", slung["id"])[0]["assignee"]
        owners = {os.stat(town_root / "turns" / a).st_uid for a in (victim["name"], attacker)}
        assert len(owners) == 2 and min(owners) > agentuids.BASE, owners
    finally:
        run_gt("daemon", "stop")
        runtime.remove()


# ----------------------------------------------------------------------------- a real agent CLI
@pytest.mark.agentcli
def test_hostile_real_cli_in_the_sandbox(hostile_town: Path, gt_home: Path, tmp_path: Path) -> None:
    """A real agent CLI (codex, driven by the fake model server) runs the attack program as a
    shell command of its own, inside the sandbox, then does honest work that lands."""
    from gastown.daemon import adapters
    from gastown.fakellm import FakeLLM

    adapters.get("codex").resolve_binary()  # installed by scripts/install-agents.sh (CI installs it)
    repo = hostile_town
    town_root = gt_home / "towns" / "t"
    nowhere = str(tmp_path / "no-such-victim")
    targets = {
        "gt_home": str(gt_home), "town_root": str(town_root), "victim_turn": nowhere, "victim_worktree": nowhere,
        "victim_attach": nowhere + "/a.sock", "victim_pid": 999999, "victim_runner_pid": 999999, "human_socket": str(paths.socket_path()),
        "other_town_socket": str(paths.runtime_dir() / "towns" / "u" / "gt.sock"),
        "repo_git": str(town_root / "rigs" / "app" / "repo.git"),
    }
    _commit(repo, "targets.json", json.dumps(targets))
    script = [{"shell": "python3 attack.py targets.json"},
              {"shell": "echo honest > honest.txt && git add -A && git commit -qm 'honest work'"},
              {"shell": "gt done --summary 'honest work'"}, {"say": "Done."}]
    with FakeLLM(script) as llm:
        for key, value in (("agent.base_url", llm.url), ("agent.api_key", "sk-fake"), ("agent.model", "fake-model")):
            run_gt("config", "set", key, value, check=True)
        slung = gtj("sling", "attack and honest work", "--rig", "app", "--agent", "codex")[0]
        wait_for(lambda: bead(slung["id"])["status"] in ("closed", "failed"), 180, "merged")
    assert bead(slung["id"])["status"] == "closed", bead(slung["id"]).get("failure_reason")
    assert (repo / "honest.txt").read_text() == "honest\n"
    results = json.loads((repo / "attacks.json").read_text())
    results.pop("my_token")
    assert "forged base" not in _log(repo)
    opened = {k: v for k, v in results.items() if not v.startswith("blocked: ")}
    assert opened == {}, opened
    assert not (town_root / "rigs" / "app" / "repo.git" / "hooks" / "post-checkout").exists()


def test_agent_environment_is_built_from_the_allow_list() -> None:
    from gastown.daemon.town import agentenv

    daemon = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC", "GITHUB_TOKEN": "ghp_x",
              "SSH_AUTH_SOCK": "/run/ssh", "AWS_SECRET_ACCESS_KEY": "aws", "PROXY_URL": "http://p"}
    env = agentenv.build({"HOME": "/agent", "GT_TOWN": "t", "LC_TIME": None}, ["PROXY_URL", "X_MODE=fast", "UNSET"],
                         environ=daemon)
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": "/agent", "GT_TOWN": "t",
                   "PROXY_URL": "http://p", "X_MODE": "fast", "TERM": "xterm-256color"}
    assert agentenv.warnings(["PROXY_URL", "UNSET", "A=b"], environ=daemon) == [
        w for w in agentenv.warnings(["UNSET"], environ=daemon)] and "UNSET" in agentenv.warnings(["UNSET"], daemon)[0]
    assert [n for n in ("GIT_AUTHOR_NAME", "OPENAI_API_KEY", "GITHUB_TOKEN", "agent.api_key", "PATH", "KEYBOARD")
            if agentenv.is_secret(n)] == ["OPENAI_API_KEY", "GITHUB_TOKEN", "agent.api_key"]
    rows = {r["name"]: r["value"] for r in agentenv.describe({"MY_API_KEY": "sk", "LANG": "C"})}
    assert rows == {"MY_API_KEY": agentenv.MASK, "LANG": "C"}


def test_without_bwrap_auto_runs_unconfined_and_required_refuses(gt_home: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A host where bwrap does not work (GT_BWRAP points at nothing, read by the daemon): `auto`
    says so at create/show and still lands work; `required` refuses the turn naming the cause."""
    monkeypatch.setenv("GT_BWRAP", str(tmp_path / "no-bwrap"))
    created = run_gt("town", "create", "t", check=True)
    assert "sandbox auto (OFF)" in created.stderr and "bwrap is not installed" in created.stderr
    repo = make_repo(tmp_path / "src" / "app")
    run_gt("rig", "add", "app", str(repo), "--town", "t", check=True)
    monkeypatch.setenv("GT_TOWN", "t")
    shown = gtj("town", "show")[0]["sandbox"]
    assert shown["mode"] == "auto" and not shown["active"] and "unconfined" in shown["reason"]
    ok = gtj("sling", "unconfined work", "--rig", "app", "--script", "echo ok > ok.txt")[0]
    wait_for(lambda: bead(ok["id"])["status"] == "closed", 60, "merged unconfined")
    run_gt("config", "set", "sandbox", "required", check=True)
    run_gt("config", "set", "dispatch.max_attempts", "1", check=True)
    assert "refuse" in gtj("town", "show")[0]["sandbox"]["reason"]
    refused = gtj("sling", "must be sandboxed", "--rig", "app", "--script", "echo no > no.txt")[0]
    failed = wait_for(lambda: (b := bead(refused["id"]))["status"] == "failed" and b, 60, "refused")
    events = json.dumps(gtj("bead", "events", refused["id"]))
    assert "sandbox required but unavailable" in events and "bwrap is not installed" in events, failed
    assert not (repo / "no.txt").exists()
