"""A Mayor that notices: a failed bead and its escalation reach a real mayor CLI (codex,
driven by the fake model server) as a turn of its own, without any human asking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gastown.fakellm import FakeLLM
from tests.conftest import run_gt
from tests.helpers import agent, bead, gtj, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.agentcli]


def test_a_failed_bead_reaches_the_mayor_on_its_own(town: Path) -> None:
    from gastown.daemon.adapters.codex import CodexAdapter

    CodexAdapter().resolve_binary()  # the pinned CLI must be installed (scripts/install-agents.sh codex)
    steps = [{"say": "Noted: the flaky bead failed; it needs a human to fix the test first."}]
    with FakeLLM({"scripts": {"notice-model": steps}, "default": [{"say": "ok"}]}) as llm:
        for key, value in (("mayor.adapter", "codex"), ("agent.base_url", llm.url), ("agent.api_key", "k"),
                           ("agent.model", "notice-model"), ("mayor.notice_minutes", "0.01"),
                           ("dispatch.max_attempts", "1")):
            run_gt("config", "set", key, value, check=True)
        a = gtj("sling", "flaky", "--script", "exit 3")[0]  # the polecats stay scripted (per-bead script)
        wait_for(lambda: bead(a["id"])["status"] == "failed", 60, "failed")

        def told() -> bool:
            bodies = [json.dumps(r["body"]) for r in llm.requests if r.get("model") == "notice-model"]
            return any("Town notice" in b and a["id"] in b for b in bodies)

        wait_for(told, 90, "the mayor's notice turn reached the model")
        wait_for(lambda: agent("mayor")["turn_ended_at"], 90, "the notice turn ended")
    assert agent("mayor")["turns"] == 1  # one notice for the bead and its escalation together
