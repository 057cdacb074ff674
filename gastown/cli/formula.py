"""`gt formula list|show|check|run`, `gt molecule list|show|start`, `gt persona list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, fail, out, show as show_rows
from gastown.cli.render import emit_json
from gastown.cli.work import human
from gastown.protocol import Method

formula_app = typer.Typer(help="Reusable multi-step work (TOML formulas) poured into molecules.", no_args_is_help=True)
molecule_app = typer.Typer(help="Poured formulas: a molecule bead and its step beads.", no_args_is_help=True)
persona_app = typer.Typer(help="Agent profiles: adapter, model, instructions, turn limit.", no_args_is_help=True)
RigOpt = typer.Option(None, "--rig", help="Also look in this rig's .gastown/ directory.")


@formula_app.command("list")
def formula_list(rig: Optional[str] = RigOpt, town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List the formulas: the rig's, the town's, then the built-ins (the first one wins)."""
    rows = call(Method.FORMULA_LIST, town, rig=rig)
    show_rows(rows, as_json, [("name", "FORMULA"), ("type", "TYPE"), ("steps", "STEPS"), ("source", "FROM"),
                              ("description", "DESCRIPTION")], empty="no formulas")


def _print_formula(f: dict[str, Any]) -> None:
    out.print(f"{f['name']} ({f['type']}, from {f['source']}): {f['description']}", markup=False)
    for name, v in f["vars"].items():
        need = "required" if v["required"] else f"default {v['default']!r}"
        out.print(f"  var {name} ({need}): {v['description']}", markup=False)
    for s in f["steps"]:
        after = f"  after {', '.join(s['needs'])}" if s["needs"] else ""
        extra = f"  run: {s['run']}" if s.get("run") else "  (approval)" if s["approval"] else ""
        persona = f"  persona {s['persona']}" if s.get("persona") else ""
        out.print(f"  {s['id']:<14} {s['kind']:<8} {s['title']}{after}{persona}{extra}", markup=False)


