"""How the app runs an action on the selection: menu or key → (fetch) → form → confirm →
daemon calls in one thread worker → a notification, and a reload of what it touched.

A mixin of `GastownApp` (kept apart so the app module stays about data flow). The calls go
through `self.remote` like every other daemon call; widgets never hold a socket.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding

from gastown.protocol import Method, RpcError
from gastown.tui import actions as acts
from gastown.tui.actions import Action, Call, Field, Subject, Values

if TYPE_CHECKING:
    from gastown.tui.app import GastownApp

# The dialogs (forms, menus, confirmations) are imported when first opened: they pull in
# widgets (TextArea, Button) that the first paint does not need.

PAGE_KEYS = [("o", "overview"), ("b", "board"), ("m", "merge queue"), ("c", "convoys"), ("e", "escalations"),
             ("i", "inbox"), ("y", "mayor"), ("$", "costs and flow"), ("r", "refresh"),
             ("ctrl+p", "command palette (every action)"),
             ("?", "this help"), ("space", "actions on the selection"), ("q", "quit")]


def bindings(prefix: str) -> list[Binding]:
    """The action keys (hidden in the footer; `?` lists them), the help and the menu.
    `prefix` is "app." on screens that do not inherit the app's bindings (the drawers)."""
    keys = [Binding(k, f"{prefix}act_key('{k}')", acts.key_label(k), show=False) for k in acts.KEYS]
    return [Binding("question_mark", f"{prefix}help", "help", key_display="?"),
            Binding("space", f"{prefix}menu", "actions", key_display="space"), *keys]


class Acting:
    """Mixed into the app: `self` is a `GastownApp`."""

    looking_at: Subject | None = None
    actions_done: list[tuple[str, list[Call], list[Any]]]

    def subject(self: "GastownApp") -> Subject | None:  # type: ignore[misc]
        pick = getattr(self.screen, "subject", None)
        return pick() if callable(pick) else None

    def remember_subject(self: "GastownApp") -> None:  # type: ignore[misc]
        if self.screen is not self.pages.get("chat"):
            subject = self.subject()
            if subject is not None:
                self.looking_at = subject

    # ---------------------------------------------------------------- entry
    def action_help(self: "GastownApp") -> None:  # type: ignore[misc]
        from gastown.tui.screens.dialogs import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        own = [(b.key_display or b.key, b.description) for b in getattr(self.screen, "BINDINGS", [])
               if hasattr(b, "key") and b.description]
        subject = self.subject()
        rows = [(acts.key_label(a.key), a.title + ("" if a.applies(subject) else "  (not for this selection)"))
                for a in acts.ACTIONS]
        self.push_screen(HelpScreen([("Pages and app", PAGE_KEYS), ("This screen", own),
                                     ("Actions (on the selected row)", rows)]))

    def action_menu(self: "GastownApp") -> None:  # type: ignore[misc]
        from gastown.tui.screens.dialogs import ActionMenu

        subject = self.subject()
        options = acts.applicable(subject)

        def chosen(name: object) -> None:
            if isinstance(name, str):
                self.start_action(acts.BY_NAME[name], subject)
        self.push_screen(ActionMenu(subject, options), chosen)

    def action_act_key(self: "GastownApp", key: str) -> None:  # type: ignore[misc]
        subject = self.subject()
        action = acts.for_key(key, subject)
        if action is None:
            return
        self.start_action(action, subject)

    def action_act(self: "GastownApp", name: str) -> None:  # type: ignore[misc]
        """By name (the command palette)."""
        self.start_action(acts.BY_NAME[name], self.subject())

    # ----------------------------------------------------------------- flow
    def start_action(self: "GastownApp", action: Action, subject: Subject | None) -> None:  # type: ignore[misc]
        if not action.applies(subject):
            what = subject.describe() if subject else "nothing selected"
            self.notify(f"{action.title}: not for {what}", severity="warning", timeout=3)
            return
        if action.prefill and subject is not None:
            self.prefill(action, subject)
        else:
            self.ask(action, subject)

    @work(thread=True, group="act-prefill", exit_on_error=False)
    def prefill(self: "GastownApp", action: Action, subject: Subject) -> None:
        try:
            row = self.remote.call(Method.BEAD_SHOW, id=subject.id)
        except Exception as exc:
            self.call_from_thread(self.notify, f"{action.title}: {_text(exc)}", severity="error")
            return
        full = Subject(subject.kind, subject.id, row, subject.parent)
        self.call_from_thread(self.ask, action, full)

    def ask(self: "GastownApp", action: Action, subject: Subject | None) -> None:  # type: ignore[misc]
        from gastown.tui.screens.dialogs import FormScreen

        if action.form is None:
            self.confirm_then_run(action, subject, {})
            return

        def filled(values: object) -> None:
            if isinstance(values, dict):
                self.confirm_then_run(action, subject, values)
        title = action.title + (f": {subject.id}" if subject and action.kinds else "")
        self.push_screen(FormScreen(title, [self.default_rig(f) for f in action.form(subject)]), filled)

    def default_rig(self: "GastownApp", field: Field) -> Field:  # type: ignore[misc]
        """An empty rig field starts as the board's rig filter, or the town's only rig."""
        if field.name != "rig" or field.default:
            return field
        rigs = self.state.rigs
        rig = self.state.board.filter.rig or (rigs[0] if len(rigs) == 1 else "")
        return replace(field, default=rig)

    def confirm_then_run(self: "GastownApp", action: Action, subject: Subject | None,  # type: ignore[misc]
                         values: Values) -> None:
        from gastown.tui.screens.dialogs import ConfirmScreen

        try:
            calls = action.calls(subject, values)
        except ValueError as exc:
            self.notify(f"{action.title}: {exc}", severity="error")
            return
        if not calls:
            self.notify(f"{action.title}: nothing changed", timeout=2)
            return
        if action.confirm is None:
            self.perform(action.title, calls)
            return

        def answered(yes: object) -> None:
            if yes is True:
                self.perform(action.title, calls)
        text = action.confirm.format(subject=subject.describe() if subject else "the town")
        self.push_screen(ConfirmScreen(text), answered)

    @work(thread=True, group="act", exit_on_error=False)
    def perform(self: "GastownApp", title: str, calls: list[Call]) -> None:
        """The calls in order; the first failure stops and is shown (what ran stays done)."""
        done: list[Any] = []
        for method, params in calls:
            try:
                done.append(self.remote.call(method, **params))
            except Exception as exc:
                ran = f" (after {len(done)} of {len(calls)} calls)" if done else ""
                self.call_from_thread(self.notify, f"{title} failed{ran}: {_text(exc)}", severity="error",
                                      title="gastown")
                return
        self.actions_done.append((title, calls, done))
        result = done[-1] if done else None
        rid = result.get("id") if isinstance(result, dict) else None
        self.call_from_thread(self.notify, f"{title}: done" + (f" ({rid})" if rid else ""), timeout=3)
        self.call_from_thread(self.after_action)

    def after_action(self: "GastownApp") -> None:  # type: ignore[misc]
        """Events bring most changes; what they do not carry (agents, convoys, counts) reloads."""
        for what in ("agents", "mq", "town", "convoys"):
            self.want(what)
        from gastown.tui.screens.drawers import Drawer

        for screen in self.screen_stack:
            if isinstance(screen, Drawer):
                screen.action_reload()


def _text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, RpcError) else f"{type(exc).__name__}: {exc}"
