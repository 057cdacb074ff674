"""aider (`aider-chat` on PyPI): one `aider --message` per turn, wrapped in `sh -c`.

aider edits files but has no shell tool, so it cannot commit the Gastown way nor run
`gt done`. The wrapper does both after aider exits 0: `git add -A` (aider's own
`.aider*` files excluded) and a commit with the bead title when anything changed (the
daemon's env and the commit-msg hook supply identity and trailers), then `gt done`.
aider has no native session ids: Gastown names one (`aider-<hex>`) per chat history file
under <home>/.aider/sessions; resuming restores that file's history. The wrapper prints
the name first, so it can be read back from the turn's output. aider's repo-map cache
(`.aider.tags.cache.v*` in the worktree) is removed after each run: `gt done` refuses a
worktree with untracked files, and the sandbox keeps the repo's exclude file read-only.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from gastown import transcript as tr
from gastown.daemon.adapters import base
from gastown.daemon.adapters.base import Adapter, TurnContext, TurnResult
from gastown.daemon.adapters.common import openai_base, plain_lines, stripped_env, write_login_profile

INSTRUCTIONS = "gastown-instructions.md"
SESSION_MARK = "gastown aider session:"
WRAPPER = """\
sid=$1; msg=$2; shift 2
printf '%s %s\\n' '""" + SESSION_MARK + """' "$sid"
"$@" || exit $?
rm -rf .aider.tags.cache.v*
git add -A -- . ':(exclude).aider*' || exit $?
if ! git diff --cached --quiet; then git commit -q -m "$msg" || exit $?; fi
exec gt done --summary "$msg"
"""
_SESSION_ID = r"aider-[0-9a-f]+"
_SESSION_RE = re.compile(re.escape(SESSION_MARK) + f" ({_SESSION_ID})")
_TOKENS_RE = re.compile(r"Tokens: ([\d.,]+[kM]?) sent(?:, ([\d.,]+[kM]?) cache write)?"
                        r"(?:, ([\d.,]+[kM]?) cache hit)?, ([\d.,]+[kM]?) received")


_EDIT_RE = re.compile(r"^Applied edit to (.+)$")
_BANNER = ("Aider v", "Main model:", "Model: ", "Analytics have been", "Weak model:", "Editor model:", "Git repo:", "Repo-map:", "Added ",
           "Restored previous conversation", "Use /help", "Cost:", "https://aider.chat", "Warning:",
           "Model ", "For more info", "You can skip", "Update git", "Note:", SESSION_MARK)


def _count(text: str | None) -> int:
    """aider's rounded counts: `950`, `2.3k`, `12k`, `1.2M`."""
    if not text:
        return 0
    text = text.replace(",", "")
    scale = {"k": 1_000, "M": 1_000_000}.get(text[-1], 1)
    try:
        return round(float(text.rstrip("kM")) * scale)
    except ValueError:
        return 0


