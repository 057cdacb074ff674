"""The scripted stand-in agent (stdlib only; it also runs inside town containers).

Runs each command of GT_SCRIPT (a JSON list) with the shell in the current directory,
echoing it like a terminal would; a failing command ends the turn with its status.
Then commits all changes with GT_BEAD_TITLE as the message (identity and trailers come
from the environment the daemon set) and calls `gt done`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from gastown.model import FailureCode

DONE_STEP = re.compile(r'(?:^|[;&|]\s*)(?:\S*/)?(?:gt|"?\$GT_BIN"?)\s+done\b')
STEP_DONE = re.compile(r'\bstep\s+done\b')


_F = FailureCode
CONTINUE_AFTER = ("", _F.NEVER_STARTED, _F.AGENT_CRASHED, _F.EXITED_WITHOUT_DONE, _F.DISPATCH_FAILED, _F.STOPPED,
                  _F.RESET)
"""Previous failures after which committed work is still good (the turn was cut, not the
work rejected): like a real agent reading its prompt, the stand-in continues, not redoes."""


def _work_already_committed() -> bool:
    bead = os.environ.get("GT_BEAD_ID")
    if not bead or os.environ.get("GT_PREVIOUS_FAILURE", "") not in CONTINUE_AFTER:
        return False
    out = subprocess.run(["git", "log", "-1", "--format=%(trailers:key=Bead-ID,valueonly)"],
                         capture_output=True, text=True)
    return out.returncode == 0 and bead in out.stdout.split()


def main() -> int:
    script = json.loads(os.environ.get("GT_SCRIPT") or "[]")
    role = os.environ.get("GT_ROLE")
    reviewer = role in ("refinery", "triage")
    if role == "refinery" and not script:
        script = [f"{os.environ.get('GT_BIN', 'gt')} review approve"]
    if role == "triage" and not script:  # the stand-in judge gives stuck agents more time
        script = [f"{os.environ.get('GT_BIN', 'gt')} triage wait 'scripted triage: let it run'"]
    title = os.environ.get("GT_BEAD_TITLE") or "scripted work"
    print(f"[scripted agent {os.environ.get('GT_AGENT', '?')}] {len(script)} step(s) for: {title}", flush=True)
    # a molecule's script is its remaining steps (each ends in `gt step done`): never already done
    if not reviewer and not any(STEP_DONE.search(step) for step in script) and _work_already_committed():
        print("[scripted agent] this bead's work is already committed on my branch; handing it in", flush=True)
        script = []
    for step in script:
        print(f"$ {step}", flush=True)
        sys.stdout.flush()
        code = subprocess.call(step, shell=True)
        print(f"[scripted agent] exit {code}", flush=True)  # read back as the step's result
        if code != 0:
            print(f"[scripted agent] step failed with status {code}", flush=True)
            return code
    if reviewer:  # a reviewer or a judge never commits; its verdict was one of the steps
        return 0
    if any(DONE_STEP.search(step) for step in script):  # the script finished the bead itself
        return 0
    subprocess.run(["git", "add", "-A"], check=True)
    if subprocess.run(["git", "diff", "--cached", "--quiet"]).returncode != 0:
        subprocess.run(["git", "commit", "-q", "-m", title], check=True)
    gt = os.environ.get("GT_BIN", "gt")
    summary = f"scripted: {len(script)} step(s)"
    print(f"$ gt done --summary '{summary}'", flush=True)
    code = subprocess.call([gt, "done", "--summary", summary])
    print(f"[scripted agent] exit {code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
