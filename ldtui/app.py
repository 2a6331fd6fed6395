"""``ldtui``: the console across several hosts (SPEC T-1…T-8).

The app owns one link per host and polls each for a ``HostSnapshot`` about once a second in
its own worker, so a slow or dead host never blocks the screen. A host that stops answering
keeps its rows, marked stale. Every ``ldm`` command the console runs goes through the
link of the host it concerns, exactly as an operator would type it there.
"""

from __future__ import annotations

import asyncio
import gc
import getpass
import logging
import time
from typing import Any, Callable, Mapping

import attrs
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.worker import Worker, WorkerState

from ldtui.console import outcome
from ldtui.core.cmd_migrate import MigrationResult
from ldtui.core.errors import LdmError
from ldtui.core.model import MigrationRole
from ldtui.core.snapshot import HostSnapshot
from ldtui.screens.commands import LdtuiCommands
from ldtui.screens.dialogs import ArmedAfterFirstFrame, MessageDialog
from ldtui.screens.help import HelpScreen
from ldtui.screens.main import MainScreen
from ldtui.screens.migrate import MigrateRequest
from ldtui.widgets.fleet import Event, Fleet, down_code
from ldtui.widgets.source import CommandOutcome, HostSource
from ldtui.widgets.themes import APP_CSS, DEFAULT_THEME, load_settings, save_settings, shipped_themes

log = logging.getLogger("ldtui.console")


