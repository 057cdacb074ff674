"""Formulas: parsing, validation (one line naming file and step), overlays, resolution
order, var binding; molecules poured atomically into the store; personas."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from gastown import formula, persona
from gastown.daemon.store import Store
from gastown.daemon.vcs.gates import Gate
from gastown.protocol import ErrorCode, RpcError
from tests.helpers import code_of

WORKFLOW = """
name = "wf"
description = "four steps"
[vars.what]
required = true
[vars.cmd]
default = "true"
[[steps]]
id = "a"
title = "A {{what}}"
[[steps]]
id = "b"
title = "B"
needs = ["a"]
persona = "tester"
[[steps]]
id = "check"
run = "{{cmd}}"
needs = ["b"]
[[steps]]
id = "ok"
approval = true
needs = ["check"]
"""


def layer(label: str, files: dict[str, str]) -> tuple[str, object]:
    return (label, lambda: files)


def test_builtins_parse_and_check() -> None:
    names = {f["name"]: f for f in formula.available([("built-in", formula.builtin_texts)])}
    assert {"feature", "bugfix", "refactor", "code-review", "release-notes"} <= set(names)
    assert all(f["status"] == "ok" for f in names.values())
    review = formula.resolve("code-review", [("built-in", formula.builtin_texts)])
    assert review.type == "convoy" and [s.id for s in review.steps][-1] == "synthesis"
    assert review.step("synthesis").needs == ("correctness", "security", "performance", "tests")
    known = persona.all_personas([("built-in", persona.builtin_texts)])
    for name in names:
        formula.check(formula.resolve(name, [("built-in", formula.builtin_texts)]), known)


@pytest.mark.parametrize("text, where, code", [
    ("name = [", "wf.toml: malformed TOML", ErrorCode.INVALID_PARAMS),
    (WORKFLOW.replace('needs = ["a"]', 'needs = ["zz"]'), "wf.toml: step b: needs 'zz'", ErrorCode.INVALID_PARAMS),
    (WORKFLOW.replace('[[steps]]\nid = "a"', '[[steps]]\nneeds = ["ok"]\nid = "a"'), "wf.toml: step a: `needs` cycle",
     ErrorCode.CONFLICT),
    (WORKFLOW.replace("A {{what}}", "A {{nope}}"), "wf.toml: step a: uses {{nope}}", ErrorCode.INVALID_PARAMS),
    (WORKFLOW.replace('persona = "tester"', 'persona = "ghost"'), "wf.toml: step b: unknown persona 'ghost'",
     ErrorCode.INVALID_PARAMS),
    (WORKFLOW.replace('id = "check"', 'id = "check"\napproval = true'), "wf.toml: step check: a step is either",
     ErrorCode.INVALID_PARAMS),
    (WORKFLOW.replace('title = "B"', 'title = "B"\ncolour = "red"'), "wf.toml: step b: unknown key(s) colour",
     ErrorCode.INVALID_PARAMS),
])
def test_bad_formulas_name_file_and_step(text: str, where: str, code: int) -> None:
    known = persona.all_personas([("built-in", persona.builtin_texts)])
    with pytest.raises(RpcError) as exc:
        formula.check(formula.parse(text, "wf.toml"), known)
    assert exc.value.code == code and exc.value.message.startswith(where), exc.value.message
    assert "\n" not in exc.value.message


def test_vars_bind_and_render() -> None:
    f = formula.parse(WORKFLOW, "wf.toml")
    assert code_of(formula.bind, f, {}, "app") == ErrorCode.INVALID_PARAMS  # missing required
    with pytest.raises(RpcError, match="unknown var 'colour'"):
        formula.bind(f, {"what": "x", "colour": "red"}, "app")
    steps = formula.rendered(f, formula.bind(f, {"what": "the login bug"}, "app"))
    assert steps[0].title == "A the login bug" and steps[2].run == "true"
    assert [s.kind for s in steps] == ["agent", "agent", "run", "approval"]


def test_overlay_skip_replace_append_and_resolution_order() -> None:
    overlay = """
