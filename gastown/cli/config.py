"""`gt config get|set`: town settings, with per-rig overrides."""

from __future__ import annotations

import json
from typing import Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, out, show
from gastown.cli.render import emit_json
from gastown.protocol import Method

app = typer.Typer(help="Read and change town and rig settings (TOML).", no_args_is_help=True)
RigOpt = typer.Option(None, "--rig", help="The rig whose override to read or set.")


@app.command()
def get(key: Optional[str] = typer.Argument(None, help="Setting, e.g. refinery.gates (default: all)."),
        rig: Optional[str] = RigOpt,
        reveal: bool = typer.Option(False, "--reveal", help="Show a secret (agent.api_key, forge.token) in clear."),
        town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Print effective settings and where each value comes from (rig, town or default); secrets masked.

    Example: gt config get refinery.gates --rig app
    """
    rows = call(Method.CONFIG_GET, town, key=key, rig=rig, reveal=reveal or None)
    if key and not as_json:
        value = rows[0]["value"]
        out.print(value if isinstance(value, str) else json.dumps(value), markup=False)
        return
    for row in rows:
        row["id"] = row["key"]
    show([{**r, "value": json.dumps(r["value"])} for r in rows] if not as_json else rows, as_json,
         [("key", "KEY"), ("value", "VALUE"), ("source", "FROM"), ("help", "MEANING")])


@app.command("set")
def set_(key: str = typer.Argument(..., help="Setting, e.g. rig.max_polecats."),
         value: Optional[str] = typer.Argument(None, help="Value, parsed as TOML/JSON (else a string)."),
         rig: Optional[str] = RigOpt,
         unset: bool = typer.Option(False, "--unset", help="Remove the setting (fall back to town/default)."),
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Change a setting for the town, or for one rig with --rig; the value is checked first.

    Example: gt config set patrol.gupp_minutes 7.5
    """
    result = call(Method.CONFIG_SET, town, key=key, value=value, rig=rig, unset=unset or None)
    if as_json:
        emit_json([result])
    else:
        out.print(f"{result['key']} = {json.dumps(result['value'])} ({result['source']})", markup=False)
    for line in result.get("warnings") or []:
        err.print(f"warning: {line}", markup=False)
