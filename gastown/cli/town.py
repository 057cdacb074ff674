"""`gt town create|list|show|delete`."""

from __future__ import annotations

from typing import Any, Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, err, fail, is_tty, out, show as show_rows
from gastown.cli.render import emit_json
from gastown.protocol import Method

app = typer.Typer(help="Create, list, inspect and delete towns (workspaces).", no_args_is_help=True)
COLUMNS = [("name", "TOWN"), ("prefix", "PREFIX"), ("runtime", "RUNTIME"), ("created_at", "CREATED"), ("path", "PATH")]


@app.command()
def create(
    name: str = typer.Argument(..., help="Town name: lowercase letters, digits, '-' or '_'."),
    runtime: Optional[str] = typer.Option(None, envvar="GT_RUNTIME",
                                          help="Where agents run: local, podman or docker (default: podman, then "
                                               "docker, then local: the first that works here)."),
    agent: Optional[str] = typer.Option(None, envvar="GT_DEFAULT_AGENT",
                                        help="Agent CLI for polecats (default: the first installed of claude, codex, "
                                             "opencode, gemini, aider, kilo; 'scripted' only when asked for)."),
    prefix: Optional[str] = typer.Option(None, help="Bead id prefix (default: from the name)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No image build progress on stderr (for scripts)."),
    as_json: JsonOpt = False,
) -> None:
    """Create a town: its store, config and directories; for a container town also its image
    (built with progress shown; about a minute and a half the first time on a machine)."""
    info = call(Method.TOWN_CREATE, _town=False, name=name, runtime=runtime, agent=agent or "", prefix=prefix)
    if as_json:
        emit_json([info])
    else:
        out.print(f"created town {info['name']} (bead prefix {info['prefix']}, runtime {info['runtime']}) at {info['path']}",
                  markup=False)
        err.print(f"runtime {info['runtime']}: {info['runtime_reason']}", markup=False)
        box = info.get("sandbox") or {}
        if box:
            err.print(f"sandbox {box['mode']} ({'on' if box['active'] else 'OFF'}): {box['reason']}", markup=False)
        if "agent_reason" in info:
            err.print(f"agent {info['agent'] or '(none)'}: {info['agent_reason']}", markup=False)
    if info["runtime"] in ("podman", "docker"):
        _build_image(info, quiet)


def _build_image(info: dict[str, Any], quiet: bool) -> None:
    """The container town's image now, with progress, rather than silently at the first turn."""
    from gastown.cli import imagebuild
    from gastown.host import engine
    from gastown.protocol import RpcError

    try:
        eng = engine.detect(info["runtime"])
        result = imagebuild.build(eng, quiet=quiet, spec=imagebuild.spec_of(info))
    except RpcError as exc:
        fail(f"town {info['name']} was created, but its image could not be built: {exc.message} "
             "(retry with `gt image build`)", exc.code)
    if not quiet:
        err.print(f"image {result['image']} ({'built' if result['built'] else 'cached'}, "
                  f"{result['seconds']:.1f} s)", markup=False)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List towns."""
    show_rows(call(Method.TOWN_LIST, _town=False), as_json, COLUMNS, empty="no towns")


@app.command()
def show(name: Optional[str] = typer.Argument(None, help="Town (default: --town, GT_TOWN or the only one)."),
         town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show a town: settings, rigs, bead counts and its loop's ticks."""
    info = call(Method.TOWN_SHOW, name or town)
    if as_json:
        emit_json([info])
        return
    for key in ("name", "prefix", "runtime", "created_at", "path"):
        out.print(f"{key:<11}{info[key]}", markup=False)
    out.print(f"{'rigs':<11}{', '.join(info['rigs']) or '-'}", markup=False)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info["beads"].items())) or "none"
    out.print(f"{'issues':<11}{counts}", markup=False)
    box = info.get("sandbox") or {}
    if box:
        out.print(f"{'sandbox':<11}{box['mode']} ({'on' if box['active'] else 'OFF'}): {box['reason']}", markup=False)
    for row in info.get("agent_env") or []:
        out.print(f"{'agent env':<11}{row['name']}={row['value']}  [{row['from']}]", markup=False)
    loop = info.get("loop")
    if loop:
        out.print(f"{'loop':<11}{loop['ticks']} ticks, {'active' if loop['active'] else 'idle'}", markup=False)


@app.command()
def delete(name: str = typer.Argument(..., help="Town to delete."),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Delete a town and everything it owns (store, clones, worktrees, logs)."""
    if not yes:
        if not is_tty():
            fail(f"refusing to delete town '{name}' without --yes")
        if not typer.confirm(f"Delete town '{name}' and everything it owns?"):
            raise typer.Exit(1)
    info = call(Method.TOWN_DELETE, _town=False, name=name)
    out.print(f"deleted town {info['name']} ({info['path']})", markup=False)
