"""``ldtui``: the Textual app of the console across several hosts, composing its parts.

The app owns one link per host; ``console.polling`` asks each for a ``HostSnapshot`` about
once a second in its own worker, so a slow or dead host never blocks the screen, and a host
that stops answering keeps its rows, marked stale. Every ``ldm`` command the console runs
goes through the link of the host it concerns, exactly as an operator would type it there
(``console.running``). The screens are in ``screens/``, drawn with ``widgets/``; what they
show lives in ``console/``.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import time
from typing import Any, Callable, Mapping

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.worker import Worker, WorkerState

from ldtui.console import outcome
from ldtui.console.heap import HeapFreezer
from ldtui.console.polling import HostPoller
from ldtui.console.running import describe, failure_title, run_ldm
from ldtui.core.cmd_migrate import MigrationResult
from ldtui.core.errors import LdmError
from ldtui.core.model import MigrationRole
from ldtui.core.snapshot import HostSnapshot
from ldtui.screens.commands import LdtuiCommands
from ldtui.screens.dialogs import ArmedAfterFirstFrame, MessageDialog
from ldtui.screens.help import HelpScreen
from ldtui.screens.main import MainScreen
from ldtui.screens.migrate import MigrateRequest
from ldtui.console.fleet import Event, Fleet
from ldtui.console.source import CommandOutcome, HostSource
from ldtui.console.opening import OpenedHosts
from ldtui.console.settings import load_settings, save_settings
from ldtui.widgets.themes import APP_CSS, DEFAULT_THEME, shipped_themes

log = logging.getLogger("ldtui.console")


class LdtuiApp(App[None]):
    TITLE = "ldtui"
    CSS_PATH = str(APP_CSS)
    COMMANDS = App.COMMANDS | {LdtuiCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, sources: Mapping[str, HostSource] | None = None, *,
                 open_hosts: Callable[[], OpenedHosts] | None = None,
                 users: Mapping[str, str] | None = None, rehearsal: Any = None,
                 clock: Callable[[], float] = time.time, poll_interval: float = 1.0,
                 request_timeout: float = 10.0, command_timeout: float = 3600.0,
                 theme: str | None = None, live_supported: bool = True) -> None:
        super().__init__()
        self.clock = clock
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self.command_timeout = command_timeout
        self.live_supported = live_supported
        self.fleet = Fleet()
        self.sources: dict[str, HostSource] = {}
        self.users: dict[str, str] = dict(users or {})
        self.lab_passwords: dict[str, str] = {}
        self.rehearsal = rehearsal
        self.events: list[Event] = []
        self._initial = dict(sources or {})
        self._open_hosts = open_hosts
        self._close_hosts: Callable[[], None] | None = None
        self._cancelling: set[tuple[str, str]] = set()
        """(host, domain) of migrations this console has asked to cancel: the cancel's own
        toast tells the operator, so the migration's end does not toast again."""
        self._redraw_pending = False
        self.poller = HostPoller(self)
        self.heap = HeapFreezer()
        self.shipped_theme_names = []
        for shipped in shipped_themes():
            self.register_theme(shipped)
            self.shipped_theme_names.append(shipped.name)
        self._settings = load_settings()
        wanted = theme or self._settings.get("theme") or DEFAULT_THEME
        self._theme_ready = False
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME
        self._theme_ready = True

    # -- lifecycle -----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        for name, source in self._initial.items():
            self.add_host(name, source)
        if self._open_hosts is not None:
            self.run_worker(self._open_in_thread, thread=True, group="open-hosts", exit_on_error=False,
                            name="open hosts")

    def on_key(self, event: events.Key) -> None:
        # Runs before App's own key handler resolves the bindings: a key typed before a
        # confirmation was drawn never answers it.
        screen = self.screen
        if isinstance(screen, ArmedAfterFirstFrame) and screen.drops(event):
            event.prevent_default()
            event.stop()

    def _open_in_thread(self) -> None:
        opened = self._open_hosts()  # type: ignore[misc]
        self.call_from_thread(self._adopt, opened)

    def _adopt(self, opened: OpenedHosts) -> None:
        self.users.update(opened.users)
        self.lab_passwords.update(opened.passwords)
        if opened.rehearsal is not None:
            self.rehearsal = opened.rehearsal
            listen = getattr(opened.rehearsal, "listen", None)
            if listen is not None:
                listen(self._fault_fired)
        self._close_hosts = opened.close
        for name, source in opened.sources.items():
            self.add_host(name, source)

    def _fault_fired(self, line: str) -> None:
        """An armed rehearsal fault fired (called on the lab's thread)."""
        def show() -> None:
            self.record([Event(self.clock(), "lab", f"rehearsal: {line}", "warning")])
            self.notify(f"rehearsal: {line}", severity="warning", timeout=8)
        try:
            self.call_from_thread(show)
        except RuntimeError:  # the console is already gone
            pass

    def add_host(self, name: str, source: HostSource) -> None:
        self.sources[name] = source
        self.fleet.add(name).path = getattr(source, "path", "")
        self.run_worker(self.poller.poll(name, source), group=f"poll:{name}", exit_on_error=False,
                        name=f"poll {name}")
        self.refresh_views()

    async def on_unmount(self) -> None:
        self.heap.release()
        for source in self.sources.values():
            try:
                await asyncio.wait_for(source.close(), 2.0)
            except Exception as exc:  # closing a dead link may fail; nothing is left to do
                log.info("close failed: %s", describe(exc))
        if self._close_hosts is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._close_hosts), 10.0)
            except Exception as exc:
                log.warning("stopping the lab failed: %s", describe(exc))

    async def query_host(self, hostname: str) -> HostSnapshot | None:
        """A fresh snapshot of a host by the name others know it by; ``None`` if unreachable."""
        return await self.poller.query_host(hostname)

    # -- drawing -------------------------------------------------------------------------

    def main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def refresh_views(self) -> None:
        """Redraw the main screen soon, once: snapshots of many hosts arriving together (and
        every other reason to redraw in the meantime) cost one redraw, not one each."""
        if self._redraw_pending:
            return
        self._redraw_pending = True
        self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        main = self.main_screen()
        if main is not None and main.is_mounted:
            try:
                main.refresh_views()
            except NoMatches:
                pass  # the screen is being torn down while the app exits
            else:
                self._freeze_heap_once_started()

    def _freeze_heap_once_started(self) -> None:
        """Once every host has answered (or failed to) and its rows are drawn, freeze what
        survives the next full collection (``console.heap``); ``on_unmount`` unfreezes it."""
        if self.heap.armed or not self.fleet.hosts or self._open_hosts_pending():
            return
        if any(view.state == "connecting" for view in self.fleet.hosts.values()):
            return
        self.heap.arm(asyncio.get_running_loop())

    def _open_hosts_pending(self) -> bool:
        return self._open_hosts is not None and not self.sources

    def record(self, events: list[Event]) -> None:
        if not events:
            return
        self.events.extend(events)
        for event in events:
            log.info("%s %s", event.host, event.text)
        main = self.main_screen()
        if main is not None and main.is_mounted:
            try:
                main.add_events(events)
            except NoMatches:
                pass

    def watch_theme(self, theme: str) -> None:
        if getattr(self, "_theme_ready", False):
            self._settings["theme"] = theme
            try:
                save_settings(self._settings)
            except OSError as exc:
                self.notify(f"Cannot remember the theme: {exc.strerror}", severity="warning")
            self.refresh_views()

    # -- commands ------------------------------------------------------------------------

    def user_for(self, name: str) -> str:
        return self.users.get(name) or getpass.getuser()

    async def run_on(self, name: str, argv: list[str], *, password: str | None = None,
                     quiet: bool = False, timeout: float | None = None) -> CommandOutcome:
        """Run ``ldm ARGV`` on a host through its link; every result goes to the event log."""
        return await run_ldm(self.sources[name], self.fleet.hosts[name].hostname, argv,
                             timeout=timeout or self.request_timeout, record=self.record, clock=self.clock,
                             password=password, quiet=quiet)

    def run_command(self, name: str, argv: list[str], *, done: str,
                    settled: Callable[[bool], None] | None = None) -> None:
        """Run a state-changing command in a worker; toast success, explain failure in a modal.
        ``settled`` hears whether it succeeded."""

        async def go() -> None:
            hostname = self.fleet.hosts[name].hostname
            try:
                out = await self.run_on(name, argv)
            except Exception as exc:
                if settled is not None:
                    settled(False)
                self.push_screen(MessageDialog(failure_title(hostname, exc), [describe(exc)], failure=True))
                return
            ok = out.exit_code == 0
            if settled is not None:
                settled(ok)
            if ok:
                self.notify(done)
            else:
                lines = (out.stdout + out.stderr).strip().splitlines()
                self.push_screen(MessageDialog(f"ldm {' '.join(argv)} failed on {hostname}", lines, failure=True))

        self.run_worker(go(), group="commands", exit_on_error=False, name=" ".join(argv))

    def cancel_migration(self, name: str, domain: str, *, done: str) -> None:
        """``ldm cancel-operation migration DOMAIN`` on the source host. One toast
        says it: if this console started that migration, its end is not toasted again."""
        key = (name, domain)
        self._cancelling.add(key)

        def settled(ok: bool) -> None:
            if not ok:      # refused or unreachable: the migration goes on, its end is news
                self._cancelling.discard(key)

        self.run_command(name, ["cancel-operation", "migration", domain], done=done, settled=settled)

    def start_migration(self, name: str, request: MigrateRequest) -> None:
        """The migration on the source host; the result (or every unmet requirement) is
        shown when the source's manager answers (docs/CONSOLE.md, "Migrating a domain")."""
        self._cancelling.discard((name, request.domain))   # a cancel asked before is not about this one
        self.notify(outcome.started(request).text)

        async def go() -> None:
            try:
                result = await self.migrate_on(name, request)
            except Exception as exc:
                self.push_screen(MessageDialog(failure_title(request.source_host, exc), [describe(exc)],
                                               failure=True))
                self.notify(f"Migration of {request.domain}: {describe(exc)}", severity="error")
                return
            asked_to_cancel = (name, request.domain) in self._cancelling
            self._cancelling.discard((name, request.domain))
            telling = outcome.telling(request, result, asked_to_cancel=asked_to_cancel)
            if telling.toast is not None:
                self.notify(telling.toast.text, severity=telling.toast.severity)
            if telling.dialog is None:
                return
            lines = list(telling.dialog.lines)
            if telling.check_error_state:
                snap = await self.query_host(request.source_host)
                row = next((d for d in snap.domains if d.name == request.domain), None) if snap else None
                if row is not None and row.migration_role is MigrationRole.ERROR:
                    lines += outcome.error_state_lines(request)
            self.push_screen(MessageDialog(telling.dialog.title, lines, failure=telling.dialog.failure))

        self.run_worker(go(), group="migrations", exit_on_error=False, name=f"migrate {request.domain}")

    async def migrate_on(self, name: str, request: MigrateRequest) -> MigrationResult:
        """Hand ``request`` to host ``name``'s manager as a request value (as its command
        line to a host that takes only that); logged as the command line."""
        source = self.sources[name]
        password = request.password or None
        limit = self.request_timeout if request.dry_run else self.command_timeout
        if outcome.takes_requests(source):
            hostname = self.fleet.hosts[name].hostname
            argv = request.argv()
            try:
                # The link's own call timeout must not end a long migration before ours does.
                result = await asyncio.wait_for(source.migrate(request.migration(), password=password, timeout=limit),
                                                limit + 5)
            except Exception as exc:
                if not outcome.too_old(exc):
                    self.record([Event(self.clock(), hostname, f"ldm {' '.join(argv)}: {describe(exc)}", "error")])
                    raise
            else:
                text, level = outcome.event_text(argv, result)
                self.record([Event(self.clock(), hostname, text, level)])
                return result
        out = await self.run_on(name, request.argv(), password=password, timeout=limit)
        return outcome.from_command_line(out, dry_run=request.dry_run)

    def rehearse(self, method: str, *args: str) -> None:
        """Fault controls of the embedded lab, run off the UI thread (they may block)."""
        control = getattr(self.rehearsal, method, None)
        label = f"{method.replace('_', ' ')} {' '.join(args)}"
        if control is None:
            self.notify(f"This lab cannot {label}", severity="error")
            return

        def go() -> None:
            try:
                control(*args)
            except (LookupError, RuntimeError, TimeoutError, OSError) as exc:
                self.call_from_thread(self.notify, f"rehearsal: cannot {label}: {exc}", severity="error")
                return
            self.call_from_thread(self.notify, f"rehearsal: {label}")
            self.call_from_thread(self.record, [Event(self.clock(), "lab", f"rehearsal: {label}", "warning")])

        self.run_worker(go, thread=True, group="rehearsal", exit_on_error=False, name=label)

    # -- conventions ---------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        from ldtui.widgets.tables import KeyedTable

        from ldtui.screens.dialogs import ConfirmDialog

        sections = [("console", list(self.BINDINGS)), ("main screen", list(MainScreen.BINDINGS)),
                    ("tables", list(KeyedTable.BINDINGS)), ("confirmations", list(ConfirmDialog.BINDINGS))]
        self.push_screen(HelpScreen(sections, rehearsal=self.rehearsal is not None))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("worker %s failed: %r", event.worker.name, error)
            self.notify(f"{event.worker.name}: {describe(error) if error else 'failed'}", severity="error",
                        timeout=8)
