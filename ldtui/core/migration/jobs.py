"""The migrations a host runs or ran recently, as consoles see them.

One ``Jobs`` per manager; it plugs itself into ``manager.job_provider`` so that
``Manager.snapshot()`` carries every migration's phase, progress, bytes and rate. Finished
migrations are kept in the host's store, so the history (and each domain's last migration,
``ldm list -o status --completed``) survives a restart of the manager.
"""

from __future__ import annotations

import threading

import attrs
import cattrs

from ldtui.core.migration.phase import PHASE_NAMES, MigrationPhase
from ldtui.core.snapshot import MigrationProgress
from ldtui.core.store import converter

HISTORY = 20
"""Finished migrations kept for the jobs view, newest last."""
HISTORY_SEARCHED = 200


class Jobs:
    """Thread-safe: the manager's thread reads while a migration's thread writes."""

    def __init__(self, clock, store=None) -> None:
        self.clock = clock
        self.store = store
        self._lock = threading.Lock()
        self._running: dict[str, MigrationProgress] = {}
        self._done: list[MigrationProgress] = []
        if store is not None:
            for doc in store.migrations(HISTORY):
                try:
                    self._done.append(converter.structure(doc, MigrationProgress))
                except (TypeError, ValueError, KeyError, cattrs.BaseValidationError):
                    continue  # a record this version cannot read is history, not configuration
        self._rate_mark: dict[str, tuple[float, int, int]] = {}
        self.runs: dict[str, object] = {}
        """Running executors by this host's domain name, for cancel-operation."""

    def __call__(self) -> tuple[MigrationProgress, ...]:
        with self._lock:
            return tuple(self._done) + tuple(self._running.values())

    def begin(self, *, mig_id: str, role: str, domain: str, peer_host: str, peer_domain: str,
              live: bool = False) -> None:
        now = self.clock()
        with self._lock:
            self._running[mig_id] = MigrationProgress(
                id=mig_id, role=role, domain=domain, peer_host=peer_host, peer_domain=peer_domain,
                phase=MigrationPhase.CHECK.value, phase_name=MigrationPhase.CHECK.label, progress=0,
                state="running", started=now, live=live)
            self._rate_mark[mig_id] = (now, 0, 0)

    def get(self, mig_id: str) -> MigrationProgress | None:
        with self._lock:
            return self._running.get(mig_id) or next((j for j in self._done if j.id == mig_id), None)

    def update(self, mig_id: str, *, phase: int | None = None, progress: int | None = None,
               bytes_total: int | None = None, bytes_sent: int | None = None, wire: int = 0,
               domain: str | None = None, live: bool | None = None, **detail) -> None:
        """``detail``: iteration, dirty_rate, expected_downtime_ms, throttle, zero_pages,
        bandwidth_cap; ``wire``: bytes that went on the wire since the last update."""
        now = self.clock()
        with self._lock:
            job = self._running.get(mig_id)
            if job is None:
                return
            changes: dict = {}
            if phase is not None and phase >= job.phase:
                changes.update(phase=phase, phase_name=PHASE_NAMES.get(phase, str(phase)))
            if progress is not None:
                changes["progress"] = max(job.progress, min(progress, 100))  # monotonic, always
            if domain is not None:
                changes["domain"] = domain
            if live is not None:
                changes["live"] = live
            changes.update(detail)
            total = job.bytes_total if bytes_total is None else bytes_total
            sent = job.bytes_sent if bytes_sent is None else bytes_sent
            total = max(total, sent)
            on_wire = job.bytes_on_wire + wire
            changes.update(bytes_total=total, bytes_sent=sent, bytes_remaining=max(total - sent, 0),
                           bytes_on_wire=on_wire)
            mark_t, mark_b, mark_w = self._rate_mark.get(mig_id, (now, 0, 0))
            if now - mark_t >= 1.0:
                changes["rate"] = (sent - mark_b) / (now - mark_t)
                changes["wire_rate"] = (on_wire - mark_w) / (now - mark_t)
                self._rate_mark[mig_id] = (now, sent, on_wire)
            elif now > job.started:
                if not job.rate and sent:
                    changes["rate"] = sent / (now - job.started)
                if not job.wire_rate and on_wire:
                    changes["wire_rate"] = on_wire / (now - job.started)
            self._running[mig_id] = attrs.evolve(job, **changes)

    def finish(self, mig_id: str, state: str, reason: str = "", downtime_ms: float = 0.0) -> None:
        now = self.clock()
        with self._lock:
            job = self._running.pop(mig_id, None)
            self._rate_mark.pop(mig_id, None)
            if job is None:
                return
            extra = {"progress": 100} if state == "completed" else {}
            if now > job.started and job.bytes_sent:
                extra["rate"] = job.bytes_sent / (now - job.started)  # the average, once it is over
            if now > job.started and job.bytes_on_wire:
                extra["wire_rate"] = job.bytes_on_wire / (now - job.started)
            done = attrs.evolve(job, state=state, reason=reason, finished=now, downtime_ms=downtime_ms, **extra)
            self._done.append(done)
            del self._done[:-HISTORY]
            self._keep(done)

    def settle(self, mig_id: str, state: str, reason: str, *, otherwise: MigrationProgress | None = None) -> None:
        """Change how a finished migration ended: one in the error state was settled by the
        operator (the target ran it, or the source was restored), or a restart found it
        after GO. ``otherwise`` is recorded when this host has no record of it yet."""
        with self._lock:
            for i, job in enumerate(self._done):
                if job.id == mig_id:
                    self._done[i] = attrs.evolve(job, state=state, reason=reason)
                    self._keep(self._done[i])
                    return
            doc = None
            if self.store is not None:
                doc = next((d for d in self.store.migrations(HISTORY_SEARCHED) if d.get("id") == mig_id), None)
            if doc is not None:
                self._keep(attrs.evolve(converter.structure(doc, MigrationProgress), state=state, reason=reason))
            elif otherwise is not None:
                job = attrs.evolve(otherwise, state=state, reason=reason)
                self._done.append(job)
                del self._done[:-HISTORY]
                self._keep(job)

    def last(self, domain: str) -> MigrationProgress | None:
        """The newest finished migration of ``domain`` on this host."""
        with self._lock:
            if self.store is None:
                return next((j for j in reversed(self._done) if j.domain == domain), None)
            doc = self.store.last_migration(domain)
        return converter.structure(doc, MigrationProgress) if doc else None

    def finished_domains(self) -> list[str]:
        """Names (newest first) with a finished migration on record here."""
        with self._lock:
            if self.store is None:
                return list(dict.fromkeys(j.domain for j in reversed(self._done)))
            return self.store.migrated_domains()

    def _keep(self, job: MigrationProgress) -> None:
        if self.store is not None:
            self.store.migration_write(job.id, job.domain, job.finished, converter.unstructure(job))


def jobs_of(manager) -> Jobs:
    """The manager's ``Jobs``, created and plugged into ``job_provider`` on first use."""
    jobs = getattr(manager, "_migration_jobs", None)
    if jobs is None:
        jobs = Jobs(manager.clock, getattr(manager, "store", None))
        manager._migration_jobs = jobs
        manager.job_provider = jobs
    return jobs
