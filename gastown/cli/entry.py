"""The `gt` console script. Tool calls agents make often take a stdlib-only fast path;
everything else loads the Typer application.

The fast path exists because agents call `gt` in tight loops: importing typer and rich
costs more than the whole round trip to the daemon.
"""

from __future__ import annotations

import gc
import sys


def _fast_bead_show(args: list[str]) -> int | None:
    """`gt bead show ID [--json] [--town T]`; None means: not for the fast path."""
    town, as_json, ids = None, False, []
    it = iter(args)
    for arg in it:
        if arg == "--json":
            as_json = True
        elif arg == "--town":
            town = next(it, None)
            if town is None:
                return None
        elif arg.startswith("--town="):
            town = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            return None
        else:
            ids.append(arg)
    if len(ids) != 1:
        return None
    from gastown.cli.render import bead_text, emit_json
    from gastown.client import Client
    from gastown.protocol import Method, RpcError, exit_code

    try:
        with Client(town=town) as client:
            bead = client.call(Method.BEAD_SHOW, id=ids[0])
    except RpcError as exc:
        sys.stderr.write(f"gt: {exc.message}\n")
        return exit_code(exc.code)
    if as_json:
        emit_json([bead])
    else:
        sys.stdout.write(bead_text(bead))
    return 0


def _fast_agent_logs(args: list[str]) -> int | None:
    from gastown.cli.transcript import fast_agent_logs

    return fast_agent_logs(args)


def _fast_bead_log(args: list[str]) -> int | None:
    from gastown.cli.transcript import fast_bead_log

    return fast_bead_log(args)


FAST = {("bead", "show"): _fast_bead_show}
FAST[("agent", "logs")] = _fast_agent_logs
FAST[("bead", "log")] = _fast_bead_log


def _fast_mail_inbox(args: list[str]) -> int | None:
    from gastown.cli.fastmail import inbox

    return inbox(args)


def _fast_mail_read(args: list[str]) -> int | None:
    from gastown.cli.fastmail import read

    return read(args)


FAST[("mail", "inbox")] = _fast_mail_inbox
FAST[("mail", "read")] = _fast_mail_read


def main() -> None:
    """Collector settings pay for a short process: what start-up made (interpreter, imports)
    lives until exit, so it is frozen out of every collection (`gc.freeze`), and exit skips a
    last collection over everything. Importing Typer runs with the collector off (it allocates
    enough to trigger full collections that find nothing). Together ~10 ms of a Typer command's
    CPU and ~2 ms of a tool call's; commands that run on (`-f`, the dashboard) still collect
    what they make as usual."""
    gc.freeze()
    try:
        _dispatch(sys.argv[1:])
    finally:
        gc.freeze()


def _dispatch(args: list[str]) -> None:
    if args and args[0] in ("prime", "done", "status", "escalate", "review", "triage", "step", "pr"):
        from gastown.cli.tools import run as run_tool

        sys.exit(run_tool(args[0], args[1:]))
    if args[:1] == ["tui"]:  # the dashboard: typer's import is a tenth of its start
        from gastown.cli.dashboard import fast_tui

        code = fast_tui(args[1:])
        if code is not None:
            sys.exit(code)
    handler = FAST.get(tuple(args[:2]))  # type: ignore[arg-type]
    if handler is not None:
        code = handler(args[2:])
        if code is not None:
            sys.exit(code)
    gc.disable()
    try:
        from gastown.cli.app import run
    finally:
        gc.freeze()
        gc.enable()
    run()


if __name__ == "__main__":
    main()
