"""Modal dialogs: a yes/no confirmation and a message that lists lines.

Dangerous actions confirm naming host and domain; focus starts on the safe button and
``esc`` answers no (DESIGN.md "Look and feel").
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    """Answers ``True`` only for an explicit yes (button or ``y``)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "No", id="confirm.escape"),
    ]

    def __init__(self, title: str, lines: tuple[str, ...] | list[str] = (), *, yes: str = "Yes",
                 danger: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.lines = tuple(lines)
        self.yes_label = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger" if self.danger else "dialog", id="confirm"):
            yield Static(Text(self.title_text), classes="title")
            if self.lines:
                yield Static(Text("\n".join(self.lines)), classes="lines")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("No (n)", id="no", variant="default")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class MessageDialog(ModalScreen[None]):
    """A result or an explanation, one line per line, closed with ``esc``/``enter``."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="message.close"),
        Binding("enter", "close", "Close", show=False, id="message.enter"),
    ]

    def __init__(self, title: str, lines: tuple[str, ...] | list[str] = (), *, failure: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.lines = tuple(lines)
        self.failure = failure

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog danger" if self.failure else "dialog", id="message"):
            yield Static(Text(self.title_text), classes="title")
            with VerticalScroll(classes="lines"):
                yield Static(Text("\n".join(self.lines)), id="message-lines",
                             classes="failure" if self.failure else "")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
