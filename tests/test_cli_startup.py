"""What `gt` loads at start-up: the lazy command table reads exactly like the full Typer app,
a command imports only its own CLI module, and an agent's tool call imports nothing beyond
the standard library pieces it uses. (Timings are bench/bench_cli.py's job, not a test's.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import typer.main
from typer.testing import CliRunner

from gastown.cli import app as gt_app
from gastown.cli import lazy
from tests.conftest import run_gt


def _paths(cmd: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _paths(sub, (*prefix, name))


def test_every_help_page_reads_the_same_as_the_full_app() -> None:
    """`gt [PATH...] --help` for every group and command: the lazy app (stubs listed, one
    command built) prints byte for byte what Typer prints with everything registered."""
    full = gt_app.full_app()
    runner = CliRunner()
    paths = list(_paths(typer.main.get_command(full)))
    assert len(paths) > 60 and ("bead", "dep", "add") in paths
    for path in paths:
        lazy_out = runner.invoke(gt_app.app, [*path, "--help"], prog_name="gt")
        full_out = runner.invoke(full, [*path, "--help"], prog_name="gt")
        assert (lazy_out.exit_code, lazy_out.output) == (full_out.exit_code, full_out.output), path


def test_each_row_holds_its_commands_help() -> None:
    """A row's help is what `gt --help` lists without importing the command: it must be the
    first paragraph of the command's own help (change both together)."""
    root = typer.main.get_command(gt_app.full_app())
    assert isinstance(root, typer.core.TyperGroup)
    assert list(root.commands) == [row.name for row in gt_app.COMMANDS], \
        "every top-level command is a Row in gastown/cli/app.py COMMANDS (not an app.command/add_typer call), " \
        "commands first, then groups (the order gt --help lists them)"
    for row in gt_app.COMMANDS:
        cmd = root.commands[row.name]
        first = " ".join((cmd.help or "").split("\n\n")[0].split())
        assert row.help == first, f"gastown/cli/app.py: the row for '{row.name}' must read {first!r}"
        assert not (cmd.short_help or cmd.hidden or cmd.deprecated), row.name  # a Stub would not show them


def test_a_command_builds_only_itself() -> None:
    group = typer.main.get_command(gt_app.app)
    assert isinstance(group, lazy.LazyGroup)
    ctx = typer.Context(group)
    assert all(isinstance(group.commands[row.name], lazy.Stub) for row in gt_app.COMMANDS)
    bead = group.get_command(ctx, "bead")
    assert isinstance(bead, lazy.LazyGroup) and isinstance(bead.commands["list"], lazy.Stub)
    listed = bead.get_command(ctx, "list")
    assert listed is not None and not isinstance(listed, lazy.Stub) and listed.params
    assert bead.commands["list"] is listed and isinstance(bead.commands["show"], lazy.Stub)
    assert isinstance(group.commands["mail"], lazy.Stub)
    assert group.get_command(ctx, "nosuch") is None


