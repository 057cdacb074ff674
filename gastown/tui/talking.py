"""The Mayor conversation, a mixin of `GastownApp`: messages queue while the Mayor is busy
(also when someone else asked it from the CLI); one worker sends the next, then polls the
answer (`mayor.reply`) and the Mayor's tool calls (`agent.transcript`) until its turn ends.
What the person has selected travels with each message as `context`. The history (every
side, every client) comes from `mayor.history`; the chat page merges it with this session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import get_current_worker

from gastown import transcript as tr
from gastown.protocol import ErrorCode, Method, RpcError
from gastown.tui import messages as m
from gastown.tui.state import Changes

if TYPE_CHECKING:
    from gastown.tui.app import GastownApp

POLL_S = 0.3
BUSY_RETRY_S = 1.0
"""How often a queued message checks whether the Mayor has become free."""
TOOLS_SHOWN = 8


class Talking:
    talking = False

    def on_mayor_send(self: "GastownApp", msg: m.MayorSend) -> None:  # type: ignore[misc]
        subject = self.looking_at
        self.state.chat.append({"role": "human", "text": msg.message, "status": "queued",
                                "context": subject.describe() if subject else None})
        self._next_message()
        self._chat_changed()

    def _next_message(self: "GastownApp") -> None:  # type: ignore[misc]
        if self.talking:
            return
        queued = next((i for i, c in enumerate(self.state.chat) if c.get("status") == "queued"), None)
        if queued is None:
            return
        self.talking = True
        self.state.chat[queued]["status"] = "sending"
        self.talk_to_mayor(queued)

    @work(thread=True, group="mayor", exit_on_error=False)
    def talk_to_mayor(self: "GastownApp", entry: int) -> None:
        """Send (waiting while the Mayor answers someone else), then follow its turn."""
        worker = get_current_worker()
        row = self.state.chat[entry]
        while not worker.is_cancelled:
            try:
                sent = self.remote.call(Method.MAYOR_SEND, message=row["text"],
                                        **({"context": row["context"]} if row.get("context") else {}))
                break
            except RpcError as exc:
                if exc.code != ErrorCode.CONFLICT:
                    self.post_message(m.MayorReply("", True, entry, _text(exc)))
                    return
                self.post_message(m.MayorReply("", False, entry, waiting=True))
                worker.cancelled_event.wait(BUSY_RETRY_S)
            except Exception as exc:
                self.post_message(m.MayorReply("", True, entry, _text(exc)))
                return
        else:
            return
        self.post_message(m.MayorReply("", False, entry, sent_id=str((sent or {}).get("id") or "")))
        self._follow(entry, worker)

    def _follow(self: "GastownApp", entry: int, worker: Any) -> None:  # type: ignore[misc]
        text: str | None = None
        offset = 0
        tools: list[str] = []
        while not worker.is_cancelled:
            try:
                res = self.remote.call(Method.MAYOR_REPLY) or {}
                page = self.remote.call(Method.AGENT_TRANSCRIPT, name="mayor", offset=offset)
            except Exception as exc:
                self.post_message(m.MayorReply(text or "", True, entry, _text(exc)))
                return
            events = tr.from_dicts(page.get("events") or [])
            offset = int(page.get("offset") or offset)
            new = [line for e in events if e.kind == tr.Kind.TOOL_CALL.value for line in tr.render([e])]
            tools = (tools + new)[-TOOLS_SHOWN:]
            done = bool(res.get("done"))
            if res.get("text") != text or done or new:
                text = str(res.get("text") or "")
                self.post_message(m.MayorReply(text, done, entry, tools=list(tools)))
            if done:
                return
            worker.cancelled_event.wait(POLL_S)

    def on_mayor_reply(self: "GastownApp", msg: m.MayorReply) -> None:  # type: ignore[misc]
        if not 0 <= msg.entry < len(self.state.chat):
            return
        human = self.state.chat[msg.entry]
        if msg.waiting:
            human["status"] = "waiting"  # the Mayor is answering someone else
        elif msg.sent_id is not None:
            human.update(status="sent", id=msg.sent_id)
            self.state.chat.append({"role": "mayor", "text": "", "done": False, "for": msg.sent_id, "tools": []})
        else:
            reply = next((c for c in self.state.chat if c.get("role") == "mayor" and c.get("for") == human.get("id")
                          and human.get("id")), None)
            target = reply if reply is not None else human
            target.update(text=msg.text if reply is not None else human["text"], done=msg.done)
            if reply is not None:
                reply["tools"] = msg.tools
            if msg.error:
                target["error"] = msg.error
                human["status"] = "failed"
            if msg.done:
                self.talking = False
                human["status"] = human["status"] if human["status"] == "failed" else "answered"
                self.want("mayor")
                self._next_message()
        self._chat_changed()

    def _chat_changed(self: "GastownApp") -> None:  # type: ignore[misc]
        if self.is_running and "chat" in self.pages:  # an unbuilt page draws in full when built
            self.pages["chat"].update_view(self.state, Changes(pages={"chat"}))


def _text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, RpcError) else f"{type(exc).__name__}: {exc}"
