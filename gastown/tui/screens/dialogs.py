"""Modal dialogs for actions: confirm, a form, the action menu and the key-help overlay.

Each dismisses with its result (a bool, the form's values, an action name, None); the app
decides what to call. Escape always cancels.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from gastown.tui.actions import Action, Field, Subject, Values, key_label


class Dialog(ModalScreen[object]):
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(Dialog):
    """Yes/no before a destructive call; `y` or Enter on Yes confirms."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n", "answer(False)", "no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class FormScreen(Dialog):
    """Labelled inputs (a text area for long fields); ctrl+s or Enter in the last line submits."""

    BINDINGS = [Binding("ctrl+s", "submit", "submit")]

    def __init__(self, title: str, fields: list[Field]) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", classes="form") as box:
            box.border_title = self.title_text
            for f in self.fields:
                yield Label(self.label(f, False), id=f"l-{f.name}")
                if f.multiline:
                    yield TextArea(f.default, id=f"f-{f.name}", classes="multiline", soft_wrap=True)
                else:
                    yield Input(f.default, placeholder=f.placeholder, id=f"f-{f.name}")
            yield Static("", id="form-error")
            with Horizontal(id="buttons"):
                yield Button("Submit (ctrl+s)", id="submit", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#f-{self.fields[0].name}").focus()

    @staticmethod
    def label(f: Field, current: bool) -> str:
        return ("▸ " if current else "  ") + f.label + (" *" if f.required else "")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused field's label is marked (Tab moves on; the mark says where you are)."""
        for f in self.fields:
            current = event.widget.id == f"f-{f.name}"
            self.query_one(f"#l-{f.name}", Label).update(self.label(f, current))

    def values(self) -> Values:
        out: Values = {}
        for f in self.fields:
            widget = self.query_one(f"#f-{f.name}")
            out[f.name] = widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]
        return out

    def action_submit(self) -> None:
        values = self.values()
        missing = [f.label for f in self.fields if f.required and not values[f.name].strip()]
        if missing:
            self.query_one("#form-error", Static).update(Text(f"required: {', '.join(missing)}", style="bold red"))
            return
        self.dismiss(values)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self.action_submit()
        else:
            self.focus_next()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)


class ActionMenu(Dialog):
    """The actions that apply to the selection (space); Enter runs one."""

    def __init__(self, subject: Subject | None, actions: list[Action]) -> None:
        super().__init__()
        self.subject = subject
        self.actions = actions

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = self.subject.describe() if self.subject else "town"
            yield OptionList(*[Option(f"{key_label(a.key):>3}  {a.title}", id=a.name) for a in self.actions],
                             id="menu")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class HelpScreen(Dialog):
    """Every key: pages, this screen's own, and the actions (from the same tables the app uses)."""

    BINDINGS = [Binding("question_mark", "cancel", "close"), Binding("q", "cancel", "close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        text = Text()
        for title, rows in self.sections:
            text.append(f"{title}\n", style="bold underline")
            for key, what in rows:
                text.append(f"  {key:>10}  ", style="bold cyan")
                text.append(f"{what}\n")
            text.append("\n")
        text.append("Esc, q or ? closes this help.", style="dim")
        with VerticalScroll(id="dialog", classes="help") as box:
            box.border_title = "Keys"
            yield Static(text, id="help-text")