name = "wf"
extends = "wf"
[[patch]]
op = "skip"
step = "b"
[[patch]]
op = "replace"
step = "a"
title = "A, rewritten"
[[patch]]
op = "append"
step = "lint"
after = "a"
run = "true"
needs = ["a"]
"""
    layers = [layer("rig app", {"wf": overlay}), layer("town", {"wf": WORKFLOW})]
    f = formula.resolve("wf", layers)  # type: ignore[arg-type]
    assert [s.id for s in f.steps] == ["a", "lint", "check", "ok"]
    assert f.step("a").title == "A, rewritten"
    assert f.step("check").needs == ("a",)  # it needed the skipped b: it inherits b's needs
    assert formula.order(f) == ["a", "lint", "check", "ok"]
    # the rig's own file wins over the town's of the same name when it does not extend
    plain = WORKFLOW.replace('description = "four steps"', 'description = "rig version"')
    assert formula.resolve("wf", [layer("rig app", {"wf": plain}), layer("town", {"wf": WORKFLOW})]  # type: ignore[list-item]
                           ).description == "rig version"
    bad = overlay.replace('step = "b"', 'step = "nope"')
    with pytest.raises(RpcError, match=r"rig app formula wf: patch 1 \(step nope\): no step 'nope'"):
        formula.resolve("wf", [layer("rig app", {"wf": bad}), layer("town", {"wf": WORKFLOW})])  # type: ignore[list-item]
    assert code_of(formula.resolve, "missing", layers) == ErrorCode.NOT_FOUND


def test_personas_parse_and_override() -> None:
    town = {"reviewer": 'name = "reviewer"\nadapter = "opencode"\nmodel = "big"\n'}
    found = persona.all_personas([("town", lambda: town), ("built-in", persona.builtin_texts)])
    assert found["reviewer"].adapter == "opencode" and found["reviewer"].source == "town persona reviewer"
    assert found["triage"].turn_minutes == 5 and found["polecat"].adapter == ""
    with pytest.raises(RpcError, match="town persona x: unknown key"):
        persona.all_personas([("town", lambda: {"x": 'name = "x"\ncolour = 1\n'})])


def spec(mode: str, staged: bool = False) -> dict[str, object]:
    f = formula.parse(WORKFLOW, "wf.toml")
    steps = [{"id": s.id, "title": s.title, "description": s.description, "needs": list(s.needs), "kind": s.kind,
              "acceptance": s.acceptance, "run": s.run, "timeout": s.timeout, "script": list(s.script)}
             for s in formula.rendered(f, formula.bind(f, {"what": "x"}, "app"))]
    return {"formula": "wf", "type": "workflow", "source": "test", "mode": mode, "rig": "app", "staged": staged,
            "vars": {"what": "x"}, "title": "wf: x", "description": "", "steps": steps}


@pytest.fixture
def store() -> Store:
    s = Store(Path(tempfile.mkdtemp(prefix="gt-")) / "town.db", "gt")
    s.rig_add("app", "/src", "main", "/x")
    return s


def test_pour_is_atomic(store: Store) -> None:
    bad = spec("beads")
    bad["rig"] = "nope"
    assert code_of(store.molecule_pour, bad, actor="h", requested_by="h") == ErrorCode.NOT_FOUND
    assert store.bead_list() == []


def test_beads_mode_dispatches_lazily_runs_and_approvals_wait(store: Store) -> None:
    mol = store.molecule_pour(spec("beads"), actor="h", requested_by="h")
    steps = {s["step"]: s for s in mol["steps"]}
    assert mol["type"] == "molecule" and [s["kind"] for s in mol["steps"]] == ["agent", "agent", "run", "approval"]
    assert [r["id"] for r in store.ready()] == [steps["a"]["id"]]  # b waits for a
    store.bead_close(steps["a"]["id"])
    assert [r["id"] for r in store.ready()] == [steps["b"]["id"]]
    assert store.runnable_steps() == []
    store.bead_close(steps["b"]["id"])
    assert store.ready() == [] and [r["id"] for r in store.runnable_steps()] == [steps["check"]["id"]]
    assert code_of(store.bead_approve, steps["ok"]["id"], actor="ann") == ErrorCode.INVALID_STATE  # check is open
    store.step_run_begin(steps["check"]["id"])
    store.step_run_result(steps["check"]["id"], {"cmd": "true", "exit_code": 0, "duration_s": 0.1,
                                                 "timed_out": False, "output_tail": ""}, fail=True)
    assert store.molecule_get(mol["id"])["status"] == "open"
    store.bead_approve(steps["ok"]["id"], actor="ann")
    done = store.molecule_get(mol["id"])
    assert done["status"] == "closed" and done["landed_at"] and done["steps"][3]["who"] == "ann"


def test_failed_run_step_fails_the_molecule_naming_it_and_reopen_recovers(store: Store) -> None:
    mol = store.molecule_pour(spec("beads"), actor="h", requested_by="h")
    ids = {s["step"]: s["id"] for s in mol["steps"]}
    store.bead_close(ids["a"])
    store.bead_close(ids["b"])
    store.step_run_result(ids["check"], {"cmd": "false", "exit_code": 1, "duration_s": 0.1, "timed_out": False,
                                         "output_tail": "boom"}, fail=True)
    failed = store.molecule_get(mol["id"])
    assert failed["status"] == "failed" and failed["failed_step"] == "check"
    assert failed["failure_reason"]["message"].startswith("step check")
    store.bead_reopen(ids["check"], reason="flaky")
    assert store.molecule_get(mol["id"])["status"] == "open"


def test_single_mode_molecule_is_the_dispatched_bead(store: Store) -> None:
    mol = store.molecule_pour(spec("single", staged=True), actor="h", requested_by="h")
    assert mol["staged"] and store.ready() == []
    store.molecule_start(mol["id"], actor="h")
    assert [r["id"] for r in store.ready()] == [mol["id"]]  # not its steps
    assert store.molecule_get(mol["id"])["current"] == "a"


def test_run_steps_go_where_the_gates_go(tmp_path: Path) -> None:
    """A container town's gate runner gets the run step, in a worktree under the town
    directory (mounted into the container); elsewhere the host runner runs it for real."""
    import subprocess

    from gastown.daemon.alarm import steps
    from gastown.daemon.runtime import LocalRuntime
    from gastown.daemon.vcs.gates import GateRunner
    from tests.conftest import make_repo

    src = make_repo(tmp_path / "src")
    repo = tmp_path / "clone.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"],
                   check=True)
    subprocess.run(["git", "-C", str(repo), "fetch", "-q", "origin"], check=True)
    rig = {"name": "app", "repo_path": str(repo), "default_branch": "main"}
    seen: list[tuple[str, Path]] = []

    class ContainerRuntime(LocalRuntime):  # a town container's runtime, as far as gates go
        has_container = True

        def gate_runner(self) -> GateRunner | None:
            return self.run_gate

        def run_gate(self, gate: Gate, cwd: Path) -> dict[str, object]:
            seen.append((gate.cmd, cwd))
            assert (cwd / "README.md").exists()
            return {"name": gate.name, "cmd": gate.cmd, "exit_code": 0, "timed_out": False, "duration_s": 0.0,
                    "output_tail": "", "ran_in": "container gt-t"}

    class Town:
        root = tmp_path / "town"
        settings = {"agent.env": [], "sandbox": "auto"}

        def text(self, key: str, rig: str | None = None) -> str:
            return str(self.settings[key])

        def items(self, key: str, rig: str | None = None) -> list[object]:
            return list(self.settings[key])

    town = Town()
    town_root = town.root
    result = steps.run_on_target(rig, "make check", 5, **steps.gate_runner(town, ContainerRuntime(), "app"))  # type: ignore[arg-type]  # a stand-in Town
    assert result["ran_in"] == "container gt-t" and seen[0][0] == "make check"
    assert seen[0][1].is_relative_to(town_root / "merges") and not seen[0][1].exists()  # removed afterwards
    host = steps.run_on_target(rig, "cat README.md; exit 3", 5, **steps.gate_runner(town, LocalRuntime(), "app"))  # type: ignore[arg-type]  # a stand-in Town
    assert host["exit_code"] == 3 and "# sample" in host["output_tail"]
    from gastown.daemon.runtime import sandbox  # the merge gates' runner: inside the agents' sandbox where bwrap works

    assert host["ran_in"] == ("host sandbox" if sandbox.enabled("auto") else "host")
    town.settings["sandbox"] = "off"
    plain = steps.run_on_target(rig, "true", 5, **steps.gate_runner(town, LocalRuntime(), "app"))  # type: ignore[arg-type]  # a stand-in Town
    assert plain["ran_in"] == "host" and plain["exit_code"] == 0


def test_step_done_advances_once_per_request_and_approval_holds(store: Store) -> None:
    mol = store.molecule_pour(spec("single"), actor="h", requested_by="h")
    agent, _ = store.dispatch_begin(mol["id"], None, rig="app", adapter="scripted")
    nxt = store.step_done(agent["name"], "did a", "req-1")
    assert nxt is not None and nxt["metadata"]["step"] == "b"
    again = store.step_done(agent["name"], "did a", "req-1")  # the same call, retried after a daemon restart
    assert again is not None and again["metadata"]["step"] == "b"
    assert store.step_done(agent["name"], "did b", "req-2")["metadata"]["step"] == "check"  # type: ignore[index]
    shown = store.molecule_get(mol["id"])
    assert [s["summary"] for s in shown["steps"][:2]] == ["did a", "did b"] and shown["current"] == "check"
    check_id = shown["steps"][2]["id"]
    store.step_run_result(check_id, {"cmd": "true", "exit_code": 1, "duration_s": 0.1, "timed_out": False,
                                     "output_tail": "red"}, fail=False)
    assert store.molecule_get(mol["id"])["steps"][2]["status"] == "open"  # single mode: the polecat fixes it
    store.step_run_result(check_id, {"cmd": "true", "exit_code": 0, "duration_s": 0.1, "timed_out": False,
                                     "output_tail": ""}, fail=False)
    store.molecule_wait(agent["name"], "ok")
    waiting = store.molecule_get(mol["id"])
    assert waiting["status"] == "open" and store.ready() == [] and not waiting["staged"]
    assert store.agent_get(agent["name"])["hook_bead_id"] is None
    store.bead_approve(waiting["steps"][3]["id"], actor="ann")
    assert [r["id"] for r in store.ready()] == [mol["id"]]
    assert code_of(store.step_done, agent["name"], "", None) == ErrorCode.INVALID_STATE  # unhooked


def test_agent_roles_and_formulas() -> None:
    """Polecats advance their molecule; the mayor can pour and follow formulas; approvals stay human."""
    from gastown.daemon.api.agent import ROLE_METHODS
    from gastown.protocol import Method

    assert Method.TOOL_STEP_DONE in ROLE_METHODS["polecat"]
    assert {Method.FORMULA_RUN, Method.MOLECULE_SHOW} <= ROLE_METHODS["mayor"]
    assert all(Method.BEAD_APPROVE not in methods for methods in ROLE_METHODS.values())
