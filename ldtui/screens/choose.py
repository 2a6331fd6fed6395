"""Asking the operator which host to look at, when no host can say.

A source left in the error state normally names its target; a record that lost that name
(an older manager, a store restored from a backup) cannot. The recovery wizard then asks
which of the connected hosts to check, instead of giving up.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option


class ChooseHostDialog(ModalScreen["str | None"]):
    """Answers the chosen host name, or ``None`` (``esc``, Close, or no host to offer)."""

    BINDINGS = [Binding("escape", "close", "Close", id="choose.close")]

    def __init__(self, title: str, lines: tuple[str, ...] | list[str], hosts: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = tuple(lines)
        self.hosts = list(hosts)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="choose-host"):
            yield Static(Text(self.title_text), classes="title")
            yield Static(Text("\n".join(self.lines)), classes="lines")
            if self.hosts:
                yield OptionList(*(Option(h, id=h) for h in self.hosts), id="hosts-to-check")
            else:
                yield Static(Text("No other host is connected to this console: start ldtui with the "
                                  "target host too, or check it with ldm there."), classes="lines failure")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", variant="default")

    def on_mount(self) -> None:
        if self.hosts:
            self.query_one(OptionList).focus()
        else:
            self.query_one("#close").focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
