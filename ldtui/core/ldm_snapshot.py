"""A host's snapshot built from what its ``ldm`` prints, for hosts the console reaches
through Oracle's command line instead of an ``ldtui-rpc`` service.

``ldm`` shows a migration only while it runs (``list -o status``: operation, percent,
peer host). :class:`JobTracker` remembers each one across polls, so the jobs view keeps it
once it is over, and reads how it ended from where the domain is afterwards: on the source,
a domain that is gone moved and one that is still there did not; on the target, the other
way round. Figures ``ldm`` does not print (rates, bytes, phases) stay empty unless the
host adds them, as our own ``ldmd`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from ldtui.core.ldm_output import Devices, DomainStatus, ListedDomain
from ldtui.core.migration.phase import MigrationPhase
from ldtui.core.model import MigrationRole
from ldtui.core.snapshot import DomainRow, HostSnapshot, MigrationProgress

UNREPORTED = ("processor", "incoming")
"""What a host reached through ``ldm`` alone never tells the console (``HostSnapshot.unreported``):
its processor and clock, and whether it takes incoming migrations."""
JOB_DETAIL = "job-detail"
"""Also unreported while no running migration's status row carries its phase and bytes
(Oracle's ``ldm`` prints only the percent; our ``ldmd`` prints them all)."""

HISTORY = 50
"""Finished migrations kept per host."""

GUESSED = "; ldm does not say why (see the migrate command's output)"
"""How the reason of an end read from where the domain is ends."""

_PHASES = {p.label: p.value for p in MigrationPhase}


def _int(fields: Mapping[str, str], key: str) -> int:
    try:
        return int(float(fields.get(key, "") or 0))
    except ValueError:
        return 0


def _float(fields: Mapping[str, str], key: str) -> float:
    try:
        return float(fields.get(key, "") or 0)
    except ValueError:
        return 0.0


def job_id(source_host: str, target_host: str, domain: str) -> str:
    """One migration's id as both its hosts' listings lead to it: the domain keeps its name
    on the target unless the operator gave it another."""
    return f"ldm:{source_host}>{target_host}:{domain}"


def progress_of(hostname: str, status: DomainStatus, flags: str, *, started: float) -> MigrationProgress:
    """A running migration as one host's ``list -o status`` row and flags show it."""
    letter = flags[5:6]
    target_side = letter == MigrationRole.TARGET.value or (bool(status.source) and not status.target)
    peer = status.source if target_side else status.target
    src, dst = (peer, hostname) if target_side else (hostname, peer)
    f = status.fields
    phase_name = f.get("phase", "")
    error = status.error or letter == MigrationRole.ERROR.value
    return MigrationProgress(
        id=job_id(src, dst, status.domain), role="target" if target_side else "source", domain=status.domain,
        peer_host=peer, peer_domain=status.domain, phase=_PHASES.get(phase_name, 0), phase_name=phase_name,
        progress=status.progress, state="error" if error else "running", live=f.get("mode") == "live",
        bytes_total=_int(f, "total"), bytes_sent=_int(f, "processed"), bytes_remaining=_int(f, "remaining"),
        bytes_on_wire=_int(f, "wire"), rate=_float(f, "rate"), dirty_rate=_float(f, "dirty-rate"),
        iteration=_int(f, "iteration"), expected_downtime_ms=_float(f, "expected-downtime"),
        throttle=_int(f, "throttle"), zero_pages=_int(f, "zero-pages"), started=started,
        transport=f.get("transport", ""), streams=_int(f, "streams"), wire_rate=_float(f, "wire-rate"),
        bandwidth_cap=_int(f, "cap"), reason=f.get("reason", ""))


def _ended(job: MigrationProgress, names: set[str], now: float,
           told: tuple[str, str] | None = None) -> MigrationProgress:
    here = job.domain in names
    if job.state == "error":
        # The operator resolved it: destroyed here (the target had it), or restored.
        moved = not here
    else:
        moved = not here if job.role == "source" else here
    if moved:
        return attrs.evolve(job, state="completed", progress=100, finished=now, reason="")
    if told is not None:
        state, reason = told
        return attrs.evolve(job, state=state, finished=now, reason=reason)
    where = "source" if job.role == "source" else "target"
    reason = (f"{job.domain} is still on the {where}" if job.role == "source"
              else f"{job.domain} did not stay on the target")
    return attrs.evolve(job, state="failed", finished=now, reason=f"{reason}{GUESSED}")


class JobTracker:
    """Migrations one host has shown, across polls: running ones as ``ldm`` shows them,
    finished ones as their end was read (newest last, at most ``HISTORY``)."""

    def __init__(self) -> None:
        self._running: dict[str, MigrationProgress] = {}
        self._started: dict[str, float] = {}
        self._done: list[MigrationProgress] = []
        self._told: dict[str, tuple[str, str]] = {}

    def note_outcome(self, domain: str, state: str, reason: str) -> None:
        """What a command run through this host's link said of the migration of ``domain``
        that it did not complete (``failed`` with ``ldm``'s words, or ``cancelled``): the
        end of that migration reads so instead of from where the domain is. Said after the
        poll that saw it end, it corrects that poll's guess."""
        if not any(j.domain == domain for j in self._running.values()):
            for i in range(len(self._done) - 1, -1, -1):
                job = self._done[i]
                if job.domain == domain:
                    if job.state == "failed" and job.reason.endswith(GUESSED):
                        self._done[i] = attrs.evolve(job, state=state, reason=reason)
                    return
            return
        self._told[domain] = (state, reason)

    def update(self, hostname: str, domains: Sequence[ListedDomain], status: Mapping[str, DomainStatus],
               now: float) -> dict[str, MigrationProgress]:
        """Take one poll; return the running (or error-state) migration of each domain."""
        flags = {d.name: d.flags for d in domains}
        current: dict[str, MigrationProgress] = {}
        for name, st in status.items():
            if st.operation != "migration" or name not in flags:
                continue
            key = self._key(hostname, st, flags[name])
            started = self._started.setdefault(key, now)
            current[key] = progress_of(hostname, st, flags[name], started=started)
        names = set(flags)
        for key, job in self._running.items():
            if key not in current:
                told = self._told.pop(job.domain, None) if job.domain in names else None
                self._done.append(_ended(job, names, now, told))
                self._started.pop(key, None)
        # Words about a migration no longer running here are kept only until the next poll.
        self._told = {d: t for d, t in self._told.items() if any(j.domain == d for j in current.values())}
        del self._done[:-HISTORY]
        self._running = current
        return {job.domain: job for job in current.values()}

    @staticmethod
    def _key(hostname: str, st: DomainStatus, flags: str) -> str:
        return progress_of(hostname, st, flags, started=0.0).id

    @property
    def jobs(self) -> tuple[MigrationProgress, ...]:
        """Finished ones first, then the running ones."""
        return (*self._done, *self._running.values())


def build_snapshot(hostname: str, version: str, domains: Sequence[ListedDomain], devices: Devices,
                   status: Mapping[str, DomainStatus], tracker: JobTracker, now: float) -> HostSnapshot:
    """The snapshot of ``hostname`` from its listings of one poll (``tracker`` keeps its
    migrations from poll to poll)."""
    running = tracker.update(hostname, domains, status, now)
    rows = tuple(DomainRow(name=d.name, state=d.state, flags=d.flags, cons=d.cons, vcpus=d.ncpu, memory=d.memory,
                           util=d.util, uptime=d.uptime, migration=running.get(d.name))
                 for d in domains)
    return HostSnapshot(
        hostname=hostname, processor="", clock_mhz=0, manager_version=version,
        strands_total=devices.strands_total, strands_free=devices.strands_free,
        memory_total=devices.memory_total, memory_free=devices.memory_free,
        maus_total=devices.maus_total, maus_free=devices.maus_free,
        incoming_migration_enabled=True, domains=rows, jobs=tracker.jobs, taken_at=now,
        unreported=UNREPORTED if any("processed" in st.fields for st in status.values()) else (*UNREPORTED, JOB_DETAIL))
