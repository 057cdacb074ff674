"""Agent tools (`gt prime|done|status|escalate`): stdlib only, no Typer, because agents
call them in their loop and every millisecond of start-up is paid on each call."""

from __future__ import annotations

import sys
from types import SimpleNamespace
TYPE_CHECKING = False  # typing costs ~3 ms at start-up; mypy reads these names
if TYPE_CHECKING:
    from typing import Any

from gastown.cli.render import emit_json
from gastown.client import Client
from gastown.protocol import Method, RpcError, exit_code

if TYPE_CHECKING:
    import argparse

JSON = {"--json": False}


def _quick(args: list[str], defaults: dict[str, Any], choices: dict[str, tuple[str, ...]] | None = None,
           positional: str | None = None) -> Any:
    """The common calls (`gt done --summary X`, `gt status MSG`) read without argparse, whose
    import costs more than the rest of a tool's start-up. Only exact, valid spellings come
    back; anything else (a prefix, --help, a bad choice) is None and argparse answers it."""
    values, it, rest = dict(defaults), iter(args), []
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in defaults and defaults[name] is not False:
            got = value if eq else next(it, None)
            if got is None or got.startswith("-") or got not in (choices or {}).get(name, (got,)):
                return None
            values[name] = got
        elif arg in defaults and not eq:
            values[arg] = True
        elif arg.startswith("-") or positional is None:
            return None
        else:
            rest.append(arg)
    if len(rest) > 1 or (positional is None and rest):
        return None
    if positional is not None:
        values[positional] = rest[0] if rest else None
    return SimpleNamespace(**{k.lstrip("-"): v for k, v in values.items()})


def _parser(name: str, help_text: str) -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(prog=f"gt {name}", description=help_text)
    p.add_argument("--json", action="store_true", help="One JSON object per line.")
    return p


def _call(method: str, **params: Any) -> Any:
    with Client() as client:
        return client.call(method, **params)


def prime(args: list[str]) -> int:
    ns = _quick(args, JSON) or \
        _parser("prime", "Print your identity, your hooked bead and your instructions (agent tool).").parse_args(args)
    result = _call(Method.TOOL_PRIME)
    if ns.json:
        emit_json([result])
    else:
        sys.stdout.write(result["prompt"].rstrip() + "\n")
    return 0


DONE_STATUSES = ("done", "no-change", "deferred", "escalated")


def done(args: list[str]) -> int:
    ns = _quick(args, {**JSON, "--summary": "", "--status": "done"}, {"--status": DONE_STATUSES}) or _done_parser(args)
    params: dict[str, Any] = {"summary": ns.summary}
    if ns.status != "done":
        params["status"] = ns.status
    mr = _call(Method.TOOL_DONE, **params)
    if ns.json:
        emit_json([mr])
    elif ns.status != "done":
        sys.stdout.write(f"done: {mr['id']} {ns.status} ({mr['status']})\n")
    else:
        sys.stdout.write(f"done: merge request {mr['id']} for {mr['metadata']['source_bead_id']} "
                         f"at {mr['metadata']['head_sha'][:12]}\n")
    return 0


def _done_parser(args: list[str]) -> argparse.Namespace:
    p = _parser("done", "Hand your committed branch to the merge queue (agent tool). Refused without commits, "
                "unless --status says the bead finishes without a merge.")
    p.add_argument("--summary", default="", help="What you did (required with --status), for the reviewers.")
    p.add_argument("--status", default="done", choices=list(DONE_STATUSES),
                   help="done: merge my commits (default); no-change: nothing needed changing, close the bead; "
                        "deferred: it must wait, hold it; escalated: a human must decide, hold it and escalate.")
    return p.parse_args(args)


def status(args: list[str]) -> int:
    import os

    ns = _quick(args, {**JSON, "--town": None}, positional="message")
    if ns is None or (ns.message is None and os.environ.get("GT_AGENT_TOKEN")):
        p = _parser("status", "Agents: tell the humans what you are doing (`gt status MESSAGE`). "
                    "People: without a message, the town at a glance (working, needs you, waiting to retry).")
        p.add_argument("message", nargs="?", help="One line (agents).")
        p.add_argument("--town", help="Town to show (default: GT_TOWN or the only town).")
        ns = p.parse_args(args)
        if ns.message is None and os.environ.get("GT_AGENT_TOKEN"):
            p.error("agents: say what you are doing, e.g. gt status 'running the tests'")
    if ns.message is None:
        from gastown.cli.glance import glance_text

        with Client(town=ns.town) as client:
            glance = client.call(Method.TOWN_GLANCE)
        if ns.json:
            emit_json([glance])
        else:
            sys.stdout.write(glance_text(glance))
        return 0
    result = _call(Method.TOOL_STATUS, message=ns.message)
    if ns.json:
        emit_json([result])
    return 0


