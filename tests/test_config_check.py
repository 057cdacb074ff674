"""Settings are checked on `set` and on every read: types, allowed values with "did you
mean", fractional durations, masked secrets, and hand edits reported (never a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gastown.daemon import adapters
from gastown.daemon.town import config
from gastown.protocol import ErrorCode, RpcError
from tests.conftest import run_gt
from tests.helpers import gtj


def _refused(key: str, value: object) -> str:
    with pytest.raises(RpcError) as exc:
        config.check_type(key, value)
    assert exc.value.code == ErrorCode.INVALID_PARAMS
    return exc.value.message


def test_allowed_values_with_did_you_mean() -> None:
    assert config.AGENTS == tuple(a for a in config.AGENTS if a in adapters.ADAPTERS)
    assert set(config.AGENTS) == set(adapters.ADAPTERS)
    assert "did you mean 'opencode'" in _refused("agent.adapter", "opencod")
    assert "use one of local, podman, docker" in _refused("runtime", "banana")
    assert "use one of merge, rebase, squash" in _refused("refinery.merge_mode", "fastforward")
    assert "did you mean 'rebase'" in _refused("refinery.merge_mode", "rebas")
    assert "a whole number" in _refused("rig.max_polecats", 2.5)
    assert "true or false" in _refused("refinery.code_review", "yes")
    assert "negative" in _refused("patrol.gupp_minutes", -1)
    assert "int" not in _refused("rig.max_polecats", "x") and "float" not in _refused("patrol.gupp_minutes", "x")


def test_durations_take_fractions_and_units() -> None:
    assert config.check_type("patrol.gupp_minutes", 0.5) == 0.5
    assert config.check_type("escalation.reescalate_hours", 0.25) == 0.25
    assert config.check_type("patrol.gupp_minutes", "90s") == 1.5
    assert config.check_type("escalation.reescalate_hours", "30m") == 0.5
    assert "a number" in _refused("patrol.gupp_minutes", "soon")


def test_hand_edited_file_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('runtime = "banana"\nbogus = 1\n[agent]\nadapter = "opencod"\n[rig]\nmax_polecats = 2\n')
    found = config.problems(path)
    assert len(found) == 3 and any("did you mean 'opencode'" in p for p in found)
    assert any("unknown setting 'bogus'" in p for p in found)
    data = config.load(path)
    assert config.resolve("runtime", data) == ("local", "default")  # the bad value is never handed on
    assert config.resolve("rig.max_polecats", data) == (2, "town")
    path.write_text("runtime = \n")
    assert "invalid TOML" in config.problems(path)[0]
    assert config.load_or_empty(path) == {}


@pytest.mark.slow
def test_gt_config_set_refuses_and_every_command_reports_a_bad_file(town: Path, gt_home: Path) -> None:
    res = run_gt("config", "set", "agent.adapter", "opencod")
    assert res.returncode == 2 and "did you mean 'opencode'" in res.stderr and "Traceback" not in res.stderr
    res = run_gt("config", "set", "refinery.merge_mode", "fastforward")
    assert res.returncode == 2 and "merge, rebase, squash" in res.stderr
    assert gtj("config", "set", "patrol.gupp_minutes", "7.5")[0]["value"] == 7.5
    secret = gtj("config", "set", "agent.api_key", "sk-very-secret")[0]
    assert secret["value"] == "********"
    assert "sk-very-secret" not in run_gt("config", "get", "agent.api_key", check=True).stdout
    assert "sk-very-secret" in run_gt("config", "get", "agent.api_key", "--reveal", check=True).stdout
    cfg = gt_home / "towns" / "t" / "config.toml"
    cfg.write_text(cfg.read_text().replace('runtime = "local"', 'runtime = "banana"'))
    res = run_gt("bead", "list")
    assert res.returncode == 0 and "invalid runtime 'banana'" in res.stderr
    doctor = {r["check"]: r for r in gtj("doctor")}
    assert doctor["town t config"]["ok"] is False and "banana" in doctor["town t config"]["detail"]
    # the town still works on the default runtime meanwhile
    slung = gtj("sling", "still works", "--rig", "app", "--script", "echo w > w.txt")[0]
    from tests.helpers import bead, wait_for
    wait_for(lambda: bead(slung["id"])["status"] == "closed", 60, "merged despite the bad file")
