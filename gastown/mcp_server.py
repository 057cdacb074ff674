"""`gt mcp`: the town as a stdio MCP server, for any MCP client (Claude Code, Claude
Desktop, Cursor, opencode, …), built on the official `mcp` SDK.

Each tool is a typed function, so its input schema is explicit (the SDK derives it and
validates arguments before the call: invalid arguments are refused with a schema error and
the town is untouched). Each tool is one RPC through the ordinary client, with the caller's
identity as for any `gt` command; daemon errors come back as MCP tool errors carrying the
same one-line message the CLI prints, as MCP (JSON-RPC) errors with the daemon's code.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Callable, Literal, TypeVar

from gastown import transcript as tr
from gastown.client import Client
from gastown.protocol import ErrorCode, Method, RpcError

Priority = Annotated[int, "0 (highest) to 4"]
F = TypeVar("F", bound=Callable[..., Any])


class Town:
    """One client connection for the server's life, reopened if the daemon restarts."""

    def __init__(self, town: str | None) -> None:
        self.town = town
        self.client: Client | None = None

    def call(self, method: str, **params: Any) -> Any:
        """One RPC; a daemon error becomes an MCP error with the daemon's code and the exact
        one-line message the CLI prints."""
        from mcp.shared.exceptions import MCPError

        params = {k: v for k, v in params.items() if v is not None}
        for attempt in (1, 2):
            try:
                if self.client is None:
                    self.client = Client(town=self.town)
                return self.client.call(method, **params)
            except RpcError as exc:
                raise MCPError(int(exc.code), exc.message) from None
            except OSError as exc:
                self.client = None
                if attempt == 2:
                    raise MCPError(int(ErrorCode.UNAVAILABLE), f"cannot reach the daemon: {exc}") from None
        raise AssertionError("unreachable")


def _brief(bead: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "title", "status", "rig", "priority", "assignee", "labels", "requested_by", "updated_at")
    return {k: bead.get(k) for k in keys}


