"""``?``: every key the console answers to, generated from the bindings.

Nothing here is written by hand: adding a binding anywhere adds a line here.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def binding_rows(app: App, sections: list[tuple[str, list[Binding]]]) -> list[tuple[str, str, str]]:
    """(section, keys, description) for every binding with a description, keys merged.

    A binding's tooltip, when it has one, is the longer description the footer has no
    room for."""
    rows: list[tuple[str, str, str]] = []
    for section, bindings in sections:
        merged: dict[str, list[str]] = {}
        for binding in bindings:
            if not binding.description:
                continue
            keys = [app.get_key_display(Binding(k.strip(), binding.action)) for k in binding.key.split(",")]
            merged.setdefault(binding.tooltip or binding.description, []).extend(keys)
        for description, keys in merged.items():
            rows.append((section, " ".join(dict.fromkeys(keys)), description))
    return rows


def _as_bindings(items: list) -> list[Binding]:
    return [b if isinstance(b, Binding) else Binding(*b) for b in items]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("question_mark", "close", "Close", show=False, id="help.toggle"),
    ]

    def __init__(self, sections: list[tuple[str, list]], *, rehearsal: bool = False) -> None:
        super().__init__()
        self.sections = [(name, _as_bindings(items)) for name, items in sections]
        self.rehearsal = rehearsal

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=False, pad_edge=False)
        table.add_column("WHERE", style="dim", no_wrap=True)
        table.add_column("KEYS", style="bold", no_wrap=True)
        table.add_column("ACTION")
        last = None
        for section, keys, description in binding_rows(self.app, self.sections):
            table.add_row(section if section != last else "", keys, description)
            last = section
        with Vertical(classes="dialog", id="help"):
            yield Static(Text("ldtui — keys"), classes="title")
            with VerticalScroll(classes="lines"):
                yield Static(table, id="help-table")
            note = "ctrl+p opens the command palette with every action."
            if self.rehearsal:
                note += ("\nEmbedded lab: the palette also rehearses failures — cut a link now or at the next"
                         " handoff, lose the confirmation at the next handoff, slow migrations down, stop"
                         " and restart a host.")
            yield Static(Text(note, style="italic"))

    def action_close(self) -> None:
        self.dismiss(None)
