"""The source side of a migration: a state machine whose table is :data:`SourceMigration.TRANSITIONS`.

The commit point is the row ``(AWAITING_READY, Ready) → GO_SENT``: the engine journals
``go_sent``, hands the suspended image off and sends ``Go``. Before it every failure
restores the domain; after it, only the target's ``Resumed`` (destroy our copy) or its
``Abort`` (it gave the image back) ends the migration normally — silence puts the domain
in the error state and leaves the decision to the operator. docs/ENGINE.md shows the table.
"""

from __future__ import annotations

import enum

from ldtui.core.errors import LdmError
from ldtui.core.migration.engine import Engine, Guard, ProtocolError
from ldtui.core.migration.events import (
    BeginRound, Cancel, DestroySource, EnterErrorState, ExportState, HandOff, Journal,
    LinkLost, LocalFailure, MarkMigrating, PagesRead, ReadPages, RollBack, RoundStarted, Send,
    SetThrottle, StateExported, Suspended, SuspendDomain, Timeout,
)
from ldtui.core.migration.messages import (
    Abort, CheckResult, DomainDescription, Go, MachineInfo, Offer, PageBatch, Ready, Resumed,
    TransferDone,
)
from ldtui.core.migration.phase import JournalStep, MigrationPhase
from ldtui.core.migration.precopy import DEFAULT_DOWNTIME_MS, MAX_ROUNDS, Convergence, RoundResult
from ldtui.hv.machine import PAGE_SIZE


def connection_refused_lines(host: str) -> tuple[str, ...]:
    """What an operator sees when the target cannot or will not migrate."""
    return (
        f"Failed to establish connection with ldmd(1m) on target: {host}",
        "Check that the 'ldmd' service is enabled on the target machine and",
        "that the version supports Domain Migration. Check that the 'xmpp_enabled'",
        "and 'incoming_migration_enabled' properties of the 'ldmd' service on",
        "the target machine are set to 'true' using svccfg(1M).",
    )


def unknown_target_lines(host: str, source_host: str, peers, *, config_file: str = "",
                         peers_file: str = "", ssh_config: str = "") -> tuple[str, ...]:
    """What an operator sees when this host has no peer entry for the target: nothing was
    tried, so the hint about the target's manager would mislead."""
    known = ", ".join(sorted(peers))
    where = f"(it knows {known})" if known else "(it knows no other manager)"
    entry = f'{host} = "ADDRESS:PORT"'
    if peers_file:
        how = f"Add {entry} to the [peers] table of {peers_file}, which ldmd re-reads, then try again"
    else:
        config = f" ({config_file})" if config_file else ""
        how = (f"Add {entry} to the [peers] table of the host configuration{config} and restart ldmd, "
               "or give ldmd a --peers file with that table")
    if ssh_config:
        how += f"; or add a Host {host} block (HostName, Port) to {ssh_config}"
    return (f"Target host {host} is not known to the Logical Domains Manager on {source_host} {where}", how)


class SourceState(enum.Enum):
    CHECKING = "checking"
    """The offer is out; the target checks."""
    PREPARING = "preparing"
    """Warm: the domain is locked and being suspended."""
    PRECOPY = "precopy"
    """Live: rounds of pages while the domain runs (until it is suspended)."""
    TRANSFERRING = "transferring"
    """The domain is suspended: its runtime image, then the last pages."""
    AWAITING_READY = "awaiting-ready"
    """Everything was sent; the target verifies its copy."""
    GO_SENT = "go-sent"
    """Past the commit point: the target may be running the domain."""
    COMPLETED = "completed"
    PASSED = "passed"
    """A dry run found nothing in the way."""
    FAILED = "failed"
    REFUSED = "refused"
    """The target takes no incoming migrations at all."""
    CANCELLED = "cancelled"
    ERROR = "error"
    """No word from the target after Go: the domain waits for the operator."""


_S = SourceState
_BEFORE_GO = (_S.CHECKING, _S.PREPARING, _S.PRECOPY, _S.TRANSFERRING, _S.AWAITING_READY)