class AiderAdapter(Adapter):
    name = "aider"
    binary = "aider"
    package = "aider-chat==0.86.2"

    def resolve_binary(self) -> str:
        """Also a venv at GT_AGENT_CACHE/aider or <repo>/.cache/agents/aider (pip, not npm)."""
        for root in (os.environ.get("GT_AGENT_CACHE"), str(base.REPO_CACHE)):  # read late (tests patch it)
            if root:
                cand = Path(root) / self.name / "bin" / self.binary
                if cand.exists():
                    return str(cand)
        return super().resolve_binary()

    @staticmethod
    def history(home: Path, session: str) -> Path:
        return home / ".aider" / "sessions" / f"{session}.chat.md"

    def session(self, ctx: TurnContext) -> str:
        if ctx.session_id and re.fullmatch(_SESSION_ID, ctx.session_id):
            return ctx.session_id
        return f"aider-{uuid.uuid4().hex[:16]}"

    def prepare(self, ctx: TurnContext) -> None:
        write_login_profile(ctx.home)
        (ctx.home / ".aider" / "sessions").mkdir(parents=True, exist_ok=True)
        # aider writes a placeholder user.name/email into the repo's config when git has none,
        # and the sandbox mounts that config read-only (aider then crashes). The commit's real
        # identity comes from GIT_AUTHOR_*/GIT_COMMITTER_* in the turn's env, which win.
        gitconfig = ctx.home / ".gitconfig"
        if not gitconfig.exists():
            gitconfig.write_text(f"[user]\n\tname = {ctx.agent} (gastown aider)\n"
                                 f"\temail = {ctx.agent}@gastown.invalid\n")
        path = ctx.home / INSTRUCTIONS
        if ctx.system_prompt:
            path.write_text(ctx.system_prompt)
        elif path.exists():
            path.unlink()

    def aider_args(self, ctx: TurnContext, session: str) -> list[str]:
        args = [self.resolve_binary(), "--message", ctx.prompt,
                "--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-gitignore",
                "--no-suggest-shell-commands", "--no-check-update", "--no-show-release-notes",
                "--analytics-disable", "--no-analytics", "--no-pretty", "--no-fancy-input", "--no-notifications",
                "--no-detect-urls", "--no-show-model-warnings",
                "--chat-history-file", str(self.history(ctx.home, session)),
                "--input-history-file", str(ctx.home / ".aider" / "input.history")]
        if ctx.model:
            model = ctx.model if "/" in ctx.model or not ctx.base_url else f"openai/{ctx.model}"
            args += ["--model", model]
        if ctx.system_prompt:
            args += ["--read", str(ctx.home / INSTRUCTIONS)]
        if session == ctx.session_id:
            args.append("--restore-chat-history")
        return args

    def command(self, ctx: TurnContext) -> list[str]:
        session = self.session(ctx)
        title = str(ctx.bead.get("title") or ctx.bead.get("id") or "aider changes")
        return ["sh", "-c", WRAPPER, "gastown-aider", session, title, *self.aider_args(ctx, session)]

    def env(self, ctx: TurnContext) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            **stripped_env(), "HOME": str(ctx.home), "PWD": str(ctx.worktree),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else litellm fetches its price list at start
        }
        if ctx.base_url:
            env["OPENAI_API_BASE"] = openai_base(ctx.base_url)
        if ctx.api_key:
            env["OPENAI_API_KEY"] = ctx.api_key
        return env

    def parse_output(self, text: str, home: Path) -> TurnResult:
        """The wrapper's session line; one `Tokens: … sent, … received.` line per model reply."""
        result = TurnResult()
        m = _SESSION_RE.search(text)
        if m:
            result.session_id = m.group(1)
        for t in _TOKENS_RE.finditer(text):
            result.tokens_in += _count(t.group(1))
            result.tokens_out += _count(t.group(4))
        return result

    def transcript(self, text: str) -> list[tr.Event]:
        """aider prints plain text: `Applied edit to F` (an edit), `Tokens: …` (usage), its
        banner (skipped), and the model's words. The wrapper's `gt done` output comes last."""
        events: list[tr.Event] = []
        words: list[str] = []

        def flush() -> None:
            if "\n".join(words).strip():
                events.append(tr.text("\n".join(words)))
            words.clear()

        for line in plain_lines(text):
            m = _EDIT_RE.match(line)
            t = _TOKENS_RE.search(line)
            if m:
                path = m.group(1).strip()
                if words and words[-1].strip() == path:  # aider echoes the file name first
                    words.pop()
                flush()
                events.append(tr.Event(tr.Kind.EDIT.value, tool="aider", path=path))
            elif t:
                flush()
                events.append(tr.usage(_count(t.group(1)), _count(t.group(4))))
            elif line.startswith(_BANNER) or line.startswith(("─", "> ")):
                flush()
            elif line.startswith(("done: ", "error: ")):
                flush()
                events.append(tr.Event(tr.Kind.OUTPUT.value, text=line))
            else:
                words.append(line)
        flush()
        return events
