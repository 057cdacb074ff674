"""What the CLI asks the daemon instead of importing it: `system.doctor` (agent CLIs and the
sandbox, found in the daemon's own environment) and a town's image spec in `town.show` (its
settings, for `gt image build --town` and `gt town create`). In process (tests/harness.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import AsyncIterator

import pytest

from gastown.daemon import adapters
from gastown.protocol import Method
from tests.harness import Harness


@pytest.fixture
async def hx() -> AsyncIterator[Harness]:
    harness = await Harness.create()
    yield harness
    await harness.close()


async def test_doctor_finds_agent_clis_and_the_sandbox_where_the_daemon_does(
        hx: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "agents"
    claude = cache / "claude" / "node_modules" / ".bin" / "claude"
    claude.parent.mkdir(parents=True)
    claude.write_text("#!/bin/sh\n")
    claude.chmod(0o755)
    monkeypatch.setenv("GT_AGENT_CACHE", str(cache))
    monkeypatch.setenv("GT_BWRAP", str(tmp_path / "no-bwrap-here"))
    rows = {r["check"]: r for r in await hx.call(Method.DOCTOR)}
    real = {name for name in adapters.ADAPTERS if adapters.get(name).binary is not None}
    assert {f"agent CLI {name}" for name in real} <= set(rows)
    assert rows["agent CLI claude"] == {"check": "agent CLI claude", "ok": True, "detail": str(claude)}
    assert rows["sandbox (bwrap)"]["ok"] is False and "bwrap is not installed" in rows["sandbox (bwrap)"]["detail"]


async def test_town_show_carries_the_image_spec_from_the_town_settings(hx: Harness) -> None:
    assert (await hx.call(Method.TOWN_SHOW))["image"] == {"base": "", "setup": []}
    await hx.call(Method.CONFIG_SET, key="container.setup", value=json.dumps(["apt-get install -y jq"]))
    await hx.call(Method.CONFIG_SET, key="container.base", value="docker.io/library/debian:bookworm")
    assert (await hx.call(Method.TOWN_SHOW))["image"] == {"base": "docker.io/library/debian:bookworm",
                                                         "setup": ["apt-get install -y jq"]}
    hx.town.config_path.write_text("not [valid toml")
    assert "invalid TOML" in (await hx.call(Method.TOWN_SHOW))["image"]["problem"]


def test_gt_image_build_for_an_unknown_town_says_so_before_touching_an_engine(daemon: object) -> None:
    from gastown.protocol import ErrorCode, exit_code
    from tests.conftest import run_gt

    res = run_gt("image", "build", "--town", "nope")
    assert res.returncode == exit_code(ErrorCode.NOT_FOUND), res.stderr
    assert "nope" in res.stderr and "Traceback" not in res.stderr and res.stdout == ""
