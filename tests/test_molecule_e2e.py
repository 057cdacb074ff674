"""Molecules end to end: a real daemon, real git, scripted agents (and one real opencode
turn through the fake model server). A four-step workflow with a typed run step in both
modes, a convoy formula (three legs and a synthesis), an approval step held until
`gt bead approve`, an overlay that skips a step, and the built-in bugfix formula patched
by the rig's own overlay."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gastown.daemon import adapters
from gastown.fakellm import FakeLLM
from gastown.protocol import RpcError
from tests.conftest import run_gt
from tests.helpers import gtj, wait_for

pytestmark = pytest.mark.slow

CHECK = "PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider"
WORKFLOW = f"""
name = "mul"
description = "Add {{{{fn}}}} in four steps."
[vars.fn]
required = true
[[steps]]
id = "implement"
title = "Implement {{{{fn}}}}"
description = "Add {{{{fn}}}} to arith.py."
script = ["printf '\\\\ndef mul(a, b):\\\\n    return a * b\\\\n' >> arith.py"]
[[steps]]
id = "tests"
title = "Test {{{{fn}}}}"
needs = ["implement"]
script = ["printf '\\\\n\\\\ndef test_mul():\\\\n    assert arith.mul(2, 3) == 6\\\\n' >> test_arith.py"]
[[steps]]
id = "check"
title = "The tests pass"
needs = ["tests"]
run = "{CHECK}"
[[steps]]
id = "docs"
title = "Document {{{{fn}}}}"
needs = ["check"]
script = ["echo '# mul(a, b)' > MUL.md"]
"""


def town_dir(gt_home: Path) -> Path:
    return gt_home / "towns" / "t"


def add_formula(gt_home: Path, name: str, text: str) -> Path:
    path = town_dir(gt_home) / "formulas" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def molecule(mol_id: str) -> dict[str, Any]:
    return _show(mol_id)


def _show(mol_id: str) -> dict[str, Any]:
    from gastown.client import Client
    from gastown.protocol import Method

    with Client(autostart=False) as c:
        result: dict[str, Any] = c.call(Method.MOLECULE_SHOW, id=mol_id)
    return result


def wait_closed(mol_id: str, timeout: float = 120) -> dict[str, Any]:
    def closed() -> dict[str, Any] | None:
        m = _show(mol_id)
        if m["status"] == "failed":
            raise AssertionError(f"molecule failed: {json.dumps(m, indent=1)[:3000]}")
        return m if m["status"] == "closed" else None
    mol: dict[str, Any] = wait_for(closed, timeout, f"molecule {mol_id} closed")
    return mol


def main_file(repo: Path, name: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"main:{name}"], capture_output=True, text=True,
                          check=True).stdout


def test_workflow_in_beads_mode(town: Path, gt_home: Path) -> None:
    add_formula(gt_home, "mul", WORKFLOW)
    mol = gtj("formula", "run", "mul", "--rig", "app", "--var", "fn=mul")[0]
    assert mol["type"] == "molecule" and mol["mode"] == "beads" and len(mol["steps"]) == 4
    done = wait_closed(mol["id"])
    steps = {s["step"]: s for s in done["steps"]}
    assert all(s["status"] == "closed" for s in steps.values())
    assert steps["check"]["result"]["exit_code"] == 0 and "2 passed" in steps["check"]["result"]["output_tail"]
    assert steps["implement"]["who"] == "toast" and steps["check"]["who"] == "daemon"
    assert steps["implement"]["summary"].startswith("scripted")
    # every agent step merged on its own: three merge requests, each closed
    mrs = gtj("mq", "list")
    assert sorted(m["source_bead_id"] for m in mrs) == sorted(steps[k]["id"] for k in ("implement", "tests", "docs"))
    assert "def mul" in main_file(town, "arith.py") and "# mul" in main_file(town, "MUL.md")
    lines = gtj("molecule", "show", mol["id"])
    assert [line["step"] for line in lines] == ["implement", "tests", "check", "docs"]
    text = run_gt("molecule", "show", mol["id"], check=True).stdout
    assert "landed" in text and "run `" + CHECK + "`: exit 0" in text


def test_workflow_in_single_mode_with_an_overlay_that_skips_a_step(town: Path, gt_home: Path) -> None:
    add_formula(gt_home, "mul", WORKFLOW)
    add_formula(gt_home, "mul-nodocs", 'name = "mul-nodocs"\nextends = "mul"\n'
                '[[patch]]\nop = "skip"\nstep = "docs"\n')
    shown = gtj("formula", "show", "mul-nodocs")[0]
    assert [s["id"] for s in shown["steps"]] == ["implement", "tests", "check"]
    mol = gtj("formula", "run", "mul-nodocs", "--rig", "app", "--var", "fn=mul", "--mode", "single")[0]
    done = wait_closed(mol["id"])
    steps = done["steps"]
    assert [s["step"] for s in steps] == ["implement", "tests", "check"]
    assert [s["summary"] for s in steps[:2]] == ["scripted: implement", "scripted: tests"]
    assert steps[2]["result"]["exit_code"] == 0
    mrs = gtj("mq", "list")  # one branch, one merge
    assert len(mrs) == 1 and mrs[0]["source_bead_id"] == mol["id"] and mrs[0]["status"] == "closed"
    assert "def test_mul" in main_file(town, "test_arith.py")
    events = [e["event_type"] for e in gtj("bead", "events", mol["id"])]
    assert events.count("step_done") == 2 and "merged" in events


def test_single_mode_run_step_failure_keeps_the_molecule_on_that_step(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "dispatch.max_attempts", "2", check=True)
    run_gt("config", "set", "dispatch.backoff_scale", "0", check=True)
    add_formula(gt_home, "mul", WORKFLOW.replace(CHECK, "echo red; exit 4"))
    mol = gtj("formula", "run", "mul", "--rig", "app", "--var", "fn=mul", "--mode", "single")[0]
    failed = wait_for(lambda: (m := _show(mol["id"]))["status"] == "failed" and m, 90, "molecule failed")
    assert failed["failed_step"] == "check"
    check = next(s for s in failed["steps"] if s["step"] == "check")
    assert check["result"]["exit_code"] == 4 and "red" in check["result"]["output_tail"]
    assert "FAILED at step check" in run_gt("molecule", "show", mol["id"], check=True).stdout


CONVOY = """
name = "trio"
type = "convoy"
description = "three legs and a synthesis"
[[legs]]
id = "one"
script = ["echo 1 > one.txt"]
[[legs]]
id = "two"
script = ["echo 2 > two.txt"]
[[legs]]
id = "three"
script = ["echo 3 > three.txt"]
[synthesis]
title = "Sum up"
script = ["cat one.txt two.txt three.txt > all.txt"]
"""


def test_convoy_formula_legs_in_parallel_then_synthesis(town: Path, gt_home: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "3", check=True)
    add_formula(gt_home, "trio", CONVOY)
    mol = gtj("formula", "run", "trio", "--rig", "app", "--staged")[0]
    assert mol["staged"] and gtj("ready") == []
    run_gt("molecule", "start", mol["id"], check=True)
    done = wait_closed(mol["id"])
    legs = [s for s in done["steps"] if s["step"] != "synthesis"]
    assert len({s["who"] for s in legs}) > 1  # the legs ran on different polecats
    assert main_file(town, "all.txt").split() == ["1", "2", "3"]


APPROVAL = """
name = "gated"
[[steps]]
id = "draft"
script = ["echo draft > NOTES.md"]
[[steps]]
id = "approve"
approval = true
needs = ["draft"]
[[steps]]
id = "publish"
needs = ["approve"]
script = ["echo published >> NOTES.md"]
"""


@pytest.mark.parametrize("mode", ["beads", "single"])
def test_approval_step_holds_until_approved(mode: str, town: Path, gt_home: Path) -> None:
    add_formula(gt_home, "gated", APPROVAL)
    mol = gtj("formula", "run", "gated", "--rig", "app", "--mode", mode)[0]
    gate = next(s for s in mol["steps"] if s["step"] == "approve")
    wait_for(lambda: _show(mol["id"])["steps"][0]["status"] == "closed", 60, "draft done")
    held = wait_for(lambda: (m := _show(mol["id"]))["status"] == "open" and gtj("agent", "list")[0]["status"] == "idle"
                    and m, 60, "waiting")
    assert [s["status"] for s in held["steps"]] == ["closed", "open", "open"]
    assert gtj("ready") == []  # nothing moves while the approval is pending
    res = run_gt("bead", "approve", held["steps"][2]["id"])
    assert res.returncode != 0 and "not an approval step" in res.stderr
    run_gt("bead", "approve", gate["id"], check=True)
    done = wait_closed(mol["id"])
    approved = [e for e in gtj("bead", "events", gate["id"]) if e["event_type"] == "approved"]
    assert len(approved) == 1 and done["steps"][1]["who"] == approved[0]["actor"]
    assert main_file(town, "NOTES.md").split() == ["draft", "published"]


RIG_BUGFIX = """
name = "bugfix"
extends = "bugfix"
[[patch]]
op = "replace"
step = "reproduce"
script = ["printf '\\\\n\\\\ndef test_sub():\\\\n    assert arith.sub(5, 3) == 2\\\\n' >> test_arith.py"]
[[patch]]
op = "replace"
step = "fix"
script = ["printf '\\\\ndef sub(a, b):\\\\n    return a - b\\\\n' >> arith.py"]
"""


def test_builtin_bugfix_with_the_rigs_overlay_end_to_end(town: Path, gt_home: Path) -> None:
    """The rig versions its overlay in .gastown/formulas/ (here: scripts for the stand-in agent)."""
    (town / ".gastown" / "formulas").mkdir(parents=True)
    (town / ".gastown" / "formulas" / "bugfix.toml").write_text(RIG_BUGFIX)
    subprocess.run(["git", "-C", str(town), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(town), "commit", "-qm", "bugfix overlay"], check=True)
    listed = {f["name"]: f for f in gtj("formula", "list", "--rig", "app")}
    assert listed["bugfix"]["source"] == "rig app" and listed["feature"]["source"] == "built-in"
    bad = run_gt("formula", "run", "bugfix", "--rig", "app")
    assert bad.returncode == 2 and "missing required var 'issue'" in bad.stderr and gtj("bead", "list") == []
    mol = gtj("formula", "run", "bugfix", "--rig", "app", "--var", "issue=sub is missing",
              "--var", f"test_cmd={CHECK}")[0]
    done = wait_closed(mol["id"])
    assert [s["step"] for s in done["steps"]] == ["reproduce", "fix", "regress"]
    assert done["steps"][2]["result"]["exit_code"] == 0
    story = run_gt("molecule", "show", mol["id"], check=True).stdout
    assert "bugfix: sub is missing" in story and "regress" in story and "exit 0" in story


def test_one_step_by_the_real_opencode_cli(town: Path, gt_home: Path) -> None:
    try:
        adapters.get("opencode").resolve_binary()
    except RpcError as exc:
        pytest.skip(exc.message)
    persona_dir = town_dir(gt_home) / "personas"
    persona_dir.mkdir(parents=True)
    (persona_dir / "coder.toml").write_text('name = "coder"\nadapter = "opencode"\n')
    add_formula(gt_home, "oc", f"""
