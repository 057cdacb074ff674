"""Drawers: detail panels that stack (bead → its agent → its merge request → …); Escape pops.

Each drawer loads its subject in a thread worker through the app's `remote` (popping the
drawer cancels the worker) and reloads when the app reports events about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from gastown.timetext import retry_line
from gastown.protocol import Method, RpcError
from gastown.tui import messages as m
from gastown.tui.acting import bindings
from gastown.tui.actions import Subject, subject_of_bead
from gastown.tui.screens import fmt
from gastown.tui.widgets.footer import KeyFooter

Row = dict[str, Any]
RELOAD_S = 0.5
DIFF_BYTES = 200_000
"""The most of a branch's diff a drawer asks for (the daemon says when it truncated)."""


@dataclass
class Fetched(Message, bubble=False):
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Drawer(ModalScreen[None]):
    # A modal screen cuts the app's bindings off, so the page keys are repeated here
    # (a drawer's own keys, like the bead drawer's "m", take precedence).
    BINDINGS = [
        Binding("escape", "close", "back"),
        Binding("q", "app.quit", "quit"),
        Binding("o", "app.show('overview')", "overview", show=False),  # the page bar names them
        Binding("b", "app.show('board')", "board", show=False),
        Binding("m", "app.show('mq')", "merge queue", show=False),
        Binding("c", "app.show('convoys')", "convoys", show=False),
        Binding("e", "app.show('escalations')", "escalations", show=False),
        Binding("i", "app.show('mail')", "inbox", show=False),
        Binding("y", "app.show('chat')", "mayor", show=False),
        Binding("r", "reload", "refresh", show=False),
        *bindings("app."),
    ]
    key = ""
    row: Row = {}
    """The subject as last loaded (what the actions see)."""

    def subject(self) -> Subject | None:
        return subject_of_bead({**self.row, "id": self.key}) if self.key else None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="drawer") as box:
            box.border_title = self.title_text()
            yield Static(id="head")
            yield Static(id="banner", classes="failure")
            yield from self.body()
        yield KeyFooter()

    def title_text(self) -> str:
        return self.key

    def body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.reload_due = False
        self.load()

    def action_close(self) -> None:
        self.dismiss()

    def on_click(self, event: events.Click) -> None:
        if event.widget is self:  # the dimmed page around the drawer
            self.dismiss()

    def touched(self, keys: set[str]) -> None:
        """The app saw events about these beads / agents."""
        if self.key in keys and not self.reload_due:
            self.reload_due = True
            self.set_timer(RELOAD_S, self._reload)

    def _reload(self) -> None:
        self.reload_due = False
        self.load()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="drawer", exit_on_error=False)
    def load(self) -> None:
        worker = get_current_worker()
        try:
            data = self.fetch(self.app.remote.call)  # type: ignore[attr-defined]
            msg = Fetched(data)
        except Exception as exc:
            msg = Fetched(error=exc.message if isinstance(exc, RpcError) else str(exc))
        if not worker.is_cancelled:
            self.post_message(msg)

    def fetch(self, call: Any) -> dict[str, Any]:
        raise NotImplementedError

    def on_fetched(self, msg: Fetched) -> None:
        if msg.error:
            self.query_one("#head", Static).update(Text(f"{self.key}: {msg.error}", style="bold red"))
            return
        self.show(msg.data)

    def show(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def banner(self, failure: Row | None, tail: bool = True, label: str = "FAILED") -> None:
        banner = self.query_one("#banner", Static)
        banner.display = bool(failure)
        if failure:
            text = Text(f"{label} [{failure.get('code', '?')}] {failure.get('message', '')}", style="bold")
            details = failure.get("details") or {}
            for key in ("gate", "exit_code", "files", "mr"):
                if details.get(key) not in (None, "", []):
                    text.append(f"\n{key}: {fmt.short(details[key], 100)}")
            if tail and details.get("output_tail"):
                text.append("\n" + "\n".join(str(details["output_tail"]).rstrip().splitlines()[-8:]))
            banner.update(text)


class BeadDrawer(Drawer):
    BINDINGS = [Binding("a", "agent", "agent"), Binding("m", "merge_request", "merge request"),
                Binding("p", "approve", "approve step")]

    def __init__(self, bead_id: str) -> None:
        super().__init__()
        self.key = bead_id
        self.agent: str | None = None
        self.mr: str | None = None
        self.approvable = False  # an open approval step of a molecule

    def body(self) -> ComposeResult:
        yield Static(id="fields")
        yield Static("Dependencies", classes="section")
        yield OptionList(id="deps")
        yield Static("Branch", classes="section")
        yield Static(id="branch")
        yield Static(id="commits")
        yield Static(id="diff")
        yield Static("Events", classes="section")
        yield Static(id="timeline")

    def fetch(self, call: Any) -> dict[str, Any]:
        bead = call(Method.BEAD_SHOW, id=self.key)
        timeline = call(Method.BEAD_EVENTS, id=bead["id"])
        done = [e for e in timeline if e.get("event_type") == "agent_done"]
        mr_id = (done[-1].get("metadata") or {}).get("mr") if done else None
        mr = None
        if mr_id:
            try:
                mr = call(Method.MQ_SHOW, id=mr_id)
            except RpcError:
                mr = None
        try:
            diff = call(Method.BEAD_DIFF, id=bead["id"], max_bytes=DIFF_BYTES)
        except RpcError as exc:
            diff = {"available": False, "reason": exc.message}
        return {"bead": bead, "events": timeline, "mr": mr, "done": done[-1] if done else None, "diff": diff}

    def show(self, data: dict[str, Any]) -> None:
        bead, timeline, mr, done = data["bead"], data["events"], data["mr"], data["done"]
        self.key = bead["id"]
        self.row = bead
        hooked = [e.get("new_value") for e in timeline if e.get("event_type") == "hooked"]
        self.agent = bead.get("assignee") or (hooked[-1] if hooked else None)
        self.mr = mr["id"] if mr else (bead["id"] if bead.get("type") == "merge_request" else None)
        meta = bead.get("metadata") or {}
        self.approvable = meta.get("step_kind") == "approval" and bead.get("status") == "open"
        head = Text(f"{bead['id']}  ", style="bold")
        head.append_text(fmt.status(bead.get("status")))
        head.append(f"  {bead.get('title', '')}", style="bold")
        self.query_one("#head", Static).update(head)
        if bead.get("retry"):  # only the latest unresolved failure, as the retry it waits for
            self.banner({"code": "retry", "message": retry_line(bead["retry"])}, tail=False, label="RETRY")
        else:
            self.banner(bead.get("failure_reason") if bead.get("status") in ("open", "failed") else None)
        self.query_one("#fields", Static).update(fmt.fields([
            ("type", bead.get("type")), ("rig", bead.get("rig")), ("priority", f"P{bead.get('priority')}"),
            ("assignee", bead.get("assignee")), ("agent", self.agent), ("labels", ", ".join(bead.get("labels") or [])),
            ("requested by", bead.get("requested_by")), ("created", bead.get("created_at")),
            ("updated", bead.get("updated_at")), ("closed", bead.get("closed_at")),
            ("close reason", bead.get("close_reason")), ("attempts", bead.get("dispatch_attempts") or None),
            ("step", f"{meta['step']} ({meta.get('step_kind')}) of molecule {meta.get('molecule')}"
             + (": press p to approve" if self.approvable else "") if meta.get("step") else None),
            ("body", fmt.short(bead.get("body"), 400)),
        ]))
        deps = self.query_one("#deps", OptionList)
        deps.clear_options()
        for title, key in (("depends on", "depends_on"), ("needed by", "dependents")):
            for d in bead.get(key) or []:
                deps.add_option(Option(f"{title:<11} {d['id']}  [{d['status']}] ({d['type']})  {d['title']}",
                                       id=d["id"]))
        deps.display = deps.option_count > 0
        meta = (done or {}).get("metadata") or {}
        branch = mr.get("branch") if mr else meta.get("branch")
        self.query_one("#branch", Static).update(fmt.fields([
            ("branch", branch), ("head", (mr or {}).get("head_sha") or meta.get("head_sha")),
            ("commits", ((mr or {}).get("metadata") or {}).get("commits")),
            ("target", (mr or {}).get("target_branch")),
            ("merge request", f"{mr['id']} [{mr.get('status')}]" if mr else None),
            ("merged as", (mr or {}).get("merge_commit")), ("summary", meta.get("summary")),
        ]))
        self.show_diff(data.get("diff") or {})
        lines = Text()
        for e in timeline[-200:]:
            lines.append(f"{str(e.get('created_at', ''))[:19]}  ", style="dim")
            lines.append(f"{e.get('event_type', ''):<22}", style="bold")
            value = " → ".join(str(v) for v in (e.get("old_value"), e.get("new_value")) if v)
            reason = (e.get("metadata") or {}).get("reason") or \
                ((e.get("metadata") or {}).get("failure_reason") or {}).get("message")
            lines.append(f"{value}  {fmt.short(reason or '', 80)}  ({e.get('actor') or ''})\n")
        self.query_one("#timeline", Static).update(lines)

    def show_diff(self, diff: dict[str, Any]) -> None:
        commits, body = self.query_one("#commits", Static), self.query_one("#diff", Static)
        if not diff.get("available"):
            commits.update(Text(f"no branch yet{': ' + diff['reason'] if diff.get('reason') else ''}", style="dim"))
            body.display = False
            return
        text = fmt.fields([("diff", f"{diff.get('branch')} against {diff.get('base')}"),
                           ("merge base", str(diff.get("merge_base") or "")[:12])])
        rows = diff.get("commits") or []
        text.append(f"\n{len(rows)} commit{'s' if len(rows) != 1 else ''}\n", style="bold")
        for c in rows[:50]:
            text.append(f"  {str(c.get('sha') or '')[:10]} ", style="yellow")
            text.append(f"{c.get('subject', '')}")
            text.append(f"  ({c.get('author') or ''})\n", style="dim")
        if diff.get("stat"):
            text.append(str(diff["stat"]).rstrip() + "\n")
        commits.update(text)
        patch = str(diff.get("diff") or "")
        body.display = bool(patch)
        if patch:
            parts: list[Any] = [Syntax(patch, "diff", theme="ansi_dark", word_wrap=False, background_color="default")]
            if diff.get("truncated"):
                parts.append(Text(f"(diff truncated at {len(patch):,} bytes: git diff {diff.get('base')}..."
                                  f"{diff.get('branch')})", style="bold yellow"))
            body.update(Group(*parts))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.post_message(m.OpenBead(event.option.id))

    def action_agent(self) -> None:
        if self.agent:
            self.post_message(m.OpenAgent(self.agent))
        else:
            self.notify("no agent has worked on this bead", timeout=2)

    def action_approve(self) -> None:
        if self.approvable:
            self.post_message(m.ApproveStep(self.key))
        else:
            self.notify("this bead is not an open approval step", timeout=2)

    def action_merge_request(self) -> None:
        if self.mr:
            self.post_message(m.OpenMergeRequest(self.mr))
        else:
            self.notify("no merge request for this bead", timeout=2)


class MergeRequestDrawer(Drawer):
    BINDINGS = [Binding("s", "source", "source bead"), Binding("a", "agent", "agent")]

    def __init__(self, mr_id: str) -> None:
        super().__init__()
        self.key = mr_id
        self.mr: Row = {}

    def body(self) -> ComposeResult:
        yield Static(id="fields")
        yield Static("Gates", classes="section")
        yield DataTable(id="gates", cursor_type="row")
        yield Static(id="gate-output")

    def on_mount(self) -> None:
        table = self.query_one("#gates", DataTable)
        for label in ("gate", "exit", "seconds", "command"):
            table.add_column(label, key=label)
        super().on_mount()

    def fetch(self, call: Any) -> dict[str, Any]:
        return {"mr": call(Method.MQ_SHOW, id=self.key)}

    def show(self, data: dict[str, Any]) -> None:
        mr = self.mr = self.row = {"type": "merge_request", **data["mr"]}
        head = Text(f"{mr['id']}  ", style="bold")
        head.append_text(fmt.status(mr.get("status")))
        head.append(f"  {mr.get('title', '')}", style="bold")
        self.query_one("#head", Static).update(head)
        self.banner(mr.get("failure_reason"), tail=not mr.get("gates"))  # the gates table shows the output
        review = (mr.get("metadata") or {}).get("review") or {}
        self.query_one("#fields", Static).update(fmt.fields([
            ("source", mr.get("source_bead_id")), ("rig", mr.get("rig")),
            ("branch", f"{mr.get('branch')} → {mr.get('target_branch')}"), ("head", mr.get("head_sha")),
            ("commits", (mr.get("metadata") or {}).get("commits")), ("merged as", mr.get("merge_commit")),
            ("pr", mr.get("pr_url")), ("retries", mr.get("retry_count") or None),
            ("review", f"{review.get('state')} {review.get('why') or ''}".strip() if review else None),
            ("summary", fmt.short(mr.get("body"), 300)),
        ]))
        table = self.query_one("#gates", DataTable)
        table.clear()
        out = Text()
        for i, g in enumerate(mr.get("gates") or []):
            code = g.get("exit_code")
            table.add_row(g.get("name", ""), Text(str(code), style="green" if code == 0 else "bold red"),
                          f"{g.get('duration_s', 0):.1f}", fmt.short(g.get("cmd", ""), 60), key=str(i))
            if code not in (0, None) and g.get("output_tail"):
                out.append(f"{g.get('name')} output:\n", style="bold red")
                out.append("\n".join(str(g["output_tail"]).rstrip().splitlines()[-15:]) + "\n")
        table.display = table.row_count > 0
        self.query_one("#gate-output", Static).update(out)

    def touched(self, keys: set[str]) -> None:
        super().touched(keys | ({self.key} if self.mr.get("source_bead_id") in keys else set()))

    def action_source(self) -> None:
        if self.mr.get("source_bead_id"):
            self.post_message(m.OpenBead(self.mr["source_bead_id"]))

    def action_agent(self) -> None:
        parts = str(self.mr.get("branch") or "").split("/")
        if len(parts) == 3 and parts[0] == "gt":
            self.post_message(m.OpenAgent(parts[1]))
        else:
            self.notify("this branch does not name an agent", timeout=2)


class ConvoyDrawer(Drawer):
    """A convoy and its members; Enter on a member opens its bead drawer on top."""

    def __init__(self, convoy_id: str) -> None:
        super().__init__()
        self.key = convoy_id
        self.members: set[str] = set()

    def body(self) -> ComposeResult:
        yield Static(id="fields")
        yield Static("Members", classes="section")
        yield OptionList(id="members")

    def fetch(self, call: Any) -> dict[str, Any]:
        return {"convoy": call(Method.CONVOY_SHOW, id=self.key)}

    def show(self, data: dict[str, Any]) -> None:
        c = self.row = {"type": "convoy", **data["convoy"]}
        head = Text(f"{c['id']}  ", style="bold")
        head.append_text(fmt.status(c.get("status")))
        head.append(f"  {c.get('title', '')}", style="bold")
        self.query_one("#head", Static).update(head)
        self.query_one("#fields", Static).update(fmt.fields([
            ("progress", fmt.bar(c.get("progress") or {}, int(c.get("total") or 0), 40)),
            ("staged", "yes" if c.get("staged") else None), ("landed", c.get("landed_at")),
            ("rig", c.get("rig")), ("requested by", c.get("requested_by")), ("created", c.get("created_at")),
        ]))
        members = self.query_one("#members", OptionList)
        highlighted = members.highlighted
        members.clear_options()
        self.members = {mb["id"] for mb in c.get("members") or []}
        for mb in c.get("members") or []:
            line = Text(f"{mb['id']:<12}")
            line.append_text(fmt.status(mb.get("status")))
            line.append(" " * max(1, 12 - len(str(mb.get("status") or ""))))
            line.append(f"{mb.get('title', '')}")
            if mb.get("assignee"):
                line.append(f"  @{mb['assignee']}", style="dim")
            if mb.get("depends_on"):
                line.append(f"  after {', '.join(mb['depends_on'])}", style="dim")
            members.add_option(Option(line, id=mb["id"]))
        if highlighted is not None and members.option_count:
            members.highlighted = min(highlighted, members.option_count - 1)

    def touched(self, keys: set[str]) -> None:
        super().touched(keys | ({self.key} if self.members & keys else set()))

    def subject(self) -> Subject | None:
        """The highlighted member when the member list has focus (remove it), else the convoy."""
        members = self.query_one("#members", OptionList)
        if self.focused is members and members.highlighted is not None:
            member_id = members.get_option_at_index(members.highlighted).id
            rows = {r["id"]: r for r in self.row.get("members") or []}
            if member_id in rows:
                return subject_of_bead(rows[member_id], parent=self.key)
        return super().subject()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.post_message(m.OpenBead(event.option.id))


class MailDrawer(Drawer):
    """One message, read through `mail.read` (which marks it read)."""

    def __init__(self, mail_id: str) -> None:
        super().__init__()
        self.key = mail_id

    def body(self) -> ComposeResult:
        yield Static(id="fields")
        yield Static(id="mail-body")

    def fetch(self, call: Any) -> dict[str, Any]:
        return {"mail": call(Method.MAIL_READ, id=self.key)}

    def show(self, data: dict[str, Any]) -> None:
        msg = self.row = data["mail"]
        meta = msg.get("metadata") or {}
        self.query_one("#head", Static).update(Text(f"{msg['id']}  {msg.get('title', '')}", style="bold"))
        self.query_one("#fields", Static).update(fmt.fields([
            ("from", meta.get("from") or msg.get("created_by")), ("to", meta.get("to")), ("kind", meta.get("kind")),
            ("sent", msg.get("created_at")), ("about", meta.get("bead")),
        ]))
        self.query_one("#mail-body", Static).update(Markdown(str(msg.get("body") or "")))
