"""`gt mail send|inbox|read`, `gt nudge`, `gt escalation list|ack`."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from gastown.cli.common import JsonOpt, TownOpt, call, out, show
from gastown.cli.render import bead_text, emit_json
from gastown.protocol import Method

mail = typer.Typer(help="Durable messages between agents, the mayor and humans.", no_args_is_help=True)
escalation = typer.Typer(help="Escalations: problems that need a human or the mayor.", no_args_is_help=True)


@mail.command("send")
def mail_send(to: str = typer.Argument(..., help="Agent name, role, rig/role, mayor or human."),
              subject: str = typer.Argument(..., help="Subject line."),
              body: str = typer.Option("", "--body", "-m", help="Message text ('-' reads stdin)."),
              thread: Optional[str] = typer.Option(None, "--thread", help="Reply within this thread id."),
              town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Send a message; it is delivered at the recipient's next turn."""
    if body == "-":
        body = sys.stdin.read()
    sent = call(Method.MAIL_SEND, town, to=to, subject=subject, body=body, thread=thread)
    if as_json:
        emit_json(sent)
    else:
        out.print(f"sent {', '.join(m['id'] + ' to ' + m['assignee'] for m in sent)}", markup=False)


@mail.command("inbox")
def mail_inbox(box: Optional[str] = typer.Option(None, "--box", help="Mailbox (humans: default 'human')."),
               unread: bool = typer.Option(False, "--unread", help="Only unread messages."),
               town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List messages in a mailbox (an agent sees its own)."""
    rows = call(Method.MAIL_INBOX, town, box=box, unread=unread or None)
    for r in rows:
        r["from"] = r["metadata"].get("from")
    show(rows, as_json, [("id", "ID"), ("status", "STATUS"), ("from", "FROM"), ("title", "SUBJECT"),
                         ("created_at", "SENT")], empty="no mail")


@mail.command("read")
def mail_read(msg_id: str = typer.Argument(..., metavar="ID", help="Message id."),
              town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Show a message and mark it read."""
    msg = call(Method.MAIL_READ, town, id=msg_id)
    if as_json:
        emit_json([msg])
    else:
        sys.stdout.write(bead_text(msg))


def nudge(agent: str = typer.Argument(..., help="Agent name."),
          message: str = typer.Argument(..., help="What to tell it."),
          mode: str = typer.Option("wait-idle", "--mode", help="immediate | wait-idle | queue."),
          ttl: Optional[float] = typer.Option(None, "--ttl", help="Minutes it stays queued (default nudge.ttl_minutes)."),
          town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """Nudge an agent: an idle one gets a turn now (immediate, wait-idle); a busy one reads it next turn."""
    result = call(Method.AGENT_NUDGE, town, name=agent, message=message, mode=mode, ttl_minutes=ttl)
    if as_json:
        emit_json([result])
    else:
        out.print(f"nudge {result['id']} queued for {agent} ({mode})", markup=False)


@escalation.command("list")
def escalation_list(all_: bool = typer.Option(False, "--all", help="Include acknowledged ones."),
                    town: TownOpt = None, as_json: JsonOpt = False) -> None:
    """List escalations, unacknowledged first."""
    rows = call(Method.ESCALATION_LIST, town, all=all_ or None)
    show(rows, as_json, [("id", "ID"), ("severity", "SEVERITY"), ("status", "STATUS"),
                         ("reescalation_count", "RAISED"), ("created_by", "FROM"), ("title", "WHAT")],
         empty="no escalations")


@escalation.command("ack")
def escalation_ack(esc_id: str = typer.Argument(..., metavar="ID"), town: TownOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Acknowledge an escalation (it stops re-escalating)."""
    esc = call(Method.ESCALATION_ACK, town, id=esc_id)
    if as_json:
        emit_json([esc])
    else:
        out.print(f"acknowledged {esc['id']}", markup=False)
