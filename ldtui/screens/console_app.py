"""What the screens need of the app that shows them, so that no screen imports the app.

``ldtui.app.LdtuiApp`` has this shape; the screens are written against it (a typing
``Protocol``), and the app module, which composes the screens, is the only one that knows
the class.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

from ldtui.console.fleet import Fleet
from ldtui.console.source import CommandOutcome, HostSource
from ldtui.core.snapshot import HostSnapshot


class ConsoleApp(Protocol):
    """The console's hosts and the commands it runs on them, beside Textual's ``App``."""

    fleet: Fleet
    sources: Mapping[str, HostSource]
    lab_passwords: Mapping[str, str]
    rehearsal: Any
    live_supported: bool
    shipped_theme_names: list[str]
    theme: str
    screen_stack: list[Any]

    def user_for(self, name: str) -> str: ...

    async def query_host(self, hostname: str) -> HostSnapshot | None: ...

    async def run_on(self, name: str, argv: list[str], *, password: str | None = None,
                     quiet: bool = False, timeout: float | None = None) -> CommandOutcome: ...

    def start_migration(self, name: str, request: Any) -> None: ...

    def cancel_migration(self, name: str, domain: str, *, done: str) -> None: ...

    def rehearse(self, method: str, *args: str) -> None: ...

    def push_screen(self, screen: Any, callback: Callable[[Any], Any] | None = None) -> Any: ...

    def run_worker(self, work: Any, *, group: str = ..., exit_on_error: bool = ..., name: str = ...) -> Any: ...

    def action_help(self) -> None: ...

    def action_quit(self) -> Any: ...