@formula_app.command("show")
def formula_show(name: str = typer.Argument(..., metavar="NAME"), rig: Optional[str] = RigOpt, town: TownOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Show a formula as it resolves (overlays applied): vars and steps."""
    f = call(Method.FORMULA_SHOW, town, name=name, rig=rig)
    if as_json:
        emit_json([f])
    else:
        _print_formula(f)


@formula_app.command("check")
def formula_check(path: Path = typer.Argument(..., metavar="FILE"), rig: Optional[str] = RigOpt,
                  town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Validate a formula file (TOML, needs, cycles, vars, personas, its base) without pouring it."""
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    f = call(Method.FORMULA_CHECK, town, text=text, path=str(path), rig=rig)
    if as_json:
        emit_json([f])
    else:
        out.print(f"{path}: ok, {len(f['steps'])} steps in order {' -> '.join(f['order'])}", markup=False)


def _vars(items: List[str]) -> dict[str, str]:
    out_vars = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--var takes NAME=VALUE, not '{item}'")
        out_vars[key.strip()] = value
    return out_vars


@formula_app.command("run")
def formula_run(
    name: str = typer.Argument(..., metavar="NAME"),
    rig: str = typer.Option(..., "--rig", help="The rig the molecule works on."),
    var: List[str] = typer.Option([], "--var", help="NAME=VALUE for a formula var (repeatable)."),
    staged: bool = typer.Option(False, "--staged", help="Pour it without starting it ('gt molecule start')."),
    mode: str = typer.Option("beads", "--mode", help="beads: a bead per step, merged each; single: one polecat, "
                             "one branch, step by step."),
    persona: Optional[str] = typer.Option(None, "--persona", help="Persona of steps that name none."),
    town: TownOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pour a formula into a molecule (validated first, then atomic) and start it."""
    mol = call(Method.FORMULA_RUN, town, name=name, rig=rig, vars=_vars(var), staged=staged or None, mode=mode,
               persona=persona, requested_by=human())
    if as_json:
        emit_json([mol])
        return
    state = f"staged (start it with 'gt molecule start {mol['id']}')" if mol["staged"] else "started"
    out.print(f"molecule {mol['id']} '{mol['title']}' ({mol['mode']} mode): {len(mol['steps'])} steps, {state}",
              markup=False)
    _print_steps(mol)


def _print_steps(mol: dict[str, Any]) -> None:
    for s in mol["steps"]:
        mark = "->" if mol.get("current") == s["step"] else "  "
        who = f" by {s['who']}" if s["who"] else ""
        out.print(f"{mark}{s['id']}  {s['step']:<14} {s['kind']:<8} {s['status']:<11}{who}  {s['title']}", markup=False)
        if s["summary"]:
            out.print(f"      summary: {s['summary']}", markup=False)
        result = s.get("result")
        if result:
            where = f" ({result['ran_in']})" if result.get("ran_in") else ""
            out.print(f"      run `{result['cmd']}`: exit {result['exit_code']} in {result['duration_s']} s{where}",
                      markup=False)
        if s["failure"] and s["status"] != "closed":
            out.print(f"      failed: [{s['failure'].get('code')}] {s['failure'].get('message')}", markup=False)


@molecule_app.command("list")
def molecule_list(town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List molecules with their formula, mode and status."""
    rows = call(Method.MOLECULE_LIST, town)
    for r in rows:
        r["done"] = f"{sum(s['status'] == 'closed' for s in r['steps'])}/{len(r['steps'])}"
    if as_json:
        emit_json([{k: v for k, v in r.items() if k != "done"} for r in rows])
        return
    show_rows(rows, False, [("id", "MOLECULE"), ("formula", "FORMULA"), ("mode", "MODE"), ("status", "STATUS"),
                            ("done", "STEPS"), ("title", "TITLE")], empty="no molecules")


@molecule_app.command("show")
def molecule_show(mol_id: str = typer.Argument(..., metavar="ID"), town: TownOpt = None,
                  as_json: JsonOpt = False) -> None:
    """The molecule's story: every step, its status, who worked it, summaries and check results."""
    mol = call(Method.MOLECULE_SHOW, town, id=mol_id)
    if as_json:
        emit_json(mol["steps"])
        return
    state = "staged" if mol["staged"] else mol["status"]
    out.print(f"{mol['id']}  {mol['title']}  [{state}]  formula {mol['formula']}, {mol['mode']} mode", markup=False)
    if mol["failed_step"]:
        out.print(f"  FAILED at step {mol['failed_step']}: {(mol['failure_reason'] or {}).get('message', '')}",
                  markup=False)
    elif mol["status"] == "closed":
        out.print(f"  {mol['close_reason']}", markup=False)
    _print_steps(mol)


@molecule_app.command("start")
def molecule_start(mol_id: str = typer.Argument(..., metavar="ID"), town: TownOpt = None) -> None:
    """Start a staged molecule."""
    mol = call(Method.MOLECULE_START, town, id=mol_id)
    out.print(f"started molecule {mol['id']} ({len(mol['steps'])} steps)", markup=False)


@persona_app.command("list")
def persona_list(rig: Optional[str] = RigOpt, town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List personas: the rig's, the town's (<town>/personas/), then the built-ins."""
    rows = call(Method.PERSONA_LIST, town, rig=rig)
    show_rows(rows, as_json, [("name", "PERSONA"), ("adapter", "ADAPTER"), ("model", "MODEL"),
                              ("turn_minutes", "TURN MIN"), ("source", "FROM"), ("description", "DESCRIPTION")],
              empty="no personas")


@persona_app.command("show")
def persona_show(name: str = typer.Argument(..., metavar="NAME"), rig: Optional[str] = RigOpt, town: TownOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Show one persona (empty adapter/model: the rig's agent.adapter / agent.model)."""
    p = call(Method.PERSONA_SHOW, town, name=name, rig=rig)
    if as_json:
        emit_json([p])
        return
    for key in ("name", "description", "adapter", "model", "turn_minutes", "source"):
        out.print(f"{key}: {p[key]}", markup=False)
    if p["instructions"]:
        out.print(f"instructions:\n{p['instructions']}", markup=False)
