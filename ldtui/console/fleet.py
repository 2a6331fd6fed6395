"""The console's picture of every host: last snapshot, connection state, staleness, events.

Plain Python with no Textual in it, so what the operator is told about state changes can be
tested without a screen. The console feeds it snapshots and failures; it answers with the
events worth a line in the event log: every state change seen between snapshots, every
connection change, so no failure goes without a clear message.
"""

from __future__ import annotations

import time

import attrs

from ldtui.core.model import MigrationRole
from ldtui.core.snapshot import DomainRow, HostSnapshot, MigrationProgress
from ldtui.console.job_history import RateHistory


@attrs.frozen
class Event:
    """One line of the event log."""

    when: float
    host: str
    text: str
    level: str = "info"
    """``info``, ``warning`` or ``error``."""


def clock_text(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


DOWN_WORDS = {
    "refused": "refused", "unresolvable": "unresolvable", "unreachable": "unreachable", "timeout": "no answer",
    "permission-denied": "login refused", "host-key-changed": "host key changed",
    "host-key-unknown": "host key unknown", "host-key": "host key refused", "version": "version mismatch",
    "no-service": "no ldm service", "lost": "connection lost", "connect": "ssh failed",
    "jump-unreachable": "jump unreachable",
}
"""Why a host is down, in the few words the hosts panel has room for."""


def down_code(exc: BaseException | None) -> str:
    """The one-word reason of a failure to reach a host (see ``DOWN_WORDS``)."""
    import socket

    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in DOWN_WORDS:
        return code
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionError):
        return "lost"
    if isinstance(exc, socket.gaierror):
        return "unresolvable"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError):
        return "unreachable"
    return "lost"


@attrs.define
class HostView:
    """One host as the console last saw it.

    ``name`` is what the operator configured (fixed for the life of the console);
    ``hostname`` is what the host calls itself once a snapshot has arrived.
    """

    name: str
    position: int = 0
    """Where the host stands in the configured order (the hosts panel's order)."""
    state: str = "connecting"
    snapshot: HostSnapshot | None = None
    stale_since: float | None = None
    """Set while a host that had answered does not: its rows are the last ones seen."""
    last_error: str = ""
    down_since: float | None = None
    down_code: str = ""
    """Why it is down, in one word (``DOWN_WORDS``)."""
    path: str = ""
    """How the console reaches it: ``direct``, ``via bastion``… (empty: direct)."""

    @property
    def down_reason(self) -> str:
        return DOWN_WORDS.get(self.down_code, "unreachable") if self.down_since is not None else ""

    @property
    def hostname(self) -> str:
        return self.snapshot.hostname if self.snapshot else self.name

    @property
    def stale(self) -> bool:
        return self.stale_since is not None

    def domain(self, name: str) -> DomainRow | None:
        if self.snapshot is None:
            return None
        return next((d for d in self.snapshot.domains if d.name == name), None)


def _job_key(job: MigrationProgress) -> str:
    return job.id


class Fleet:
    """Every host, in the order they were configured, plus the migration history."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        self.hosts: dict[str, HostView] = {}
        self.jobs: dict[str, MigrationProgress] = {}
        """Every migration seen, newest data wins; a job seen from its source is kept over
        the target's view because the source decides how it ends (only the host that started a
        migration can cancel it)."""
        self.job_hosts: dict[str, str] = {}
        """Which host reported each job in ``jobs``."""
        self.history = RateHistory()
        """Each running job's rate and dirty rate over time, as this console saw them."""
        for name in names:
            self.add(name)

    def add(self, name: str) -> HostView:
        view = self.hosts.get(name)
        if view is None:
            view = self.hosts[name] = HostView(name, position=len(self.hosts))
        return view

    def by_hostname(self, hostname: str) -> HostView | None:
        for view in self.hosts.values():
            if view.hostname == hostname or view.name == hostname:
                return view
        return None

    def connected(self) -> list[HostView]:
        return [v for v in self.hosts.values() if v.state == "connected" and not v.stale]

    # -- feeding -------------------------------------------------------------------------

    def mark_down(self, name: str, now: float, reason: str, code: str = "") -> list[Event]:
        """The host could not be reached: keep its rows (stale from now, if it had answered
        before) and say why; a new reason while it stays down is news too."""
        view = self.add(name)
        code = code if code in DOWN_WORDS else "unreachable"
        events: list[Event] = []
        if view.down_since is None or view.down_code != code:
            what = DOWN_WORDS[code] if view.down_since is None else f"now {DOWN_WORDS[code]}"
            text = f"down ({what})" + (f": {reason}" if reason else "")
            events.append(Event(now, view.hostname, text, "error"))
        if view.down_since is None:
            view.down_since = now
        if view.snapshot is not None and view.stale_since is None:
            view.stale_since = now
        view.state = "down"
        view.down_code = code
        view.last_error = reason
        return events

    def apply(self, name: str, snap: HostSnapshot, now: float) -> list[Event]:
        """Take a new snapshot and return what changed since the previous one."""
        view = self.add(name)
        events: list[Event] = []
        if view.stale_since is not None:
            events.append(Event(now, snap.hostname, "reachable again"))
        if view.state != "connected":
            if view.stale_since is None:
                events.append(Event(now, snap.hostname, "connected"))
            view.state = "connected"
        old = view.snapshot
        view.snapshot = snap
        view.stale_since = None
        view.down_since = None
        view.down_code = ""
        view.last_error = ""
        if old is not None:
            events.extend(domain_changes(old, snap, now))
        for job in snap.jobs:
            events.extend(self._note_job(snap.hostname, job, now))
        return events

    def _note_job(self, hostname: str, job: MigrationProgress, now: float) -> list[Event]:
        key = _job_key(job)
        before = self.jobs.get(key)
        if before is not None and before.role == "source" and job.role != "source":
            return []
        self.jobs[key] = job
        self.job_hosts[key] = hostname
        self.history.note(job, now)
        if before is None:
            verb = "to" if job.role == "source" else "from"
            return [Event(now, hostname, f"migration of {job.domain} {verb} {job.peer_host}: {job.state}")]
        if before.state != job.state:
            level = {"failed": "error", "error": "error", "cancelled": "warning"}.get(job.state, "info")
            why = f" ({job.reason})" if job.reason else ""
            return [Event(now, hostname, f"migration of {job.domain}: {job.state}{why}", level)]
        if before.phase != job.phase and job.state == "running":
            return [Event(now, hostname, f"migration of {job.domain}: phase {job.phase} {job.phase_name}")]
        return []


def domain_changes(old: HostSnapshot, new: HostSnapshot, now: float) -> list[Event]:
    """Domains added, removed, or changed state/flags between two snapshots of one host."""
    host = new.hostname
    before = {d.name: d for d in old.domains}
    after = {d.name: d for d in new.domains}
    events: list[Event] = []
    for name, row in after.items():
        prev = before.get(name)
        if prev is None:
            events.append(Event(now, host, f"{name}: appeared ({row.state}, {row.flags})"))
            continue
        if prev.state != row.state:
            events.append(Event(now, host, f"{name}: {prev.state} → {row.state}"))
        if prev.flags != row.flags:
            level = "error" if row.migration_role is MigrationRole.ERROR else "info"
            events.append(Event(now, host, f"{name}: flags {prev.flags} → {row.flags}", level))
    for name in before.keys() - after.keys():
        events.append(Event(now, host, f"{name}: removed"))
    return events
