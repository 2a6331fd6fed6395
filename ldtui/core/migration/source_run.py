"""The source host's executor: a SourceMigration applied to a Manager."""

from __future__ import annotations

import itertools
import mmap
import uuid as uuidlib

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.migration import host_ops
from ldtui.core.migration.checks import describe, machine_info, source_unmet
from ldtui.core.migration.events import (
    BeginRound, ExportState, LinkLost, LocalFailure, MarkMigrating, PagesRead, ReadPages, RoundStarted, SetThrottle,
    StateExported, Suspended, SuspendDomain,
)
from ldtui.core.migration.ledger import PageLedger
from ldtui.core.migration.messages import Go, RuntimeImage
from ldtui.core.migration.pageruns import page_runs
from ldtui.core.migration.precopy import DEFAULT_DOWNTIME_MS
from ldtui.core.migration.refusals import being_migrated
from ldtui.core.migration.phase import JournalStep
from ldtui.core.migration.run_common import JOURNAL_SOURCE, Run
from ldtui.core.migration.source import SourceMigration, SourceState
from ldtui.core.model import DomainState, MigrationInfo, MigrationRole
from ldtui.hv.hypervisor import RunState
from ldtui.hv.machine import PAGE_SIZE

BATCH_PAGES = 512
"""Pages per PageBatch (4 MiB before compression): one zstd frame, one data record. What a
migration costs per batch (reading, the engine, the sessions, waking threads) is paid per
batch, so larger batches cost less, up to the size past which nothing more was gained
(docs/PERFORMANCE.md, "Data path")."""
ZERO_PAGE = bytes(PAGE_SIZE)
POOL_BUFFERS = 12
"""Page buffers kept for reuse: the window's batches in flight, the one being read, one spare."""

def new_migration_id() -> str:
    return uuidlib.uuid4().hex[:12]


