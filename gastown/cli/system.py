"""`gt doctor` and `gt image build`. The container engine is probed and the image built in the CLI
process itself (`gastown.host`, shared with the daemon), so the build's progress streams to the
user; what the daemon runs turns with (agent CLIs, the sandbox) and a town's settings come from
the daemon."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any, Optional

import typer

from gastown.cli.common import JsonOpt, err, fail, out
from gastown.cli.render import emit_json
from gastown.protocol import RpcError

image = typer.Typer(help="Build the town container image.", no_args_is_help=True)


@image.command("build")
def image_build(
    base: str = typer.Option("auto", "--base", help="auto (registry, else debootstrap), registry or debootstrap."),
    base_image: Optional[str] = typer.Option(None, "--base-image", help="Registry base image (default debian bookworm)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the image is current."),
    engine_name: Optional[str] = typer.Option(None, "--engine", help="podman or docker (default: the first found)."),
    town: Optional[str] = typer.Option(None, "--town", help="Build this town's image (its container.base and "
                                                            "container.setup; default: the plain image)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr (for scripts)."),
    as_json: JsonOpt = False,
) -> None:
    """Build (or reuse) the town image: git, python3, gastown with its dependencies, the town's
    setup; cached by the content of all of them. Shows the build's steps as it goes."""
    from gastown.cli import imagebuild
    from gastown.cli.common import call
    from gastown.host import engine, image
    from gastown.protocol import Method

    try:
        # a town's settings are the daemon's to read; the build runs here, with its progress
        spec = imagebuild.spec_of(call(Method.TOWN_SHOW, town)) if town else image.ImageSpec()
        eng = engine.detect(engine_name)
        eng.verify()
        kwargs: dict[str, Any] = {"base": base, "force": force, "spec": spec}
        if base_image:
            kwargs["base_image"] = base_image
        result = imagebuild.build(eng, quiet=quiet, **kwargs)
    except RpcError as exc:
        fail(exc.message, exc.code)
    if as_json:
        emit_json([{"id": result["image"], "status": "built" if result["built"] else "cached", **result}])
    else:
        out.print(f"{result['image']} ({'built' if result['built'] else 'cached'}, base {result['base']}, "
                  f"{result['seconds']:.1f} s)", markup=False)


def _town_configs() -> list[dict[str, Any]]:
    """Every town's settings files, checked by the daemon (hand edits included)."""
    from gastown.cli import notices
    from gastown.client import Client
    from gastown.protocol import Method

    rows: list[dict[str, Any]] = []
    with Client(autostart=False, timeout=5) as client:
        towns = client.call(Method.TOWN_LIST, _town=False)
    for t in towns:
        with Client(town=t["name"], autostart=False, timeout=5) as client:
            notes = notices.fetch(client) or {}
        problems = notes.get("config_problems", [])
        rows.append({"check": f"town {t['name']} config", "ok": not problems,
                     "detail": "; ".join(problems) if problems else "every setting checks out"})
    return rows


def _forge_rows() -> list[dict[str, Any]]:
    """Each rig on the pr strategy in every town: its forge, and whether the token works."""
    from gastown.client import Client
    from gastown.protocol import Method

    rows: list[dict[str, Any]] = []
    with Client(autostart=False, timeout=5) as client:
        towns = client.call(Method.TOWN_LIST, _town=False)
    for t in towns:
        with Client(town=t["name"], autostart=False, timeout=120) as client:
            rows += client.call(Method.FORGE_CHECK)
    return rows


def doctor(engine_name: Optional[str] = typer.Option(None, "--engine", help="Check only podman or docker."),
           as_json: JsonOpt = False) -> None:
    """Check this host: git, the container engine (and what was configured for it, and why), the town
    image, the agent CLIs and the sandbox as the daemon finds them (it is started if needed), the towns'
    settings and forges. Explains how to get what is missing."""
    from gastown.client import Client
    from gastown.host import engine
    from gastown.protocol import Method

    git = shutil.which("git")
    rows: list[dict[str, Any]] = [{"check": "git", "ok": bool(git), "detail": subprocess.run(
        ["git", "--version"], capture_output=True, text=True).stdout.strip() if git else "not installed: apt-get install git"}]
    rows += engine.doctor(engine_name)
    try:
        # started if needed, as by every gt command: agent CLIs and the sandbox are checked by the
        # daemon, in its own environment, because that is where turns find and run them
        with Client(timeout=60) as client:
            status = client.call(Method.STATUS, _town=False)
            rows += client.call(Method.DOCTOR, _town=False)
        rows.append({"check": "daemon", "ok": True, "detail": f"pid {status['pid']}, {status['socket']}"})
        rows += _town_configs()
        rows += _forge_rows()
        names = [r["name"] for r in status.get("agent_env") or [] if r.get("from") == "daemon"]
        rows.append({"check": "agent environment", "ok": True,
                     "detail": "agents receive only: " + ", ".join(names) + " + agent.env + gastown's GT_* "
                               "and model settings (gt town show lists them per town)"})
    except (RpcError, OSError) as exc:
        rows.append({"check": "daemon", "ok": False,
                     "detail": f"cannot start or reach it ({getattr(exc, 'message', exc)}): agent CLIs and the "
                               "sandbox are checked by the daemon; see `gt daemon status` and its log"})
    for i, row in enumerate(rows):
        row.setdefault("id", row["check"])
        row.setdefault("status", "ok" if row["ok"] else "problem")
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        mark = "ok " if row["ok"] else "!! "
        out.print(f"{mark}{row['check']:<22}{row['detail']}", markup=False)