def build(town_name: str | None) -> Any:
    """The MCPServer with every tool and resource registered."""
    from mcp.server.mcpserver import MCPServer

    town = Town(town_name)
    server = MCPServer(name="gastown", instructions=(
        "Gastown runs AI coding agents on git repositories. Sling work as beads (issues); agents "
        "pick up ready beads, the merge queue lands their commits. Use ready/bead_list to see the "
        "board, sling to add work, mayor_ask to delegate planning."), log_level="WARNING")

    def tool(description: str) -> Callable[[F], F]:
        return server.tool(description=description)

    def resource(uri: str, name: str, description: str) -> Callable[[F], F]:
        return server.resource(uri, name=name, mime_type="application/json", description=description)

    @tool(description="Create a bead (an issue) for a rig and let an agent pick it up when it is ready.")
    def sling(title: str, rig: str | None = None, body: str = "", depends_on: list[str] | None = None,
              priority: Priority = 2, persona: str | None = None) -> dict[str, Any]:
        return dict(town.call(Method.SLING, title=title, rig=rig, body=body, depends_on=depends_on,
                              priority=priority, persona=persona))

    @tool(description="List issue beads, newest first; filter by status, rig or text.")
    def bead_list(status: Literal["open", "in_progress", "in_review", "closed", "failed"] | None = None,
                  rig: str | None = None, text: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        rows = town.call(Method.BEAD_LIST, status=status, rig=rig, text=text, type="issue",
                         limit=max(1, min(limit, 500)), newest_first=True)
        return [_brief(b) for b in rows]

    @tool(description="One bead with its body, dependencies and failure reason.")
    def bead_show(id: str) -> dict[str, Any]:
        return dict(town.call(Method.BEAD_SHOW, id=id))

    @tool(description="Change a bead's title, body, priority or labels.")
    def bead_update(id: str, title: str | None = None, body: str | None = None, priority: Priority | None = None,
                    add_labels: list[str] | None = None, remove_labels: list[str] | None = None) -> dict[str, Any]:
        return dict(town.call(Method.BEAD_UPDATE, id=id, title=title, body=body, priority=priority,
                              add_labels=add_labels, remove_labels=remove_labels))

    @tool(description="Close a bead (done, or no longer wanted), with a reason.")
    def bead_close(id: str, reason: str | None = None) -> dict[str, Any]:
        return dict(town.call(Method.BEAD_CLOSE, id=id, reason=reason))

    @tool(description="Hold a bead: it is never dispatched until released; a running turn on it stops "
                      "and its work stays on its branch. release=true lets it go again.")
    def bead_hold(id: str, reason: str = "", release: bool = False) -> dict[str, Any]:
        if release:
            return dict(town.call(Method.BEAD_RELEASE, id=id))
        return dict(town.call(Method.BEAD_HOLD, id=id, reason=reason))

    @tool(description="Beads ready for an agent now (open, unblocked, not held), highest priority first.")
    def ready(rig: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return [_brief(b) for b in town.call(Method.READY, rig=rig, limit=max(1, min(limit, 500)))]

    @tool(description="Convoys (groups of beads that land together) with their progress.")
    def convoy_list() -> list[dict[str, Any]]:
        return list(town.call(Method.CONVOY_LIST))

    @tool(description="One convoy with its members.")
    def convoy_show(id: str) -> dict[str, Any]:
        return dict(town.call(Method.CONVOY_SHOW, id=id))

    @tool(description="Start a staged convoy: its members become dispatchable.")
    def convoy_start(id: str) -> dict[str, Any]:
        return dict(town.call(Method.CONVOY_START, id=id))

    @tool(description="Agents (polecats, mayor, refinery) with their status and hooked bead.")
    def agent_list(rig: str | None = None) -> list[dict[str, Any]]:
        keys = ("id", "name", "role", "rig", "status", "hook_bead_id", "status_message", "adapter")
        return [{k: a.get(k) for k in keys} for a in town.call(Method.AGENT_LIST, rig=rig)]

    @tool(description="What an agent did in its latest turn, as readable lines (tool calls, results, words).")
    def agent_logs(name: str, last: int = 80) -> str:
        page = town.call(Method.AGENT_TRANSCRIPT, name=name, offset=0, limit=5000)
        lines = list(tr.render(tr.from_dicts(page["events"])))
        return "\n".join(lines[-max(1, min(last, 2000)):]) or "(no turn yet)"

    @tool(description="The merge queue: merge requests with their status, gates and pull request URL.")
    def mq_list(status: str | None = None, rig: str | None = None) -> list[dict[str, Any]]:
        return list(town.call(Method.MQ_LIST, status=status, rig=rig))

    @tool(description="Town activity as readable lines (slung, dispatched, merged, failed, escalated), "
                      "oldest first; `since` is a duration (30m, 2h, 1d) or a time.")
    def feed(since: str = "1h", limit: int = 100) -> str:
        from mcp.server.mcpserver.exceptions import ToolError

        from gastown import feed as fd

        try:
            start = fd.iso(fd.parse_since(since))
        except ValueError:
            raise ToolError(f"since takes a duration (30m, 2h, 1d) or a time, not '{since}'") from None
        page = town.call(Method.TOWN_FEED, since=start, limit=max(1, min(limit, 1000)))
        return "\n".join(fd.line(e) for e in page["events"]) or "(nothing happened)"

    @tool(description="Ask the Mayor (the planning agent) and wait for its answer.")
    def mayor_ask(message: str, timeout_s: float = 300.0) -> str:
        sent = town.call(Method.MAYOR_SEND, message=message)
        deadline = time.monotonic() + max(1.0, min(timeout_s, 3600.0))
        while time.monotonic() < deadline:
            reply = town.call(Method.MAYOR_REPLY)
            if reply["done"]:
                return str(reply["text"])
            time.sleep(0.5)
        return f"(no answer within {timeout_s:.0f} s; message {sent['id']} is still with the Mayor)"

    @tool(description="Run a formula (reusable multi-step work) on a rig; returns the molecule.")
    def formula_run(name: str, rig: str, vars: dict[str, str] | None = None,
                    mode: Literal["beads", "single"] = "beads") -> dict[str, Any]:
        return dict(town.call(Method.FORMULA_RUN, name=name, rig=rig, vars=vars or {}, mode=mode))

    @resource("gastown://board", "board", "The bead board: issue beads grouped by status.")
    def board() -> str:
        rows = town.call(Method.BEAD_LIST, type="issue", limit=500, newest_first=True)
        grouped: dict[str, list[dict[str, Any]]] = {}
        for b in rows:
            grouped.setdefault(b["status"], []).append(_brief(b))
        return json.dumps(grouped)

    @resource("gastown://beads/{id}", "bead", "One bead as JSON.")
    def bead(id: str) -> str:
        return json.dumps(town.call(Method.BEAD_SHOW, id=id))

    return server


def serve(town: str | None) -> None:
    build(town).run("stdio")
