"""Issues as beads against the fake forge: import once per issue (with a label filter), the
bead lands, and the issue gets the landing comment (and is closed when configured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gastown.client import Client
from gastown.fakeforge import FakeForge
from tests.conftest import run_gt
from tests.helpers import bead, gtj, wait_for

pytestmark = pytest.mark.slow


def test_issues_become_beads_and_hear_when_they_land(town: Path) -> None:
    with FakeForge(token="sekrit") as fake:
        for key, value in (("forge.kind", "github"), ("forge.api_url", fake.url), ("forge.repo", "o/app"),
                           ("forge.token", "sekrit"), ("forge.close_issues", "true"), ("rig.max_polecats", "0")):
            run_gt("config", "set", key, value, check=True)
        fake.control("issue", title="Add a mul function", body="We need mul(a, b).", labels=["gastown", "feature"],
                     repo="o/app")
        fake.control("issue", title="Not for agents", labels=["discussion"], repo="o/app")

        first = gtj("import", "issues", "--repo", "o/app", "--label", "gastown")[0]
        assert first["total"] == 1 and len(first["created"]) == 1
        again = gtj("import", "issues", "--repo", "o/app", "--label", "gastown")[0]
        assert again["created"] == [] and again["total"] == 1  # each issue once
        b = bead(first["created"][0])
        assert b["title"] == "Add a mul function" and "From https://forge.test/o/app/issues/1" in b["body"]
        assert b["metadata"]["issue"]["number"] == 1 and sorted(b["labels"]) == ["feature", "gastown"]

        with Client(town="t") as c:  # the scripted stand-in needs its steps
            c.call("bead.update", id=b["id"],
                   metadata={"script": ["printf '\\ndef mul(a, b):\\n    return a * b\\n' >> arith.py"]})
        run_gt("config", "set", "rig.max_polecats", "1", check=True)
        wait_for(lambda: bead(b["id"])["status"] == "closed", 90, "the imported bead merged")

        def told() -> dict[str, Any] | None:
            issue = next(i for i in fake.state.snapshot()["issues"] if i["number"] == 1)
            return issue if issue["state"] == "closed" and issue["comments"] else None

        issue = wait_for(told, 60, "the landing comment")
        assert len(issue["comments"]) == 1 and issue["comments"][0]["body"].startswith("Landed by Gastown in ")
        assert b["id"] in issue["comments"][0]["body"]
        assert bead(b["id"])["metadata"]["issue"]["announced"] == "posted"
        unrelated = next(i for i in fake.state.snapshot()["issues"] if i["number"] == 2)
        assert unrelated["state"] == "open" and not unrelated["comments"]


def test_a_bad_repo_or_token_is_one_clear_line(town: Path) -> None:
    with FakeForge(token="sekrit") as fake:
        for key, value in (("forge.kind", "github"), ("forge.api_url", fake.url), ("forge.token", "wrong")):
            run_gt("config", "set", key, value, check=True)
        res = run_gt("import", "issues", "--repo", "o/app")
        assert res.returncode == 9 and res.stderr.count("\n") == 1 and "HTTP 401" in res.stderr
        res = run_gt("import", "issues", "--repo", "nonsense")
        assert res.returncode == 2 and "OWNER/NAME" in res.stderr
