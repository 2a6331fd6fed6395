"""The source host's executor: a SourceMigration applied to a Manager (SPEC G-3, G-11)."""

from __future__ import annotations

import hashlib
import uuid as uuidlib

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.migration import host_ops
from ldtui.core.migration.checks import describe, machine_info, source_unmet
from ldtui.core.migration.events import (
    ExportState, LinkLost, LocalFailure, MarkMigrating, PagesRead, ReadPages, StateExported, Suspended, SuspendDomain,
)
from ldtui.core.migration.messages import RuntimeImage
from ldtui.core.migration.run_common import JOURNAL_SOURCE, Run
from ldtui.core.migration.source import SourceMigration
from ldtui.core.model import DomainState, MigrationInfo, MigrationRole
from ldtui.hv.hypervisor import RunState
from ldtui.hv.machine import PAGE_SIZE

BATCH_PAGES = 128
"""Pages per PageBatch: 1 MiB before compression, large enough to keep an SSH channel busy."""

JOB_STATE = {"completed": "completed", "passed": "completed", "failed": "failed", "refused": "failed",
             "cancelled": "cancelled", "error": "error"}


def new_migration_id() -> str:
    return uuidlib.uuid4().hex[:12]


class SourceRun(Run):
    """Moves domain ``name`` of ``manager`` to ``target_host`` (as ``target_name``).

    Construction refuses at once (LdmError) what no peer needs to be asked about: an
    unknown domain, one already migrating or in the error state, a pending delayed
    reconfiguration here.
    """

    role = JOURNAL_SOURCE
    _FORWARD = (MarkMigrating, SuspendDomain, ExportState, ReadPages)

    def __init__(self, manager, name: str, *, target_host: str, target_name: str | None = None,
                 user: str, dry_run: bool = False, mig_id: str | None = None,
                 batch_pages: int = BATCH_PAGES) -> None:
        with manager._lock:
            d = manager.domain(name)
            if d.migration_role is MigrationRole.ERROR:
                raise LdmError("migration-error", f"LDom {name} is in the migration error state; "
                                                  f"run ldm cancel-operation migration {name}")
            if d.migration is not None:
                raise LdmError("migrating", f"Operation not allowed: domain {name} is being migrated")
            manager.check_can_migrate(name)
            engine = SourceMigration(mig_id=mig_id or new_migration_id(), machine=machine_info(manager),
                                     domain=describe(d), target_host=target_host,
                                     target_name=target_name or name, user=user, dry_run=dry_run,
                                     source_unmet=source_unmet(manager, d))
        super().__init__(manager, engine, engine.mig_id)
        self.name = name
        self.uuid = d.uuid
        self.was_active = d.state is DomainState.ACTIVE
        self._strands = tuple(d.bindings.strands) if d.bindings else ()
        self._reserved = tuple(d.bindings.reserved_strands) if d.bindings else ()
        self._journal_name = name
        self.batch_pages = batch_pages
        self._locked = False
        self._pending_read = False
        self._pages = None
        self._hash = None
        self._suspended_at = 0.0
        self.jobs.runs[name] = self
        self.jobs.begin(mig_id=self.mig_id, role="source", domain=name, peer_host=target_host,
                        peer_domain=engine.target_name)

    # -- driving ---------------------------------------------------------------------------
    def start(self) -> list:
        with self.manager._lock:
            return self._run(self.engine.start())

    def abandon(self, lines: tuple[str, ...]) -> None:
        """The target could not even be reached: end without a word exchanged."""
        with self.manager._lock:
            self._run(self.engine.handle(LinkLost()))
        self.outcome = attrs.evolve(self.outcome, lines=tuple(lines))

    @property
    def wants_pages(self) -> bool:
        """A batch of pages is due: call :meth:`pump` when the link can take it."""
        return self._pending_read and not self.finished

    def pump(self) -> list:
        if not self.wants_pages:
            return []
        self._pending_read = False
        with self.manager._lock:
            event = self._perform_read()
            return self._run(self.engine.handle(event))

    def journal_extra(self) -> dict:
        return {"uuid": self.uuid, "strands": list(self._strands), "reserved": list(self._reserved),
                "mig_id": self.mig_id}

    def _info(self, role=MigrationRole.SOURCE) -> MigrationInfo:
        return MigrationInfo(id=self.mig_id, role=role, peer_host=self.engine.target_host,
                             peer_domain=self.engine.target_name, progress=self.engine.progress)

    # -- phase 2 ---------------------------------------------------------------------------
    def _do_MarkMigrating(self, a):
        self.manager.begin_migration(self.name, self.mig_id)
        self._locked = True
        with self.manager.store.transaction():
            d = host_ops.find(self.manager, self.name, self.uuid)
            if d is None:
                raise LdmError("no-such-domain", f"LDom {self.name} does not exist")
            d.migration = self._info()
            self.manager.store.save_domain(d)

    def _do_SuspendDomain(self, a):
        hv, uuid = self.manager.hv, self.uuid
        rt = hv.get(uuid)
        if rt.run_state is not RunState.RUNNING:
            raise LdmError("not-running", f"LDom {self.name} is not running")
        if len(rt.strands) > 1:
            hv.shrink_vcpus(uuid, rt.strands[:1])  # CPU DR: the guest may refuse (G-6)
        with self.manager.store.transaction():
            d = host_ops.find(self.manager, self.name, self.uuid)
            b = d.bindings
            # The strands given up stay held (reserved) so a rollback finds them again.
            d.bindings = attrs.evolve(b, strands=b.strands[:1], reserved_strands=b.reserved_strands + b.strands[1:])
            d.state = DomainState.SUSPENDED
            self.manager.store.save_domain(d)
            generation = hv.suspend(uuid)
        self._suspended_at = self.manager.clock()
        return Suspended(generation)

    # -- phase 3 ---------------------------------------------------------------------------
    def _do_ExportState(self, a):
        hv = self.manager.hv
        state = hv.export_state(self.uuid)
        mem = hv.memory(self.uuid)
        # Holes are never read: their extents bound the non-zero pages from above, which
        # is all progress needs; the engine keeps 100 % for the end.
        total = sum(count for _, count in mem.data_extents())
        self._pages = mem.nonzero_pages()
        self._hash = hashlib.blake2b(digest_size=20)  # the same digest as GuestMemory.digest
        self.jobs.update(self.mig_id, bytes_total=total * PAGE_SIZE, bytes_sent=0)
        return StateExported(RuntimeImage(generation=state.generation, regs=state.regs, devices=state.devices,
                                          guest=state.guest, started_at=state.started_at,
                                          vcpus=state.vcpus, total_pages=total))

    def _do_ReadPages(self, a):
        self._pending_read = True

    def _perform_read(self):
        try:
            return self._read_batch()
        except (OSError, ValueError) as e:
            return LocalFailure(f"Unable to read the memory of LDom {self.name}: {e}")

    def _read_batch(self) -> PagesRead:
        batch = []
        for page, data in self._pages:
            self._hash.update(page.to_bytes(8, "big"))
            self._hash.update(data)
            batch.append((page, data))
            if len(batch) >= self.batch_pages:
                return PagesRead(tuple(batch), last=False)
        return PagesRead(tuple(batch), last=True, digest=self._hash.hexdigest())

    def _do_ReportProgress(self, a):
        host_ops.set_progress(self.manager, self.name, self.uuid, a.percent)
        self.jobs.update(self.mig_id, progress=a.percent, bytes_sent=self.engine.pages_sent * PAGE_SIZE)

    # -- phase 4 and the ways back -----------------------------------------------------------
    def _do_HandOff(self, a):
        if self.was_active and self.manager.hv.has(self.uuid):
            self.manager.hv.hand_off(self.uuid)

    def _do_DestroySource(self, a):
        host_ops.destroy_source(self.manager, self.name, self.uuid)
        self.journal_delete()
        self._unlock()

    def _do_RollBack(self, a):
        host_ops.restore_source(self.manager, self.name, self.uuid, strands=self._strands,
                                reserved=self._reserved, was_active=self.was_active, reclaim=a.reclaim)
        self.journal_delete()
        self._unlock()

    def _do_EnterErrorState(self, a):
        host_ops.enter_error(self.manager, self.name, self.uuid, self._info())
        self.journal("error", {"reason": a.reason, "target_host": self.engine.target_host,
                               "target_name": self.engine.target_name,
                               "was_state": "active" if self.was_active else self.engine.domain.state})
        self._unlock()

    def _unlock(self) -> None:
        if self._locked:
            self.manager.end_migration(self.name)
            self._locked = False

    def _finished(self, outcome) -> None:
        if outcome.status != "error":
            self.journal_delete()
        self._unlock()
        if self.jobs.runs.get(self.name) is self:
            del self.jobs.runs[self.name]
        downtime = (self.manager.clock() - self._suspended_at) * 1000 if self._suspended_at else 0.0
        self.jobs.finish(self.mig_id, JOB_STATE[outcome.status], "; ".join(outcome.lines), downtime)
