"""Import of 10,000 beads from beads JSONL (target under 2 s), export of the same, and an
MCP tool call round trip through `gt mcp` over stdio (median)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _util import VENV_BIN, daemon_home

N = 10_000


def make_file(path: Path) -> None:
    with path.open("w") as fh:
        for i in range(N):
            deps = [{"issue_id": f"bd-{i}", "depends_on_id": f"bd-{i - 1}", "type": "blocks"}] if i % 10 else []
            if i % 100 == 1:
                deps.append({"issue_id": f"bd-{i}", "depends_on_id": f"bd-{i - 1}", "type": "related"})
            fh.write(json.dumps({"id": f"bd-{i}", "title": f"issue {i}", "description": "x" * 200,
                                 "status": "closed" if i % 3 == 0 else "open", "priority": i % 5,
                                 "issue_type": "task", "labels": [f"l{i % 7}"], "dependencies": deps,
                                 "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}) + "\n")


def mcp_round_trips(n: int = 20) -> list[float]:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def go() -> list[float]:
        params = StdioServerParameters(command=str(VENV_BIN / "gt"), args=["mcp", "--town", "bench"],
                                       env=dict(os.environ))
        out = []
        async with Client(params) as client:
            await client.call_tool("ready", {})
            for _ in range(n):
                t = time.perf_counter()
                await client.call_tool("ready", {"limit": 5})
                out.append(time.perf_counter() - t)
        return out

    return anyio.run(go)


def main() -> None:
    os.environ["GT_RUNTIME"] = "local"
    with daemon_home():
        from gastown.client import Client

        with Client() as c:
            c.call("town.create", name="bench", runtime="local", _town=False)
        path = Path(tempfile.mkdtemp()) / "issues.jsonl"
        make_file(path)
        with Client(town="bench") as c:
            t = time.perf_counter()
            res = c.call("bead.import", path=str(path))
            imp = time.perf_counter() - t
            t = time.perf_counter()
            again = c.call("bead.import", path=str(path))
            imp2 = time.perf_counter() - t
            t = time.perf_counter()
            offset, lines = 0, 0
            while offset is not None:
                page = c.call("bead.export", offset=offset, limit=2000)
                lines += len(page["lines"])
                offset = page["next_offset"]
            exp = time.perf_counter() - t
        print(f"import {N:,} beads (RPC)      {imp:6.2f} s  ({res['created']:,} created)  target < 2 s")
        print(f"import again (unchanged)     {imp2:6.2f} s  ({again['unchanged']:,} unchanged)")
        print(f"export {lines:,} lines          {exp:6.2f} s")
        rt = mcp_round_trips()
        print(f"MCP tool call round trip     median {statistics.median(rt) * 1000:6.1f} ms  (n={len(rt)}, "
              f"gt mcp over stdio, {sys.executable})")


if __name__ == "__main__":
    main()
