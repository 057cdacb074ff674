"""Gates on the host: a local town's gates (and molecule run steps) run here, inside the agents'
bubblewrap sandbox unless the town's sandbox mode is off; a container town's run in its container
(`Runtime.gate_runner`). The refinery only calls the runner it is given."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from gastown.daemon.runtime import sandbox
from gastown.daemon.town import agentenv
from gastown.daemon.vcs.gates import TAIL, Gate, GateRunner
from gastown.protocol import RpcError


def host_gate(gate: Gate, cwd: Path) -> dict[str, Any]:
    """A gate on the host, unconfined, with the allow-listed environment (no agent.env)."""
    return host_gates([], "off")(gate, cwd)


def host_gates(env_spec: list[str], sandbox_mode: str) -> GateRunner:
    """Gates of a local town: the repository's code, run on purpose (like CI), with the
    allow-listed environment plus `agent.env`, inside the same bubblewrap sandbox as agents
    unless the town's sandbox mode is off (or auto and bwrap does not work here). With
    `required` and no working bwrap, the gate fails with the cause."""
    def run(gate: Gate, cwd: Path) -> dict[str, Any]:
        try:
            sandboxed = sandbox.enabled(sandbox_mode)
        except RpcError as exc:
            return {"name": gate.name, "cmd": gate.cmd, "exit_code": 126, "timed_out": False, "duration_s": 0.0,
                    "output_tail": exc.message, "ran_in": "nowhere"}
        home = Path(tempfile.mkdtemp(prefix="gt-gate-home-"))
        try:
            result = run_gate(gate, cwd, _gate_env(env_spec, home), sandboxed, home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return {**result, "ran_in": "host sandbox" if sandboxed else "host"}
    return run


def run_gate(gate: Gate, cwd: Path, env: dict[str, str], sandboxed: bool = False,
             home: Path | None = None) -> dict[str, Any]:
    start = time.monotonic()
    argv = sandbox.gate_argv(gate.cmd, cwd=cwd, home=home) if sandboxed else ["/bin/sh", "-c", gate.cmd]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        timed_out = False
        try:
            code = proc.wait(timeout=gate.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 9)
            code = proc.wait()
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return {"name": gate.name, "cmd": gate.cmd, "exit_code": 124 if timed_out else code,
            "timed_out": timed_out, "duration_s": round(time.monotonic() - start, 3), "output_tail": text[-TAIL:]}


def _gate_env(env_spec: list[str], home: Path | None = None) -> dict[str, str]:
    """The allow-list (never the daemon's environment), `agent.env`, a throwaway HOME."""
    overlay = {"PATH": agentenv.gt_path(), **({"HOME": str(home)} if home else {})}
    return agentenv.build(overlay, env_spec)