SEVERITIES = ("low", "medium", "high", "critical")


def escalate(args: list[str]) -> int:
    ns = _quick(args, {**JSON, "--severity": "medium"}, {"--severity": SEVERITIES}, positional="message")
    if ns is None or ns.message is None:
        p = _parser("escalate", "Ask for help when you are stuck (agents), or raise a problem (humans).")
        p.add_argument("message", help="What is wrong and what you need.")
        p.add_argument("--severity", default="medium", choices=list(SEVERITIES))
        ns = p.parse_args(args)
    import os

    if os.environ.get("GT_AGENT_TOKEN"):
        esc = _call(Method.TOOL_ESCALATE, message=ns.message, severity=ns.severity)
    else:  # a human escalating by hand
        esc = _call(Method.ESCALATION_CREATE, message=ns.message, severity=ns.severity)
    if ns.json:
        emit_json([esc])
    else:
        sys.stdout.write(f"escalated: {esc['id']} ({ns.severity})\n")
    return 0


def review(args: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="gt review", description="Give your verdict on the merge request on your hook "
                                "(refinery agent tool).")
    sub = p.add_subparsers(dest="verdict", required=True)
    sub.add_parser("approve", help="It is fit to merge.")
    rc = sub.add_parser("request-changes", help="It must change first; say what.")
    rc.add_argument("reason", help="What must change (the polecat reads this).")
    ns = p.parse_args(args)
    verdict = "approve" if ns.verdict == "approve" else "request_changes"
    mr = _call(Method.TOOL_REVIEW, verdict=verdict, reason=getattr(ns, "reason", ""))
    sys.stdout.write(f"review of {mr['id']}: {mr['metadata']['review']['state']}\n")
    return 0


def triage(args: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="gt triage", description="Your verdict on the stuck agent (triage agent tool).")
    p.add_argument("verdict", choices=["wait", "restart", "escalate"])
    p.add_argument("reason", nargs="?", default="", help="Why.")
    ns = p.parse_args(args)
    _call(Method.TOOL_TRIAGE, verdict=ns.verdict, reason=ns.reason)
    sys.stdout.write(f"triage: {ns.verdict}\n")
    return 0


def step(args: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="gt step", description="Advance the molecule on your hook (agent tool).")
    sub = p.add_subparsers(dest="verb", required=True)
    d = sub.add_parser("done", help="The current step is done and committed: close it, run the checks that "
                       "follow, and print the next step.")
    d.add_argument("--summary", default="", help="What you did (later steps see it).")
    d.add_argument("--json", action="store_true", help="One JSON object per line.")
    ns = p.parse_args(args)
    result = _call(Method.TOOL_STEP_DONE, summary=ns.summary)
    if ns.json:
        emit_json([result])
    else:
        sys.stdout.write(result["text"].rstrip() + "\n")
    return 1 if result["status"] == "run_failed" else 0


def pr(args: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="gt pr", description="Answer the pull request your follow-up bead is about "
                                "(polecat tool).")
    sub = p.add_subparsers(dest="verb", required=True)
    rp = sub.add_parser("reply", help="Reply to a review thread you addressed.")
    rp.add_argument("thread", help="The thread number shown in brackets in your bead.")
    rp.add_argument("body", help="What you changed (or why you did not).")
    ns = p.parse_args(args)
    reply = _call(Method.TOOL_PR_REPLY, thread=ns.thread, body=ns.body)
    sys.stdout.write(f"replied in thread {reply['thread']}\n")
    return 0


TOOLS = {"step": step, "triage": triage, "prime": prime, "done": done, "status": status, "escalate": escalate,
         "review": review, "pr": pr}


def run(name: str, args: list[str]) -> int:
    try:
        return TOOLS[name](args)
    except RpcError as exc:
        sys.stderr.write(f"gt {name}: {exc.message}\n")
        return exit_code(exc.code)
    except OSError as exc:
        sys.stderr.write(f"gt {name}: cannot reach the daemon: {exc}\n")
        return 7


