"""A scrollable page of ``ldm`` output: domain detail (``list -l``), devices, services.

The command runs in a worker after the page is shown, so a slow host never freezes the
console; the page says it is waiting, then shows what the host printed.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ldtui.console.source import CommandOutcome

Runner = Callable[[], Awaitable[CommandOutcome]]


class TextView(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="text.back"),
        Binding("q", "app.pop_screen", "Back", show=False, id="text.quit"),
        Binding("r", "reload", "Reload", id="text.reload"),
        Binding("j", "scroll(1)", "Down", show=False, id="text.down"),
        Binding("k", "scroll(-1)", "Up", show=False, id="text.up"),
        Binding("g", "top", "Top", show=False, id="text.top"),
        Binding("G", "bottom", "Bottom", show=False, id="text.bottom"),
    ]

    def __init__(self, title: str, runner: Runner) -> None:
        super().__init__()
        self.page_title = title
        self._runner = runner
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.page_title), id="text-title")
        with VerticalScroll(id="text-scroll"):
            yield Static(Text("waiting for the host…", style="italic"), id="text-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#text-scroll").focus()
        self.load()

    @work(exclusive=True, group="text-view", exit_on_error=False)
    async def load(self) -> None:
        body = self.query_one("#text-body", Static)
        try:
            out = await self._runner()
        except Exception as exc:
            self.text = f"host unreachable: {exc}"
            body.update(Text(self.text, style="bold red"))
            self.notify(self.text, severity="error")
            return
        self.text = out.stdout.rstrip("\n")
        err = out.stderr.rstrip("\n")
        shown = Text(self.text)
        if err:
            shown.append(("\n" if self.text else "") + err, style="bold red")
        body.update(shown)

    def action_reload(self) -> None:
        self.load()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#text-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_top(self) -> None:
        self.query_one("#text-scroll", VerticalScroll).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one("#text-scroll", VerticalScroll).scroll_end(animate=False)
