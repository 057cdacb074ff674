"""`gt mcp` driven by the MCP SDK's own client over stdio against a real daemon: tools with
explicit schemas, sling and the board, errors with the CLI's one-line messages, invalid
arguments refused with the town untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from gastown.protocol import ErrorCode
from tests.conftest import run_gt
from tests.helpers import gtj

pytestmark = pytest.mark.slow

TOOLS = {"sling", "bead_list", "bead_show", "bead_update", "bead_close", "bead_hold", "ready", "convoy_list",
         "convoy_show", "convoy_start", "agent_list", "agent_logs", "mq_list", "feed", "mayor_ask", "formula_run"}


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def session(body: Any) -> Any:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def go() -> Any:
        params = StdioServerParameters(command=sys.executable, args=["-m", "gastown.cli.entry", "mcp"],
                                       env=dict(os.environ))
        async with Client(params) as client:
            return await body(client)

    return anyio.run(go)


def test_tools_sling_and_the_board(town: Path) -> None:
    run_gt("config", "set", "rig.max_polecats", "0", check=True)  # keep what we sling on the board

    from mcp.shared.exceptions import MCPError

    async def body(client: Any) -> dict[str, Any]:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        slung = await client.call_tool("sling", {"title": "add a mul function", "rig": "app", "priority": 1})
        ready = await client.call_tool("ready", {})
        board = await client.read_resource("gastown://board")
        feed = await client.call_tool("feed", {"since": "10m"})
        try:
            await client.call_tool("bead_show", {"id": "zz-nope"})
            missing = None
        except MCPError as exc:
            missing = exc
        invalid = await client.call_tool("sling", {"title": "x", "rig": "app", "priority": "urgent"})
        return {"feed": feed, "tools": tools, "slung": slung, "ready": ready, "board": board, "missing": missing,
                "invalid": invalid}

    r = session(body)
    assert TOOLS <= set(r["tools"])
    schema = r["tools"]["sling"].input_schema
    assert "title" in schema["required"] and schema["properties"]["priority"]["type"] == "integer"
    assert not r["slung"].is_error
    bead = json.loads(text_of(r["slung"])) if text_of(r["slung"]).startswith("{") else r["slung"].structured_content
    assert bead["title"] == "add a mul function" and bead["priority"] == 1
    assert bead["id"] in text_of(r["ready"])
    board = json.loads(r["board"].contents[0].text)
    assert [b["id"] for b in board["open"]] == [bead["id"]]
    assert bead["id"] in text_of(r["feed"]) and "add a mul function" in text_of(r["feed"])
    # errors: the CLI's own one-line message; invalid arguments never reach the town
    cli = run_gt("bead", "show", "zz-nope")
    assert r["missing"].error.message == cli.stderr.strip().removeprefix("gt: ") == "no bead 'zz-nope'"
    assert r["missing"].error.code == ErrorCode.NOT_FOUND
    assert r["invalid"].is_error and "priority" in text_of(r["invalid"])
    assert [b["title"] for b in gtj("bead", "list")] == ["add a mul function"]


@pytest.mark.agentcli
def test_claude_code_calls_a_gastown_tool(town: Path, gt_home: Path) -> None:
    """The real Claude Code CLI, configured with `gt mcp` as its MCP server, calls `ready`
    through the fake model server and gets the town's answer back as the tool result."""
    from gastown.fakellm import FakeLLM

    binary = Path(__file__).resolve().parents[1] / ".cache" / "agents" / "claude" / "node_modules" / ".bin" / "claude"
    if not os.access(binary, os.X_OK):
        pytest.fail(f"claude is not installed at {binary} (scripts/install-agents.sh claude)")
    run_gt("config", "set", "rig.max_polecats", "0", check=True)
    bead = gtj("sling", "add a mul function", "--rig", "app")[0]
    config = gt_home / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"gastown": {
        "command": sys.executable, "args": ["-m", "gastown.cli.entry", "mcp"],
        "env": {"GT_HOME": os.environ["GT_HOME"], "GT_TOWN": "t", "GT_ACTOR": "Claude User <cu@example.com>"}}}}))
    home = gt_home / "claude-home"
    home.mkdir()
    script: list[dict[str, Any]] = [{"tool": "mcp__gastown__ready", "args": {}}, {"say": "one bead is ready"}]
    with FakeLLM(script) as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "ANTHROPIC"))}
        env.update(HOME=str(home), ANTHROPIC_BASE_URL=llm.url, ANTHROPIC_API_KEY="sk-ant-fake",
                   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1", IS_SANDBOX="1",
                   MCP_CONNECTION_NONBLOCKING="false")  # wait for the server before the first request
        proc = subprocess.run([str(binary), "What is ready in the town?", "-p", "--output-format", "stream-json",
                               "--verbose", "--model", "fake-model", "--dangerously-skip-permissions",
                               "--mcp-config", str(config)], cwd=gt_home, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        main = [r for r in llm.requests if r["kind"] != "aux"]
    assert "mcp__gastown__ready" in main[0]["tool_names"]
    answer = json.dumps(main[1]["body"]["messages"][-1])  # the tool result the CLI sent back
    assert "tool_result" in answer and bead["id"] in answer and "add a mul function" in answer
