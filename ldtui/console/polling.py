"""Asking each host for its snapshot about once a second, and telling the fleet what came back."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Mapping, Protocol

from ldtui.console.fleet import Event, Fleet, down_code
from ldtui.console.running import describe
from ldtui.console.source import HostSource
from ldtui.core.snapshot import HostSnapshot

log = logging.getLogger("ldtui.console")


class PollingConsole(Protocol):
    """What the poller needs of the console it feeds (``ldtui.app.LdtuiApp`` has it)."""

    fleet: Fleet
    sources: Mapping[str, HostSource]
    poll_interval: float
    request_timeout: float
    clock: Callable[[], float]

    def record(self, events: list[Event]) -> None: ...

    def refresh_views(self) -> None: ...

    def run_worker(self, work: Any, *, group: str = ..., exit_on_error: bool = ..., name: str = ...) -> Any: ...


class HostPoller:
    """One polling loop per host, each in its own worker, so a slow or dead host never
    blocks another or the screen. A host that stops answering keeps its rows, marked
    stale; every change of its link's state is a line in the event log."""

    def __init__(self, console: PollingConsole) -> None:
        self.console = console
        self._link_states: dict[str, str] = {}

    async def poll(self, name: str, source: HostSource) -> None:
        console = self.console
        # A link that knows how to keep itself up (HostLink.reconnect_forever, with backoff)
        # gets a worker of its own; others are asked to connect again now and then.
        keeper = getattr(source, "reconnect_forever", None)
        if keeper is not None:
            console.run_worker(keeper(), group=f"link:{name}", exit_on_error=False, name=f"link {name}")
        else:
            await self.connect(name, source)
        failures = 0
        while True:
            self.note_link_state(name, source)
            state = getattr(source, "state", "connected")
            if keeper is not None and state != "connected":
                error = getattr(source, "last_error", "")
                if console.fleet.hosts[name].snapshot is not None or (state == "down" and error):
                    console.record(console.fleet.mark_down(name, console.clock(), error or f"link {state}",
                                                           getattr(source, "last_error_code", "") or "lost"))
                    console.refresh_views()
                await asyncio.sleep(console.poll_interval)
                continue
            asked = time.monotonic()
            try:
                snap = await asyncio.wait_for(source.snapshot(), console.request_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                console.record(console.fleet.mark_down(name, console.clock(), describe(exc), down_code(exc)))
                console.refresh_views()
                if keeper is None and failures % 5 == 0:
                    await self.connect(name, source)
                await asyncio.sleep(console.poll_interval)
                continue
            failures = 0
            console.record(console.fleet.apply(name, snap, console.clock()))
            console.refresh_views()
            # A steady cadence: the time the answer took counts toward the interval; while
            # the host runs a migration it is asked twice as often, so its progress reaches
            # the screen well within a second.
            interval = (console.poll_interval / 2 if any(j.state == "running" for j in snap.jobs)
                        else console.poll_interval)
            await asyncio.sleep(max(interval - (time.monotonic() - asked), 0.0))

    async def connect(self, name: str, source: HostSource) -> None:
        console = self.console
        try:
            await asyncio.wait_for(source.connect(), console.request_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: connect failed: %s", name, describe(exc))
            console.record(console.fleet.mark_down(name, console.clock(), describe(exc), down_code(exc)))
            console.refresh_views()

    def note_link_state(self, name: str, source: HostSource) -> None:
        console = self.console
        state = getattr(source, "state", "connected")
        before = self._link_states.get(name)
        if state != before:
            self._link_states[name] = state
            # Until the first snapshot, the fleet's own "connected"/"unreachable" lines say it.
            if before is not None and console.fleet.hosts[name].snapshot is not None:
                console.record([Event(console.clock(), console.fleet.hosts[name].hostname,
                                      f"link {before} → {state}", "warning" if state != "connected" else "info")])

    async def query_host(self, hostname: str) -> HostSnapshot | None:
        """A fresh snapshot of a host by the name others know it by; ``None`` if unreachable."""
        console = self.console
        view = console.fleet.by_hostname(hostname)
        if view is None or view.name not in console.sources:
            return None
        try:
            snap = await asyncio.wait_for(console.sources[view.name].snapshot(), console.request_timeout)
        except Exception as exc:
            console.record(console.fleet.mark_down(view.name, console.clock(), describe(exc), down_code(exc)))
            console.refresh_views()
            return None
        console.record(console.fleet.apply(view.name, snap, console.clock()))
        console.refresh_views()
        return snap