class SourceRun(Run):
    """Moves domain ``name`` of ``manager`` to ``target_host`` (as ``target_name``).

    Construction refuses at once (LdmError) what no peer needs to be asked about: an
    unknown domain, one already migrating or in the error state, a pending delayed
    reconfiguration here.
    """

    role = JOURNAL_SOURCE
    _FORWARD = (MarkMigrating, SuspendDomain, ExportState, ReadPages, BeginRound, SetThrottle)

    def __init__(self, manager, name: str, *, target_host: str, target_name: str | None = None,
                 user: str, dry_run: bool = False, mig_id: str | None = None,
                 batch_pages: int = BATCH_PAGES, live: bool = False,
                 downtime_limit_ms: float = DEFAULT_DOWNTIME_MS) -> None:
        with manager.locked():
            d = manager.domain(name)
            if d.migration_role is MigrationRole.ERROR:
                raise LdmError("migration-error", f"LDom {name} is in the migration error state; "
                                                  f"run ldm cancel-operation migration {name}")
            if d.migration is not None:
                raise being_migrated(name)
            manager.check_can_migrate(name)
            engine = SourceMigration(mig_id=mig_id or new_migration_id(), machine=machine_info(manager),
                                     domain=describe(d), target_host=target_host,
                                     target_name=target_name or name, user=user, dry_run=dry_run,
                                     source_unmet=source_unmet(manager, d), live=live,
                                     downtime_limit_ms=downtime_limit_ms)
        super().__init__(manager, engine, engine.mig_id)
        self.name = name
        # The domain is held from the moment its migration is accepted, not only from
        # phase 2, so nothing changes it (or starts a second migration of it) while the
        # target runs its checks. A dry run holds nothing.
        if not dry_run:
            self._hold()
        self.uuid = d.uuid
        self.was_active = d.state is DomainState.ACTIVE
        self._strands = tuple(d.bindings.strands) if d.bindings else ()
        self._reserved = tuple(d.bindings.reserved_strands) if d.bindings else ()
        self._journal_name = name
        self.batch_pages = batch_pages
        self._pending_read = False
        self.reuse_buffers = False
        """Read pages into pooled buffers (the transport then calls :meth:`release_pages`
        for every batch once it has left); otherwise each batch owns fresh bytes."""
        self._pool: list[mmap.mmap] = []
        self._owned: dict[int, mmap.mmap] = {}
        self._runs = iter(())
        self._ledger: PageLedger | None = None
        self._full_round = False
        self._found = 0
        self.zero_pages = 0
        """Pages of the domain's memory never sent because they read as zeros."""
        self._suspended_at = 0.0
        self._resumed_at = 0.0
        self.jobs.runs[name] = self
        self.jobs.begin(mig_id=self.mig_id, role="source", domain=name, peer_host=target_host,
                        peer_domain=engine.target_name, live=engine.live and self.was_active)

    # -- driving ---------------------------------------------------------------------------
    def start(self) -> list:
        with self.manager.locked():
            return self._run(self.engine.start())

    def abandon(self, lines: tuple[str, ...]) -> None:
        """The target could not even be reached: end without a word exchanged."""
        with self.manager.locked():
            self._run(self.engine.handle(LinkLost()))
        self.outcome = attrs.evolve(self.outcome, lines=tuple(lines))

    @property
    def wants_pages(self) -> bool:
        """A batch of pages is due: call :meth:`pump` when the link can take it."""
        return self._pending_read and not self.finished

    def pump(self) -> list:
        """Read the due batch and hand it to the engine: :meth:`read_next` then :meth:`feed`."""
        if not self.wants_pages:
            return []
        return self.feed(self.read_next())

    def read_next(self):
        """Read the due batch of pages; returns the event for :meth:`feed`. Safe to call from
        a worker thread (the manager's lock keeps the guest's writes and the dirty log still
        while a batch is read), so reading overlaps sending the previous batch."""
        with self.manager.locked():
            self._pending_read = False
            return self._perform_read()

    def feed(self, event) -> list:
        out = super().feed(event)
        if isinstance(event, PagesRead):
            self._publish()
        return out

    def _publish(self) -> None:
        """The detail of ``virsh domjobinfo`` for the jobs view and ``-o status``."""
        e = self.engine
        c = e.convergence
        self.jobs.update(self.mig_id, bytes_sent=e.pages_sent * PAGE_SIZE,
                         bytes_total=(e.pages_sent + e.pages_remaining) * PAGE_SIZE,
                         iteration=e.round, dirty_rate=c.dirty_rate if e.live else 0.0,
                         expected_downtime_ms=c.expected_downtime_ms if e.live else 0.0,
                         throttle=c.throttle, zero_pages=self.zero_pages,
                         round_bytes=tuple(pages * PAGE_SIZE for pages in e.round_pages),
                         suspended_round=e.suspended_round)

    def journal_extra(self) -> dict:
        return {"uuid": self.uuid, "strands": list(self._strands), "reserved": list(self._reserved),
                "mig_id": self.mig_id}

    def _info(self, role=MigrationRole.SOURCE) -> MigrationInfo:
        job = self.jobs.get(self.mig_id)
        return MigrationInfo(id=self.mig_id, role=role, peer_host=self.engine.target_host,
                             peer_domain=self.engine.target_name, progress=self.engine.progress,
                             live=bool(job and job.live), started=job.started if job else 0.0,
                             bytes_sent=job.bytes_sent if job else 0, bytes_total=job.bytes_total if job else 0)

    # -- phase 2 ---------------------------------------------------------------------------
    def _do_MarkMigrating(self, a):
        self._hold()
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
            hv.shrink_vcpus(uuid, rt.strands[:1])  # CPU DR: the guest may refuse
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
        # Warm: every page that may hold data (holes are never read; their extents bound the
        # non-zero pages from above). Live: what the guest dirtied since the last round.
        total = mem.dirty_count if self.engine.live else sum(count for _, count in mem.data_extents())
        self.jobs.update(self.mig_id, bytes_total=(self.engine.pages_sent + total) * PAGE_SIZE)
        return StateExported(RuntimeImage.from_runtime(state, total_pages=total))

    def _do_SetThrottle(self, a: SetThrottle):
        self.manager.hv.set_throttle(self.uuid, a.percent)

    def _do_BeginRound(self, a: BeginRound):
        mem = self.manager.hv.memory(self.uuid)
        if a.round == 0:
            # The first copy: every data extent; the dirty log starts afresh, so whatever
            # the guest writes from here on is sent again in a later round.
            mem.clear_dirty()
            self._ledger = PageLedger(mem.pages)
            extents = list(mem.data_extents())
            self._runs = self._chunks(extents)
            self._full_round = True
            self._found = 0
            planned = sum(count for _, count in extents)
        else:
            pages = mem.drain_dirty()
            self._runs = self._chunks(page_runs(pages))
            self._full_round = False
            planned = len(pages)
        self.jobs.update(self.mig_id, bytes_total=(self.engine.pages_sent + planned) * PAGE_SIZE,
                         iteration=a.round if self.engine.live else 0)
        return RoundStarted(planned, at=self.manager.clock())

    def _chunks(self, runs):
        """(first, count) runs cut to at most a batch each."""
        for first, count in runs:
            done = 0
            while done < count:
                n = min(self.batch_pages, count - done)
                yield first + done, n
                done += n

    def _do_ReadPages(self, a):
        self._pending_read = True

    def _perform_read(self):
        try:
            return self._read_batch()
        except (OSError, ValueError, IndexError) as e:
            return LocalFailure(f"Unable to read the memory of LDom {self.name}: {e}")

    def _read_batch(self) -> PagesRead:
        """Up to a batch of pages: one large read per run, zero pages picked out.

        With :attr:`reuse_buffers` the runs are read into one buffer of a small pool, the
        non-zero pages packed to its front in page order, so the batch's data is a view of
        that buffer — nothing allocated, nothing joined; :meth:`release_pages` gives the
        buffer back once the batch has left."""
        mem = self.manager.hv.memory(self.uuid)
        buf = self._take_buffer() if self.reuse_buffers else None
        numbers: list[int] = []
        parts: list = []
        zeros: list[int] = []
        filled = 0
        for first, n in self._runs:
            room = self.batch_pages - len(numbers)
            split = n > room
            if split:
                # Never more than a batch of pages in one message: the rest of the run
                # starts the next batch (the record size on the data streams is bounded).
                self._runs = itertools.chain([(first + room, n - room)], self._runs)
                n = room
            if buf is not None:
                block, base = buf, filled
                mem.read_into(first, n, memoryview(buf)[base:base + n * PAGE_SIZE])
            else:
                block, base = mem.read_pages(first, n), 0
            # A page compare stops at its first non-zero byte: far cheaper than one
            # substring search for a zero page in the block.
            if buf is not None:
                nonzero = [k for k in range(n)
                           if buf.find(ZERO_PAGE, base + k * PAGE_SIZE, base + (k + 1) * PAGE_SIZE) < 0]
            else:
                nonzero = [k for k in range(n) if not block.startswith(ZERO_PAGE, k * PAGE_SIZE)]
            if len(nonzero) != n and not self._full_round:
                # A page that held data and reads as zeros now: the target must know.
                kept = set(nonzero)
                zeros.extend(first + k for k in range(n) if k not in kept)
            if buf is not None:
                if len(nonzero) != n:
                    # Pack the non-zero pages down over the zero ones (never overlapping).
                    for i, k in enumerate(nonzero):
                        if i != k:
                            dst, src = base + i * PAGE_SIZE, base + k * PAGE_SIZE
                            buf[dst:dst + PAGE_SIZE] = memoryview(buf)[src:src + PAGE_SIZE]
                numbers.extend(first + k for k in nonzero)
                filled += len(nonzero) * PAGE_SIZE
            elif len(nonzero) == n:
                numbers.extend(range(first, first + n))
                parts.append(block)
            else:
                view = memoryview(block)
                for k in nonzero:
                    numbers.append(first + k)
                    parts.append(view[k * PAGE_SIZE:(k + 1) * PAGE_SIZE])
            if split or len(numbers) >= self.batch_pages or len(zeros) >= self.batch_pages:
                break
        else:
            last = not ((numbers or zeros) and self._live_running())
            # Pre-copy: the round's end comes as an empty batch of its own, so the
            # transport can let the target catch up before the engine decides.
            return self._batch(numbers, parts, zeros, last=last, buf=buf, filled=filled)
        return self._batch(numbers, parts, zeros, last=False, buf=buf, filled=filled)

    # -- the pool of page buffers ------------------------------------------------------------
    def _take_buffer(self) -> mmap.mmap:
        # Anonymous mappings, not heap memory: when the migration is over they go back to
        # the system whole, where large heap blocks freed and taken again left each
        # ldmd's resident memory a little larger after every migration.
        try:
            return self._pool.pop()
        except IndexError:
            buf = mmap.mmap(-1, self.batch_pages * PAGE_SIZE)
            self._owned[id(buf)] = buf
            return buf

    def release_pages(self, data) -> None:
        """The batch whose pages are ``data`` has left: its buffer may be read into again.
        Safe from any thread; data that is not one of this run's buffers is ignored."""
        buf = data.obj if isinstance(data, memoryview) else None
        if buf is not None and self._owned.get(id(buf)) is buf:
            if len(self._pool) < POOL_BUFFERS:
                self._pool.append(buf)
            else:
                del self._owned[id(buf)]

    def _live_running(self) -> bool:
        return self.engine.live and self.manager.hv.get(self.uuid).run_state is RunState.RUNNING

    def ends_precopy_round(self, event) -> bool:
        """``event`` ends a pre-copy round: the engine will decide on the switchover."""
        return isinstance(event, PagesRead) and event.last and self.engine.state is SourceState.PRECOPY

    def refresh_round_end(self, event: PagesRead) -> PagesRead:
        """The round's end, measured now (the transport waited for the target to catch up)."""
        with self.manager.locked():
            if not self.manager.hv.has(self.uuid):
                return event
            return attrs.evolve(event, at=self.manager.clock(),
                                dirty=self.manager.hv.memory(self.uuid).dirty_count)

    def _batch(self, numbers, parts, zeros, *, last: bool, buf=None, filled: int = 0) -> PagesRead:
        # After the reads: a file cut short or removed under them read as zeros, and zeros
        # must never travel as the guest's memory.
        self.manager.hv.memory(self.uuid).check_intact()
        if buf is not None:
            data = memoryview(buf)[:filled]
            if not numbers:
                self.release_pages(data)  # nothing of it travels
        else:
            data = parts[0] if len(parts) == 1 and isinstance(parts[0], bytes) else b"".join(parts)
        ledger = self._ledger
        ledger.set_many(numbers, data, PAGE_SIZE)
        for page in zeros:
            ledger.clear(page)
        mem = self.manager.hv.memory(self.uuid)
        if self._full_round:
            self._found += len(numbers)
            if last:
                self.zero_pages = mem.pages - self._found
        suspended = self.manager.hv.get(self.uuid).run_state is RunState.SUSPENDED
        final = last and suspended
        return PagesRead(numbers=tuple(numbers), data=data, zeros=tuple(zeros), last=last,
                         checksum=ledger.checksum if final else "", nonzero=ledger.count if final else 0,
                         at=self.manager.clock(), dirty=0 if suspended else mem.dirty_count)

    # -- phase 4 and the ways back -----------------------------------------------------------
    def _outgoing(self, message):
        if isinstance(message, Go) and self._suspended_at:
            return attrs.evolve(message, paused_ms=(self.manager.clock() - self._suspended_at) * 1000)
        return message

    def _do_HandOff(self, a):
        if self.was_active and self.manager.hv.has(self.uuid):
            self.manager.hv.hand_off(self.uuid)

    def _do_DestroySource(self, a):
        # The target confirmed it runs the domain: the pause ends here, not after our cleanup.
        self._resumed_at = self.manager.clock()
        host_ops.destroy_source(self.manager, self.name, self.uuid)
        self.journal_delete()
        self._unlock()

    def _do_RollBack(self, a):
        host_ops.restore_source(self.manager, self.name, self.uuid, strands=self._strands,
                                reserved=self._reserved, was_active=self.was_active, reclaim=a.reclaim)
        self.journal_delete()
        self._unlock()

    def _do_EnterErrorState(self, a):
        # Only ever after GO, so everything was sent: the confirmation is what is missing.
        info = attrs.evolve(self._info(), all_sent=True, since=self.manager.clock(), reason=a.reason)
        host_ops.enter_error(self.manager, self.name, self.uuid, info)
        self.journal(JournalStep.ERROR, {"reason": a.reason, "target_host": self.engine.target_host,
                               "target_name": self.engine.target_name,
                               "was_state": "active" if self.was_active else self.engine.domain.state})
        self._unlock()

    def keeps_journal(self, outcome) -> bool:
        return outcome.status == "error"

    def downtime_ms(self) -> float:
        end = self._resumed_at or self.manager.clock()
        return (end - self._suspended_at) * 1000 if self._suspended_at else 0.0
