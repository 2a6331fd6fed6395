"""Modal dialogs: a yes/no confirmation and a message that lists lines.

Dangerous actions confirm naming host and domain; focus starts on the safe button and
``esc`` answers no (docs/CONSOLE.md, "Cancelling").

A key typed before a dialog was on screen was meant for what the operator saw then, not
for the dialog: the safe button holds the focus from the first frame (``AUTO_FOCUS``,
no focus moved in ``on_mount``), and the confirming inputs answer only once the dialog
has been drawn (``ArmedAfterFirstFrame``).
"""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ArmedAfterFirstFrame:
    """Mixed into a screen whose confirming inputs must wait until it has been drawn:
    ``armed`` turns true after the screen's first refresh, and a key received before that
    moment is dropped (when it is handled does not matter: a loaded console may handle
    it after the first frame), except :attr:`EARLY_KEYS`, the safe answers."""

    armed: bool = False
    armed_at: float = math.inf
    """When the first frame was drawn (monotonic, as an event's ``time``)."""
    EARLY_KEYS: frozenset[str] = frozenset({"escape"})

    def _arm_after_first_frame(self) -> None:
        self.armed = False
        self.armed_at = math.inf
        self.call_after_refresh(self._arm)  # type: ignore[attr-defined]

    def _arm(self) -> None:
        self.armed = True
        self.armed_at = time.monotonic()

    def drops(self, event: events.Key) -> bool:
        """Whether ``event`` came before the first frame and may not act on this screen.

        The app asks before it resolves a key's bindings (Button's and Input's ``enter``
        included): a key is sent on to the widget that had the focus when it arrived —
        perhaps on the screen below — and its bindings are looked up only when it comes
        back, by then in this screen's focus chain."""
        return event.time < self.armed_at and event.key not in self.EARLY_KEYS


class ConfirmDialog(ArmedAfterFirstFrame, ModalScreen[bool]):
    """Answers ``True`` only for an explicit yes (button or ``y``) given once the dialog is
    on screen; ``No`` has the focus from the start."""

    AUTO_FOCUS = "#no"
    EARLY_KEYS = frozenset({"escape", "n"})
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
        self._arm_after_first_frame()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_answer(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        if answer and not self.armed:
            return              # typed before the question was on screen
        self.dismiss(answer)


class MessageDialog(ModalScreen[None]):
    """A result or an explanation, one line per line, closed with ``esc``/``enter``."""

    AUTO_FOCUS = "#close"
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

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