@attrs.frozen(kw_only=True)
class OpenedHosts:
    """What opening the hosts produced (the embedded lab, or links to running ldmd's)."""

    sources: Mapping[str, HostSource]
    users: Mapping[str, str] = attrs.Factory(dict)
    passwords: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """Lab credentials the console already holds (host → password of its user), used to
    fill in the migrate form's target password; empty for real hosts."""
    rehearsal: Any = None
    close: Callable[[], None] | None = None


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def failure_title(hostname: str, exc: BaseException) -> str:
    if isinstance(exc, LdmError):
        return f"{hostname} refused the command"
    return f"{hostname} unreachable"


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
        self._link_states: dict[str, str] = {}
        self._cancelling: set[tuple[str, str]] = set()
        """(host, domain) of migrations this console has asked to cancel: the cancel's own
        toast tells the operator, so the migration's end does not toast again."""
        self._redraw_pending = False
        self._heap_frozen = False
        self._after_collection: Callable[[str, dict], None] | None = None
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
        # confirmation was drawn never answers it (T-5).
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
        self.run_worker(self._poll(name, source), group=f"poll:{name}", exit_on_error=False,
                        name=f"poll {name}")
        self.refresh_views()

    async def on_unmount(self) -> None:
        if self._heap_frozen:
            if self._after_collection in gc.callbacks:
                gc.callbacks.remove(self._after_collection)
            gc.unfreeze()
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

    # -- polling -------------------------------------------------------------------------

    async def _poll(self, name: str, source: HostSource) -> None:
        # A link that knows how to keep itself up (HostLink.reconnect_forever, with backoff)
        # gets a worker of its own; others are asked to connect again now and then.
        keeper = getattr(source, "reconnect_forever", None)
        if keeper is not None:
            self.run_worker(keeper(), group=f"link:{name}", exit_on_error=False, name=f"link {name}")
        else:
            await self._connect(name, source)
        failures = 0
        while True:
            self._note_link_state(name, source)
            state = getattr(source, "state", "connected")
            if keeper is not None and state != "connected":
                error = getattr(source, "last_error", "")
                if self.fleet.hosts[name].snapshot is not None or (state == "down" and error):
                    self.record(self.fleet.mark_down(name, self.clock(), error or f"link {state}",
                                                     getattr(source, "last_error_code", "") or "lost"))
                    self.refresh_views()
                await asyncio.sleep(self.poll_interval)
                continue
            asked = time.monotonic()
            try:
                snap = await asyncio.wait_for(source.snapshot(), self.request_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.record(self.fleet.mark_down(name, self.clock(), describe(exc), down_code(exc)))
                self.refresh_views()
                if keeper is None and failures % 5 == 0:
                    await self._connect(name, source)
                await asyncio.sleep(self.poll_interval)
                continue
            failures = 0
            self.record(self.fleet.apply(name, snap, self.clock()))
            self.refresh_views()
            # A steady cadence: the time the answer took counts toward the interval; while
            # the host runs a migration it is asked twice as often, so its progress reaches
            # the screen well within a second.
            interval = self.poll_interval / 2 if any(j.state == "running" for j in snap.jobs) else self.poll_interval
            await asyncio.sleep(max(interval - (time.monotonic() - asked), 0.0))

    async def _connect(self, name: str, source: HostSource) -> None:
        try:
            await asyncio.wait_for(source.connect(), self.request_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: connect failed: %s", name, describe(exc))
            self.record(self.fleet.mark_down(name, self.clock(), describe(exc), down_code(exc)))
            self.refresh_views()

    def _note_link_state(self, name: str, source: HostSource) -> None:
        state = getattr(source, "state", "connected")
        before = self._link_states.get(name)
        if state != before:
            self._link_states[name] = state
            # Until the first snapshot, the fleet's own "connected"/"unreachable" lines say it.
            if before is not None and self.fleet.hosts[name].snapshot is not None:
                self.record([Event(self.clock(), self.fleet.hosts[name].hostname, f"link {before} → {state}",
                                   "warning" if state != "connected" else "info")])

    async def query_host(self, hostname: str) -> HostSnapshot | None:
        """A fresh snapshot of a host by the name others know it by; ``None`` if unreachable."""
        view = self.fleet.by_hostname(hostname)
        if view is None or view.name not in self.sources:
            return None
        try:
            snap = await asyncio.wait_for(self.sources[view.name].snapshot(), self.request_timeout)
        except Exception as exc:
            self.record(self.fleet.mark_down(view.name, self.clock(), describe(exc), down_code(exc)))
            self.refresh_views()
            return None
        self.record(self.fleet.apply(view.name, snap, self.clock()))
        self.refresh_views()
        return snap

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
        """Once every host has answered (or failed to) and its rows are drawn, hand what
        survives the next full garbage collection to the collector's permanent generation
        (``gc.freeze``), so that later full collections no longer walk it.

        The console churns objects (every snapshot's rows, the cells that change), so
        Python runs a full collection every few refreshes, and a full collection walks
        every object alive: with 5000 rows about 360 000 of them, 100–140 ms during which
        nothing else runs, the lab's thread included (bench/scale.py: one refresh in four
        or five took 177–233 ms instead of 75; in the embedded lab 35–65 ms). With the
        start-up state frozen a full collection took 10–15 ms (lab: 7 ms). Freezing right
        after a collection the collector ran anyway adds no pause of its own and freezes
        next to no garbage. Frozen objects are still freed when nothing refers to them any more;
        ``on_unmount`` unfreezes them.
        """
        if self._heap_frozen or not self.fleet.hosts or self._open_hosts_pending():
            return
        if any(view.state == "connecting" for view in self.fleet.hosts.values()):
            return
        self._heap_frozen = True
        loop = asyncio.get_running_loop()
        scheduled = False

        def freeze() -> None:
            if after_collection in gc.callbacks:
                gc.callbacks.remove(after_collection)
                gc.freeze()

        def after_collection(phase: str, info: dict) -> None:
            # Called by the collector in whichever thread set it off (the lab's too).
            nonlocal scheduled
            if phase == "stop" and info.get("generation") == 2 and not scheduled:
                scheduled = True
                try:
                    loop.call_soon_threadsafe(freeze)
                except RuntimeError:  # the console's loop is already closed
                    pass

        self._after_collection = after_collection
        gc.callbacks.append(after_collection)

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
        source = self.sources[name]
        hostname = self.fleet.hosts[name].hostname
        try:
            limit = timeout or self.request_timeout
            # The link's own call timeout must not end a long command before ours does.
            out = await asyncio.wait_for(source.run(argv, password=password, timeout=limit), limit + 5)
        except Exception as exc:
            self.record([Event(self.clock(), hostname, f"ldm {' '.join(argv)}: {describe(exc)}", "error")])
            raise
        if not quiet:
            first = (out.stderr or out.stdout).strip().splitlines()
            summary = f" — {first[0]}" if first and out.exit_code else ""
            self.record([Event(self.clock(), hostname, f"ldm {' '.join(argv)} → exit {out.exit_code}{summary}",
                               "info" if out.exit_code == 0 else "error")])
        return out

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
        """``ldm cancel-operation migration DOMAIN`` on the source host (SPEC T-5). One toast
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


def main(argv: list[str] | None = None) -> int:
    from ldtui.screens.startup import main as start_main

    return start_main(argv)