def _imports(argv: list[str], env: dict[str, str] | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules loaded by the time `gt ARGV` exits (written by an atexit hook)."""
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n'))\n"
             f"sys.argv = ['gt', *{argv!r}]\n"
             "from gastown.cli.entry import main\nmain()\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **(env or {})})
    line = [x for x in res.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(line.split()[1:]), res


CLI_MODULES = {"gastown.cli." + m.stem for m in Path(gt_app.__file__).parent.glob("*.py")} - {"gastown.cli.__init__"}


def test_help_imports_no_command_module() -> None:
    mods, res = _imports(["--help"])
    assert res.returncode == 0 and "bead" in res.stdout
    assert mods & CLI_MODULES == {"gastown.cli.entry", "gastown.cli.app", "gastown.cli.lazy", "gastown.cli.helpfmt",
                                  "gastown.cli.typerfast"}


def test_a_group_imports_its_own_module_only() -> None:
    mods, res = _imports(["mq", "--help"])
    assert res.returncode == 0 and "list" in res.stdout
    assert "gastown.cli.work" in mods
    assert not mods & {"gastown.cli.bead", "gastown.cli.agent", "gastown.cli.formula", "gastown.cli.costs",
                       "gastown.cli.mayor", "gastown.cli.tui", "gastown.cli.interop"}


def _bare_modules() -> set[str]:
    probe = "import atexit, sys; sys.stderr.write('MODULES ' + ' '.join(sorted(sys.modules)) + '\\n')"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(res.stderr.split()[1:])


TOOL_STDLIB = {"json", "json.decoder", "json.scanner", "json.encoder", "_json", "_socket", "select", "gc"}
"""All an agent's tool call may load beyond the bare interpreter, gastown's own stdlib-only
modules aside (gc is built in; the venv's site hook already loads pathlib, re, enum and
friends; a plain install would not, and the tool path does without them)."""


@pytest.mark.slow
def test_an_agent_tool_call_imports_only_what_it_uses(gt_home: Path) -> None:
    """A whole tool call (connect, hello, the call, the daemon's answer, printing it): the
    same few modules, never socket, uuid, argparse, subprocess, Typer or the daemon's modules."""
    from gastown import paths

    run_gt("daemon", "start", check=True)
    bare = _bare_modules()
    agent = {"GT_AGENT_TOKEN": "no-such-turn", "GT_AGENT_SOCKET": str(paths.socket_path())}
    for argv in (["prime"], ["done", "--summary", "x"], ["status", "testing"], ["escalate", "stuck"],
                 ["bead", "show", "gt-x"], ["mail", "inbox"], ["mail", "read", "gt-x"]):
        mods, res = _imports(argv, agent)
        assert res.returncode in (3, 8), (argv, res.returncode, res.stderr)  # the daemon answered the call
        extra = {m for m in mods - bare if m != "gastown" and not m.startswith("gastown.")}
        assert extra <= TOOL_STDLIB, (argv, sorted(extra - TOOL_STDLIB))
        ours = {m for m in mods if m.startswith("gastown.")}
        assert not {m for m in ours if m.startswith(("gastown.daemon", "gastown.tui"))}, (argv, sorted(ours))
        assert not ours & {"gastown.cli.app", "gastown.cli.common", "gastown.model"}, (argv, sorted(ours))


def test_the_git_identity_is_read_once_per_directory_and_git_environment(
        gt_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gt sling` needs the actor twice (hello, requested_by): one git process, not two. Another
    git environment (or directory) reads again; GT_ACTOR still wins at once."""
    from gastown import client

    reads: list[str] = []
    real = client._git_identity

    def counted() -> str | None:
        reads.append(os.getcwd())
        return real()

    monkeypatch.setattr(client, "_IDENTITY", {})
    monkeypatch.setattr(client, "_git_identity", counted)
    monkeypatch.delenv("GT_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert client.actor() == client.actor() == "Test Human <human@example.com>"  # conftest's GIT_CONFIG_GLOBAL
    assert len(reads) == 1
    other = tmp_path / "other.gitconfig"
    other.write_text("[user]\n\tname = Other\n\temail = o@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(other))
    assert client.actor() == "Other <o@example.com>" and len(reads) == 2
    monkeypatch.setenv("GT_ACTOR", "Bot <b@example.com>")
    assert client.actor() == "Bot <b@example.com>" and len(reads) == 2


def test_commands_run_with_the_collector_on() -> None:
    """entry.main turns the collector off only while Typer is imported: a command that runs on
    (the dashboard, `-f`) still collects what it makes."""
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: sys.stderr.write(f'\\nGC {gc.isenabled()} {gc.get_freeze_count() > 0}\\n'))\n"
             "sys.argv = ['gt', '--version']\n"
             "from gastown.cli.entry import main\nmain()\n")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("gt ")
    assert res.stderr.splitlines()[-1] == "GC True True"