def _after_check(m: "SourceMigration", msg: CheckResult) -> SourceState:
    if msg.refused:
        return _S.REFUSED
    if m.source_unmet or msg.unmet or not msg.ok:
        return _S.FAILED
    if m.dry_run:
        return _S.PASSED
    if m.active and m.live:
        return _S.PRECOPY
    return _S.PREPARING if m.active else _S.AWAITING_READY


AFTER_CHECK = Guard(_after_check, {
    _S.REFUSED: "the target takes no incoming migrations",
    _S.FAILED: "a requirement of either side is unmet",
    _S.PASSED: "a dry run",
    _S.PRECOPY: "live, and the domain is active",
    _S.PREPARING: "warm, and the domain is active",
    _S.AWAITING_READY: "the domain is bound or inactive: no runtime to send",
})
AFTER_PAGES = Guard(lambda m, ev: _S.AWAITING_READY if ev.last else _S.TRANSFERRING, {
    _S.TRANSFERRING: "more pages follow",
    _S.AWAITING_READY: "the last batch: the target is told the transfer is done",
})


class SourceMigration(Engine):
    """Moves one domain away. Construct, call :meth:`start`, then :meth:`handle` events."""

    TRANSITIONS = {
        **{(s, ev): to for s in _BEFORE_GO
           for ev, to in ((Cancel, _S.CANCELLED), (LinkLost, _S.FAILED), (Timeout, _S.FAILED), (Abort, _S.FAILED))},
        **{(s, LocalFailure): _S.FAILED for s in (_S.PREPARING, _S.PRECOPY, _S.TRANSFERRING)},
        (_S.CHECKING, CheckResult): AFTER_CHECK,
        (_S.PREPARING, Suspended): _S.TRANSFERRING,
        (_S.PRECOPY, RoundStarted): _S.PRECOPY,
        (_S.PRECOPY, PagesRead): _S.PRECOPY,
        (_S.PRECOPY, Suspended): _S.TRANSFERRING,
        (_S.TRANSFERRING, StateExported): _S.TRANSFERRING,
        (_S.TRANSFERRING, RoundStarted): _S.TRANSFERRING,
        (_S.TRANSFERRING, PagesRead): AFTER_PAGES,
        # The commit point: journal go_sent, hand the image off, send Go.
        (_S.AWAITING_READY, Ready): _S.GO_SENT,
        (_S.GO_SENT, Resumed): _S.COMPLETED,
        (_S.GO_SENT, Abort): _S.FAILED,
        (_S.GO_SENT, LinkLost): _S.ERROR,
        (_S.GO_SENT, Timeout): _S.ERROR,
        (_S.GO_SENT, LocalFailure): _S.ERROR,
        (_S.GO_SENT, Cancel): _S.GO_SENT,  # refused: too late
    }
    UNEXPECTED = {**{s: _S.FAILED for s in _BEFORE_GO}, _S.GO_SENT: _S.ERROR}
    PHASE_OF = {
        _S.CHECKING: MigrationPhase.CHECK,
        _S.PREPARING: MigrationPhase.PREPARE,
        _S.PRECOPY: MigrationPhase.TRANSFER,
        _S.TRANSFERRING: MigrationPhase.TRANSFER,
        _S.AWAITING_READY: MigrationPhase.HANDOFF,
        _S.GO_SENT: MigrationPhase.HANDOFF,
    }
    FINAL = frozenset({_S.COMPLETED, _S.PASSED, _S.FAILED, _S.REFUSED, _S.CANCELLED, _S.ERROR})

    def __init__(self, *, mig_id: str, machine: MachineInfo, domain: DomainDescription,
                 target_host: str, target_name: str, user: str, dry_run: bool = False,
                 source_unmet: tuple[str, ...] = (), live: bool = False,
                 downtime_limit_ms: float = DEFAULT_DOWNTIME_MS, max_rounds: int = MAX_ROUNDS) -> None:
        self._begin(_S.CHECKING)
        self.mig_id = mig_id
        self.machine = machine
        self.domain = domain
        self.target_host = target_host
        self.target_name = target_name
        self.user = user
        self.dry_run = dry_run
        self.source_unmet = tuple(source_unmet)
        self._total = 0
        self._sent = 0
        self._digest = ""
        self._started = False
        self._notes: tuple[str, ...] = ()
        self.live = live
        self.convergence = Convergence(downtime_limit_ms=downtime_limit_ms, max_rounds=max_rounds)
        self.round = 0
        """The round being sent: pre-copy rounds 0, 1, …; then the final one after the suspend."""
        self.zero_markers = 0
        self.forced_switchover = False
        self._round_planned = 0
        self._round_sent = 0
        self.round_pages: list[int] = []
        """Non-zero pages sent in each round so far, the round being sent last."""
        self.suspended_round = -1
        """Which of ``round_pages`` is sent with the domain suspended (-1: none yet)."""
        self._round_started = 0.0
        self._dirty = 0

    @property
    def pages_sent(self) -> int:
        """Non-zero pages sent so far, every round counted (a page sent twice counts twice)."""
        return self._sent

    @property
    def pages_remaining(self) -> int:
        """Pages still to send as far as the source knows: the rest of the round, then what
        the guest dirtied meanwhile (live)."""
        if self.state is _S.AWAITING_READY or self.finished:
            return 0
        return max(self._round_planned - self._round_sent, 0) + (self._dirty if self.live else 0)

    @property
    def active(self) -> bool:
        return self.domain.state == "active"

    def start(self) -> list:
        if self._started:
            raise ProtocolError("migration already started")
        self._started = True
        offer = Offer(mig_id=self.mig_id, source=self.machine, domain=self.domain,
                      target_name=self.target_name, user=self.user, dry_run=self.dry_run,
                      source_unmet=self.source_unmet, live=self.live and self.active)
        return [Journal(JournalStep.CHECK, self._doc()), Send(offer)]

    def _doc(self, **extra) -> dict:
        return {"target_host": self.target_host, "target_name": self.target_name,
                "was_state": self.domain.state, **extra}

    # -- the way forward: each handler returns actions; the table moves the state -------------
    def _on_CheckResult(self, msg: CheckResult, to: SourceState) -> list:
        if to is _S.REFUSED:
            return self._finish(to, connection_refused_lines(self.target_host))
        if to is _S.FAILED:
            # The target created nothing: it only does so when every check passed.
            unmet = self.source_unmet + tuple(msg.unmet)
            return self._finish(to, unmet or ("The target machine refused the migration",), notes=msg.notes)
        if to is _S.PASSED:
            return self._finish(to, (), notes=msg.notes)
        self._notes = msg.notes
        actions = [Journal(JournalStep.PREPARE, self._doc()), MarkMigrating()]
        if to is _S.PRECOPY:
            # The domain runs on while its pages go, round after round.
            return actions + [Journal(JournalStep.PRECOPY, self._doc()), BeginRound(0)]
        if to is _S.PREPARING:
            return actions + [SuspendDomain()]
        # A bound or inactive domain carries no runtime: constraints and bindings already
        # travelled in the offer, so the transfer phase is empty.
        return actions + [Send(TransferDone())]

    def _on_Suspended(self, ev: Suspended, to: SourceState) -> list:
        return [Journal(JournalStep.TRANSFER, self._doc(generation=ev.generation)), ExportState()]

    def _on_StateExported(self, ev: StateExported, to: SourceState) -> list:
        self._total = ev.image.total_pages
        # Warm: the one and only round. Live: the final one, the dirty log since the last round.
        return [Send(ev.image), BeginRound(self.round + 1 if self.live else 0)]

    def _on_RoundStarted(self, ev: RoundStarted, to: SourceState) -> list:
        if self.state is _S.TRANSFERRING and self.live:
            self.round += 1
        self._round_planned = ev.pages
        self._round_sent = 0
        self._round_started = ev.at
        self.round_pages.append(0)
        if self.state is _S.TRANSFERRING:
            self.suspended_round = len(self.round_pages) - 1
        return [ReadPages()]

    def _on_PagesRead(self, ev: PagesRead, to: SourceState) -> list:
        actions: list = []
        n = len(ev.numbers)
        if n or ev.zeros:
            self._sent += n
            self._round_sent += n
            if self.round_pages:
                self.round_pages[-1] += n
            self.zero_markers += len(ev.zeros)
            actions.append(Send(PageBatch(numbers=ev.numbers, data=ev.data, zeros=ev.zeros, sent=self._sent,
                                          total=self._sent + self.pages_remaining, round=self.round,
                                          packed=ev.packed, compressed=ev.compressed)))
        if self.live and self.state is _S.PRECOPY:
            self._dirty = ev.dirty
        if not ev.last:
            return actions + self._progress(self._estimate()) + [ReadPages()]
        if self.state is _S.PRECOPY:
            return actions + self._end_of_round(ev)
        self._digest = ev.checksum
        self._dirty = 0
        self._round_planned = self._round_sent
        return actions + self._progress(100) + [Send(TransferDone(checksum=self._digest, pages=ev.nonzero))]

    def _end_of_round(self, ev: PagesRead) -> list:
        decision = self.convergence.after_round(RoundResult(
            round=self.round, sent_bytes=self._round_sent * PAGE_SIZE, seconds=ev.at - self._round_started,
            dirty_bytes=ev.dirty * PAGE_SIZE))
        self._round_planned = self._round_sent
        progress = self._progress(self._estimate())
        if decision.switch_over:
            self.forced_switchover = decision.forced
            return progress + [SuspendDomain()]
        self.round += 1
        throttle = [SetThrottle(decision.throttle)] if decision.throttle else []
        return progress + throttle + [BeginRound(self.round)]

    def _estimate(self) -> int:
        """Headline percentage: what was processed of processed + remaining, held below 100
        until the target has it all (the caller keeps it monotonic)."""
        if self.live:
            done, left = self._sent, self.pages_remaining
        else:
            done, left = self._sent, max(self._total - self._sent, 0)
        return min(done * 100 // max(done + left, 1), 99)

    def _on_Ready(self, msg: Ready, to: SourceState) -> list:
        # The commit point (docs/ENGINE.md): journal first, then give the image away, then GO.
        return [Journal(JournalStep.GO_SENT, self._doc()), HandOff(), Send(Go())]

    def _on_Resumed(self, msg: Resumed, to: SourceState) -> list:
        return [DestroySource(), *self._progress(100)] + self._finish(to, (), notes=self._notes)

    # -- the ways back ---------------------------------------------------------------------
    def _on_Abort(self, msg: Abort, to: SourceState) -> list:
        # After GO an Abort means the target never ran the image and gives it back.
        reclaim = self.state is _S.GO_SENT
        return [RollBack(reclaim=reclaim)] + self._finish(to, (msg.reason,))

    def _on_Cancel(self, ev: Cancel, to: SourceState) -> list:
        if self.state is _S.GO_SENT:
            raise LdmError("cancel-too-late",
                           f"Migration of LDom {self.domain.name} cannot be cancelled: all state was "
                           f"sent and {self.target_host} may already be running it")
        return [Send(Abort(reason="Migration cancelled on the source machine")), RollBack()] + \
            self._finish(to, (f"Migration of LDom {self.domain.name} was cancelled",))

    def _on_LinkLost(self, ev: LinkLost, to: SourceState) -> list:
        if to is _S.ERROR:
            return self._error(f"Lost connection with {self.target_host} before it confirmed the resume "
                               f"of LDom {self.target_name}")
        return [RollBack()] + self._finish(to, (f"Lost connection with the target machine {self.target_host}",))

    def _on_Timeout(self, ev: Timeout, to: SourceState) -> list:
        if to is _S.ERROR:
            return self._error(f"Timed out waiting for {self.target_host} to confirm the resume "
                               f"of LDom {self.target_name}")
        return [Send(Abort(reason="Timed out waiting for the source machine")), RollBack()] + \
            self._finish(to, (f"Timed out waiting for the target machine {self.target_host}",))

    def _on_LocalFailure(self, ev: LocalFailure, to: SourceState) -> list:
        if to is _S.ERROR:
            return self._error(ev.reason)
        return [Send(Abort(reason=ev.reason)), RollBack()] + self._finish(to, (ev.reason,))

    def _on_protocol_error(self, exc: ProtocolError, to: SourceState) -> list:
        if to is _S.ERROR:
            return self._error(f"Protocol error from {self.target_host}: {exc}")
        return [Send(Abort(reason=f"Protocol error: {exc}")), RollBack()] + \
            self._finish(to, (f"Protocol error from {self.target_host}: {exc}",))

    def _error(self, reason: str) -> list:
        return [EnterErrorState(reason), *self._finish(_S.ERROR, (reason,))]
