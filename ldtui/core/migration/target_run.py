"""The target host's executor: a TargetMigration applied to a Manager."""

from __future__ import annotations

import errno
import os

import attrs

from ldtui.core import binding
from ldtui.core.errors import AuthError, LdmError
from ldtui.core.migration import host_ops
from ldtui.core.migration.checks import target_unmet
from ldtui.core.migration.events import (
    Created, CreateReceiving, ImportState, Received, ResumedLocally, ResumeReceived,
    RunChecks, Verified, VerifyDigest, WritePages,
)
from ldtui.core.migration.ledger import PageLedger
from ldtui.core.migration.messages import Go, Offer
from ldtui.core.migration.pageruns import page_runs
from ldtui.core.migration.run_common import JOURNAL_TARGET, Run
from ldtui.core.migration.target import TargetMigration
from ldtui.core.model import WRITE, Bindings, Domain, DomainState, MigrationInfo, MigrationRole
from ldtui.core.store import RESERVE_BYTES
from ldtui.hv.machine import PAGE_SIZE
from ldtui.hv.memory import ZERO_PAGE


class TargetRun(Run):
    """Receives one domain into ``manager``. ``user`` is who the peer link authenticated:
    a migration needs solaris.ldoms.write on the target too."""

    role = JOURNAL_TARGET
    _FORWARD = (RunChecks, CreateReceiving, ImportState, WritePages, VerifyDigest, ResumeReceived)

    def __init__(self, manager, *, user: str | None = None) -> None:
        super().__init__(manager, TargetMigration(), "")
        self.user = user
        self.uuid = ""
        self.was_active = False
        self._received = 0
        self._generation = 0
        self._ledger: PageLedger | None = None
        self._flushed_round = 0
        self._unflushed = 0
        self._go: tuple[float, float] | None = None
        """(when Go arrived here, how long the source had been paused then, in ms)."""
        self._downtime_ms = 0.0
        self._round_pages: list[int] = []
        """Pages received in each round, as the source numbered its rounds."""
        self._suspended_round = -1

    def receive(self, message) -> list:
        """A message from the source; returns the messages to answer with."""
        if isinstance(message, Offer) and not self.mig_id:
            self.mig_id = message.mig_id
            self.name = self._journal_name = message.target_name
            self.uuid = message.domain.uuid
            self.was_active = message.domain.state == "active"
            self.jobs.runs.setdefault(self.name, self)
            self.jobs.begin(mig_id=self.mig_id, role="target", domain=self.name,
                            peer_host=message.source.hostname, peer_domain=message.domain.name,
                            live=message.live and self.was_active)
        if isinstance(message, Go) and self._go is None:
            self._go = (self.manager.clock(), message.paused_ms)
        return self.feed(Received(message))

    def journal_extra(self) -> dict:
        return {"uuid": self.uuid, "mig_id": self.mig_id}

    # -- phase 1 ---------------------------------------------------------------------------
    def _do_RunChecks(self, a: RunChecks):
        done = target_unmet(self.manager, a.offer)
        if self.user is not None and not done.refused:
            try:
                self.manager.authorize(self.user, WRITE)
            except AuthError as e:
                done = attrs.evolve(done, unmet=(e.message,) + done.unmet)
        return done

    # -- phase 2 ---------------------------------------------------------------------------
    def _do_CreateReceiving(self, a: CreateReceiving):
        o = a.offer
        d = o.domain
        m = self.manager.machine
        self._hold()
        with self.manager.store.transaction():
            domains = self.manager.store.domains()
            free = binding.free_resources(m, domains)
            constraints = attrs.evolve(d.constraints)
            bindings = None
            if d.state in ("active", "bound"):
                if d.state == "active":
                    taken, reserved = binding.allocate_strands(m, free.strands, max(d.vcpus, 1), whole_cores=True)
                    # It arrives with the one vCPU it was shrunk to; the rest of its whole
                    # cores stay reserved until it reboots.
                    strands, reserved = taken[:1], taken[1:] + reserved
                    blocks = binding.place_blocks(free.memory, d.blocks)
                    io: tuple[str, ...] = ()
                else:
                    strands, reserved = binding.allocate_strands(m, free.strands, max(d.vcpus, 1))
                    size = constraints.memory_size or sum(b.size for b in d.blocks)
                    blocks = binding.allocate_memory(free.memory, size)
                    io = binding.check_io(m, d.io, binding.bus_owners(domains), self.name)
                maus = self._maus(free, d.maus, strands)
                vcc, port = self._console(domains, d.console_port)
                bindings = Bindings(strands=strands, reserved_strands=reserved, blocks=blocks, maus=maus,
                                    io=io, console_port=port, console_service=vcc)
            if constraints.mblocks:
                # Physical addresses differ on this machine: keep the size, not the old PAs.
                constraints = attrs.evolve(constraints, memory=constraints.memory_size, mblocks=())
            dom = Domain(name=self.name, uuid=d.uuid,
                         state=DomainState.INACTIVE if bindings is None else DomainState.BOUND,
                         constraints=constraints, bindings=bindings,
                         migration=MigrationInfo(id=self.mig_id, role=MigrationRole.TARGET,
                                                 peer_host=o.source.hostname, peer_domain=d.name),
                         mac=d.mac, hostid=d.hostid, started_at=d.started_at, guest=attrs.evolve(d.guest))
            self.manager.store.save_domain(dom)
            if bindings is not None:
                self.manager.hv.create(d.uuid, self.name, bindings.strands, bindings.blocks,
                                       guest=attrs.evolve(d.guest))
        return Created()

    def _maus(self, free, count: int, strands) -> tuple[int, ...]:
        try:
            return binding.allocate_maus(self.manager.machine, free.maus, count, strands)
        except LdmError:
            return ()  # the crypto constraint is kept; it is met again when units are free

    def _console(self, domains, wanted):
        ranges = [(s.name, s.port_start, s.port_end) for s in self.manager.store.services("vcc")]
        used = {x.bindings.console_port for x in domains if x.bindings and x.bindings.console_port is not None}
        try:
            return binding.allocate_console_port(ranges, used, wanted)
        except LdmError:
            return binding.allocate_console_port(ranges, used)

    # -- phase 3 ---------------------------------------------------------------------------
    def _do_ImportState(self, a: ImportState):
        img = a.image
        self._generation = img.generation
        self.manager.hv.import_state(self.uuid, img.to_runtime(self.uuid))
        self.jobs.update(self.mig_id, bytes_total=(self._received + img.total_pages) * PAGE_SIZE)

    def _do_WritePages(self, a: WritePages):
        """Straight into the domain's memory file: one write per run of consecutive pages."""
        b = a.batch
        mem = self.manager.hv.memory(self.uuid)
        if self._ledger is None:
            self._ledger = PageLedger(mem.pages)
        if b.round > self._flushed_round:
            # A new pre-copy round: commit the earlier ones to the memory file now, while
            # the source still runs, so the flushes after its suspend find little to do.
            mem.flush()
            self._flushed_round = b.round
            self._unflushed = 0
        numbers, data = b.numbers, memoryview(b.data)
        _ensure_room(mem.path, len(data))
        if len(data) != len(numbers) * PAGE_SIZE:
            raise ValueError(f"a batch of {len(numbers)} pages carries {len(data)} bytes")
        at = 0
        for first, count in page_runs(numbers):
            mem.write_pages(first, data[at * PAGE_SIZE:(at + count) * PAGE_SIZE], track=False)
            at += count
        for page in b.zeros:
            mem.write_page(page, ZERO_PAGE, track=False)
            self._ledger.clear(page)
        self._ledger.set_many(numbers, data, PAGE_SIZE)
        self._unflushed += len(numbers) + len(b.zeros)
        self._received += len(numbers)
        rounds = self._round_pages
        rounds.extend(0 for _ in range(b.round + 1 - len(rounds)))
        rounds[b.round] += len(numbers)
        if self.engine.image_seen:
            # Pre-copy rounds are all in before the source suspends (it drains the link
            # before it decides to): what follows the runtime image is the final round.
            self._suspended_round = b.round
        self.jobs.update(self.mig_id, bytes_sent=self._received * PAGE_SIZE,
                         bytes_total=max(b.total, b.sent) * PAGE_SIZE, iteration=b.round,
                         round_bytes=tuple(pages * PAGE_SIZE for pages in rounds),
                         suspended_round=self._suspended_round)

    def flush_precopy(self) -> None:
        """Live, while the source still runs: commit the pages written so far to the memory
        file (a flush costs time per GiB written, even on tmpfs), so the flushes after the source's
        suspend find little left. The transport calls it whenever it has caught up with
        the link, before it acknowledges — the source decides on the switchover after that."""
        with self.manager.locked():
            if not (self._unflushed and self.offer_live and self.engine.receiving
                    and not self.engine.image_seen and self.manager.hv.has(self.uuid)):
                return
            self.manager.hv.memory(self.uuid).flush()
            self._unflushed = 0

    @property
    def offer_live(self) -> bool:
        return bool(self.engine.offer and self.engine.offer.live)

    def _do_VerifyDigest(self, a: VerifyDigest):
        if not self.was_active:
            return Verified(True)
        mem = self.manager.hv.memory(self.uuid)
        mem.flush()
        ledger = self._ledger or PageLedger(0)
        if ledger.count != a.pages or ledger.checksum != a.checksum:
            return Verified(False, f"Memory of LDom {self.name} does not match the source after the transfer")
        return Verified(True)

    # -- phase 4 and the ways back -----------------------------------------------------------
    def _do_ResumeReceived(self, a: ResumeReceived):
        if not host_ops.complete_receiving(self.manager, self.name, self.uuid, was_active=self.was_active):
            raise LdmError("no-such-domain", f"LDom {self.name} disappeared before it could resume")
        if self._go is not None and self.was_active:
            arrived, paused_ms = self._go
            self._downtime_ms = paused_ms + (self.manager.clock() - arrived) * 1000
        return ResumedLocally()

    def _do_RemoveReceiving(self, a):
        host_ops.remove_receiving(self.manager, self.name, self.uuid)
        self.journal_delete()
        self._unlock()

    def downtime_ms(self) -> float:
        return self._downtime_ms


def _ensure_room(path: str, nbytes: int) -> None:
    """Refuse a write that would leave the file system of ``path`` with less than the
    database's reserve: a migration must fail while the host can still record its undoing."""
    try:
        st = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return
    if st.f_bavail * st.f_frsize < nbytes + RESERVE_BYTES:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (the state directory is full)")