name = "oc"
[[steps]]
id = "implement"
persona = "coder"
title = "Add mul"
[[steps]]
id = "check"
needs = ["implement"]
run = "{CHECK}"
""")
    work = [{"shell": "printf 'def mul(a, b):\\n    return a * b\\n' >> arith.py"},
            {"shell": "git add -A && git commit -qm 'add mul'"},
            {"shell": "gt step done --summary 'added mul'"},
            {"shell": "gt done --summary 'mul'"},
            {"say": "Done."}]
    with FakeLLM(work) as llm:
        for key, value in (("agent.base_url", llm.url + "/v1/"), ("agent.api_key", "sk-fake"),
                           ("agent.model", "fake-model")):
            run_gt("config", "set", key, value, check=True)
        mol = gtj("formula", "run", "oc", "--rig", "app", "--mode", "single", "--persona", "coder")[0]
        done = wait_closed(mol["id"], 180)
    assert done["steps"][0]["summary"] == "added mul" and done["steps"][1]["result"]["exit_code"] == 0
    assert gtj("agent", "show", "toast")[0]["adapter"] == "opencode"
    assert "def mul" in main_file(town, "arith.py")


def test_formula_check_and_bad_input_create_nothing(town: Path, gt_home: Path, tmp_path: Path) -> None:
    good = tmp_path / "mul.toml"
    good.write_text(WORKFLOW)
    res = run_gt("formula", "check", str(good), check=True)
    assert "ok, 4 steps in order implement -> tests -> check -> docs" in res.stdout
    bad = tmp_path / "loop.toml"
    bad.write_text(WORKFLOW.replace('id = "implement"', 'id = "implement"\nneeds = ["docs"]'))
    res = run_gt("formula", "check", str(bad))
    assert res.returncode == 4 and res.stderr.strip().count("\n") == 0
    assert f"{bad}: step implement: `needs` cycle" in res.stderr
    add_formula(gt_home, "ghost", WORKFLOW.replace('id = "tests"', 'id = "tests"\npersona = "ghost"'))
    res = run_gt("formula", "run", "ghost", "--rig", "app", "--var", "fn=mul")
    assert res.returncode == 2 and "town formula ghost: step tests: unknown persona 'ghost'" in res.stderr
    res = run_gt("formula", "run", "mul-missing", "--rig", "app")
    assert res.returncode == 3
    assert gtj("bead", "list") == [] and gtj("molecule", "list") == []
    personas = {p["name"]: p for p in gtj("persona", "list")}
    assert {"polecat", "reviewer", "triage"} <= set(personas)
    res = run_gt("sling", "x", "--rig", "app", "--persona", "ghost")
    assert res.returncode == 2 and "unknown persona 'ghost'" in res.stderr
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # inspect the bead, not its turn
    (town_dir(gt_home) / "personas").mkdir()
    (town_dir(gt_home) / "personas" / "fast.toml").write_text(
        'name = "fast"\nadapter = "scripted"\nmodel = "small"\ninstructions = "Be quick."\nturn_minutes = 2\n')
    run_gt("config", "set", "agent.persona", "fast", "--rig", "app", check=True)  # the rig's default persona
    slung = gtj("sling", "y", "--rig", "app")[0]
    assert {k: slung["metadata"].get(k) for k in ("persona", "agent", "model", "turn_minutes")} == \
        {"persona": "fast", "agent": "scripted", "model": "small", "turn_minutes": 2.0}
    shown = gtj("persona", "show", "fast")[0]
    assert shown["source"] == "town persona fast" and shown["instructions"] == "Be quick."
