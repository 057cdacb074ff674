"""The mayor: the real opencode CLI driven by the fake model server plans a convoy with
`gt sling --batch`; scripted polecats do the beads; the convoy lands; after a daemon
restart the next message resumes the same native session."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gastown.daemon.adapters.opencode import OpencodeAdapter
from gastown.fakellm import FakeLLM
from tests.conftest import make_repo, run_gt
from tests.helpers import gtj, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.agentcli]

PLAN = """title = "arith operators"
[[beads]]
id = "mul"
title = "add mul"
rig = "app"
script = ["printf 'def mul(a, b):\\\\n    return a * b\\\\n' > mul.py"]
[[beads]]
id = "sub"
title = "add sub"
rig = "app"
depends_on = ["mul"]
script = ["printf 'def sub(a, b):\\\\n    return a - b\\\\n' > sub.py"]
[[beads]]
id = "docs"
title = "document them"
rig = "app"
depends_on = ["sub"]
script = ["echo 'mul and sub' > OPERATORS.md"]
"""


def _opencode() -> str:
    try:
        return OpencodeAdapter().resolve_binary()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"opencode is not installed: {exc}")


def test_mayor_plans_a_convoy_that_lands_and_remembers(gt_home: Path) -> None:
    _opencode()
    steps = [
        {"shell": f"cat > plan.toml <<'EOF'\n{PLAN}EOF\ngt sling --batch plan.toml"},
        {"say": "I slung the convoy 'arith operators' with three beads."},
        {"say": "Yes: we were adding mul and sub."},
    ]
    with FakeLLM({"scripts": {"mayor-model": steps}, "default": [{"say": "ok"}]}) as llm:
        run_gt("town", "create", "t", check=True)
        repo = make_repo(gt_home / "src" / "app")
        run_gt("rig", "add", "app", str(repo), check=True)
        os.environ["GT_TOWN"] = "t"
        try:
            for key, value in (("mayor.adapter", "opencode"), ("agent.base_url", f"{llm.url}/v1"),
                               ("agent.api_key", "test-key"), ("agent.model", "mayor-model")):
                run_gt("config", "set", key, value, check=True)
            first = gtj("mayor", "ask", "Please add mul and sub to arith, then document them.")[0]
            assert "three beads" in first["reply"] and first["resumed"] is False
            convoys = gtj("convoy", "list")
            assert len(convoys) == 1 and convoys[0]["total"] == 3 and convoys[0]["title"] == "arith operators"
            wait_for(lambda: gtj("convoy", "show", convoys[0]["id"])[0]["landed_at"], 120, "the convoy landed")
            members = gtj("convoy", "show", convoys[0]["id"])[0]["members"]
            assert all(m["requested_by"] == "Test Human <human@example.com>" for m in members)
            log = subprocess.run(["git", "-C", str(repo), "log", "--format=%an|%cn|%s"], capture_output=True,
                                 text=True, check=True).stdout.splitlines()
            assert {"Test Human|toast (gastown polecat)|add mul", "Test Human|toast (gastown polecat)|add sub",
                    "Test Human|toast (gastown polecat)|document them"} <= set(log)
            session = gtj("agent", "show", "mayor")[0]["session_id"]
            assert session and session.startswith("ses_")

            run_gt("daemon", "stop", check=True)  # the conversation must survive this
            second = gtj("mayor", "ask", "Do you remember what we were doing?")[0]
            assert "adding mul and sub" in second["reply"] and second["resumed"] is True
            assert gtj("agent", "show", "mayor")[0]["session_id"] == session
            last = [r for r in llm.requests if r.get("model") == "mayor-model" and r.get("tools")][-1]
            assert "Please add mul and sub" in json.dumps(last["body"])  # same native session
            history = gtj("mail", "inbox")
            assert any(m["metadata"].get("kind") == "reply" for m in history)
            # the mayor's tools are not a polecat's
            assert run_gt("convoy", "list", env={"GT_AGENT_TOKEN": "bogus", "GT_AGENT_SOCKET": "/nonexistent",
                                                 "GT_AGENT_CONNECT_WAIT": "0"}).returncode != 0
        finally:
            os.environ.pop("GT_TOWN", None)
            run_gt("daemon", "stop")


def test_mayor_chat_renders_replies_and_takes_multiline_input(gt_home: Path) -> None:
    import sys

    import pexpect

    from gastown.daemon.adapters.codex import CodexAdapter

    try:
        CodexAdapter().resolve_binary()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"codex is not installed: {exc}")
    steps = [{"say": "**Hello**, I am the mayor."}, {"say": "Two lines received."}]
    with FakeLLM({"scripts": {"chat-model": steps}, "default": [{"say": "ok"}]}) as llm:
        run_gt("town", "create", "t", check=True)
        env = {**os.environ, "GT_TOWN": "t", "TERM": "dumb", "COLUMNS": "100"}
        for key, value in (("mayor.adapter", "codex"), ("agent.base_url", llm.url), ("agent.api_key", "k"),
                           ("agent.model", "chat-model")):
            run_gt("config", "set", key, value, env={"GT_TOWN": "t"}, check=True)
        child = pexpect.spawn(sys.executable, ["-m", "gastown.cli.entry", "mayor", "chat"], env=env,
                              encoding="utf-8", timeout=90)
        try:
            child.expect("you> ")
            child.sendline("hello mayor")
            child.expect("I am the mayor")
            assert "**Hello**" not in child.before + child.after  # markdown is rendered, not echoed raw
            child.expect("you> ")
            child.sendline("first line \\")
            child.expect(r"\.\.\. ")
            child.sendline("second line")
            child.expect("Two lines received")
            child.expect("you> ")
            child.sendeof()
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
            run_gt("daemon", "stop")
        bodies = [json.dumps(r["body"]) for r in llm.requests if r.get("model") == "chat-model"]
        assert any("first line \\nsecond line" in b for b in bodies)
    history = (gt_home / "mayor_history").read_text()
    assert "hello mayor" in history
