"""The source side of a migration as a state machine (SPEC G-3, G-12, G-13).

The commit point is :meth:`SourceMigration._on_Ready`: it journals ``go_sent``, hands the
suspended image off and sends ``Go``. Before that line every failure restores the domain;
after it, only the target's ``Resumed`` (destroy our copy) or its ``Abort`` (it gave the
image back) ends the migration normally — silence puts the domain in the error state and
leaves the decision to the operator.
"""

from __future__ import annotations

import enum

from ldtui.core.errors import LdmError
from ldtui.core.migration.engine import Engine, ProtocolError
from ldtui.core.migration.events import (
    BeginRound, Cancel, DestroySource, EnterErrorState, ExportState, Finished, HandOff, Journal,
    LinkLost, LocalFailure, MarkMigrating, Outcome, PagesRead, ReadPages, ReportProgress, RollBack,
    RoundStarted, Send, SetThrottle, StateExported, Suspended, SuspendDomain, Timeout,
)
from ldtui.core.migration.messages import (
    Abort, CheckResult, DomainDescription, Go, MachineInfo, Offer, PageBatch, Ready, Resumed,
    TransferDone,
)
from ldtui.core.migration.precopy import DEFAULT_DOWNTIME_MS, MAX_ROUNDS, Convergence, RoundResult
from ldtui.hv.machine import PAGE_SIZE


def connection_refused_lines(host: str) -> tuple[str, ...]:
    """What an operator sees when the target cannot or will not migrate (seed example 8-4)."""
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
    tried, so the seed's 8-4 hint (which is about the target's manager) would mislead."""
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
    PREPARING = "preparing"
    PRECOPY = "precopy"
    """Live (B-1): rounds of pages while the domain runs."""
    TRANSFERRING = "transferring"
    AWAITING_READY = "awaiting-ready"
    GO_SENT = "go-sent"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"


_BEFORE_GO = frozenset({Cancel, LinkLost, Timeout, Abort})
_S = SourceState


class SourceMigration(Engine):
    """Moves one domain away. Construct, call :meth:`start`, then :meth:`handle` events."""

    TRANSITIONS = {
        _S.CHECKING: _BEFORE_GO | {CheckResult},
        _S.PREPARING: _BEFORE_GO | {Suspended, LocalFailure},
        _S.PRECOPY: _BEFORE_GO | {RoundStarted, PagesRead, Suspended, LocalFailure},
        _S.TRANSFERRING: _BEFORE_GO | {StateExported, RoundStarted, PagesRead, LocalFailure},
        _S.AWAITING_READY: _BEFORE_GO | {Ready},
        _S.GO_SENT: frozenset({Resumed, Abort, LinkLost, Timeout, Cancel, LocalFailure}),
    }

    def __init__(self, *, mig_id: str, machine: MachineInfo, domain: DomainDescription,
                 target_host: str, target_name: str, user: str, dry_run: bool = False,
                 source_unmet: tuple[str, ...] = (), live: bool = False,
                 downtime_limit_ms: float = DEFAULT_DOWNTIME_MS, max_rounds: int = MAX_ROUNDS) -> None:
        self.mig_id = mig_id
        self.machine = machine
        self.domain = domain
        self.target_host = target_host
        self.target_name = target_name
        self.user = user
        self.dry_run = dry_run
        self.source_unmet = tuple(source_unmet)
        self.state = _S.CHECKING
        self.progress = 0
        self.phase = 1
        self.outcome: Outcome | None = None
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
        return [Journal("check", self._doc()), Send(offer)]

    def _doc(self, **extra) -> dict:
        return {"target_host": self.target_host, "target_name": self.target_name,
                "was_state": self.domain.state, **extra}

    # -- the way forward -------------------------------------------------------------------
    def _on_CheckResult(self, msg: CheckResult) -> list:
        if msg.refused:
            return self._finish("refused", connection_refused_lines(self.target_host))
        unmet = self.source_unmet + tuple(msg.unmet)
        if unmet or not msg.ok:
            # The target created nothing: it only does so when every check passed.
            return self._finish("failed", unmet or ("The target machine refused the migration",),
                                notes=msg.notes)
        if self.dry_run:
            return self._finish("passed", (), notes=msg.notes)
        self.state = _S.PREPARING
        self.phase = 2
        self._notes = msg.notes
        actions = [Journal("prepare", self._doc()), MarkMigrating()]
        if self.active and self.live:
            # Pre-copy (B-1): the domain runs on while its pages go, round after round.
            self.state = _S.PRECOPY
            self.phase = 3
            return actions + [Journal("precopy", self._doc()), BeginRound(0)]
        if self.active:
            return actions + [SuspendDomain()]
        # A bound or inactive domain carries no runtime: constraints and bindings already
        # travelled in the offer, so phase 3 is empty (G-9).
        self.state = _S.AWAITING_READY
        self.phase = 4
        return actions + [Send(TransferDone())]

    def _on_Suspended(self, ev: Suspended) -> list:
        self.state = _S.TRANSFERRING
        self.phase = 3
        return [Journal("transfer", self._doc(generation=ev.generation)), ExportState()]

    def _on_StateExported(self, ev: StateExported) -> list:
        self._total = ev.image.total_pages
        # Warm: the one and only round. Live: the final one, the dirty log since the last round.
        return [Send(ev.image), BeginRound(self.round + 1 if self.live else 0)]

    def _on_RoundStarted(self, ev: RoundStarted) -> list:
        if self.state is _S.TRANSFERRING and self.live:
            self.round += 1
        self._round_planned = ev.pages
        self._round_sent = 0
        self._round_started = ev.at
        self.round_pages.append(0)
        if self.state is _S.TRANSFERRING:
            self.suspended_round = len(self.round_pages) - 1
        return [ReadPages()]

    def _on_PagesRead(self, ev: PagesRead) -> list:
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
        self.state = _S.AWAITING_READY
        self.phase = 4
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

    def _on_Ready(self, msg: Ready) -> list:
        # The commit point (DESIGN.md): journal first, then give the image away, then GO.
        self.state = _S.GO_SENT
        return [Journal("go_sent", self._doc()), HandOff(), Send(Go())]

    def _on_Resumed(self, msg: Resumed) -> list:
        return [DestroySource(), *self._progress(100)] + self._finish("completed", (), notes=self._notes)

    # -- the ways back ---------------------------------------------------------------------
    def _on_Abort(self, msg: Abort) -> list:
        # After GO an Abort means the target never ran the image and gives it back.
        reclaim = self.state is _S.GO_SENT
        return [RollBack(reclaim=reclaim)] + self._finish("failed", (msg.reason,))

    def _on_Cancel(self, ev: Cancel) -> list:
        if self.state is _S.GO_SENT:
            raise LdmError("cancel-too-late",
                           f"Migration of LDom {self.domain.name} cannot be cancelled: all state was "
                           f"sent and {self.target_host} may already be running it")
        return [Send(Abort(reason="Migration cancelled on the source machine")), RollBack()] + \
            self._finish("cancelled", (f"Migration of LDom {self.domain.name} was cancelled",))

    def _on_LinkLost(self, ev) -> list:
        if self.state is _S.GO_SENT:
            return self._error(f"Lost connection with {self.target_host} before it confirmed the resume "
                               f"of LDom {self.target_name}")
        return [RollBack()] + self._finish("failed", (f"Lost connection with the target machine {self.target_host}",))

    def _on_Timeout(self, ev: Timeout) -> list:
        if self.state is _S.GO_SENT:
            return self._error(f"Timed out waiting for {self.target_host} to confirm the resume "
                               f"of LDom {self.target_name}")
        return [Send(Abort(reason="Timed out waiting for the source machine")), RollBack()] + \
            self._finish("failed", (f"Timed out waiting for the target machine {self.target_host}",))

    def _on_LocalFailure(self, ev: LocalFailure) -> list:
        if self.state is _S.GO_SENT:
            return self._error(ev.reason)
        return [Send(Abort(reason=ev.reason)), RollBack()] + self._finish("failed", (ev.reason,))

    def _protocol_error(self, exc: ProtocolError) -> list:
        if self.finished:
            return []  # late messages and repeated cancels after the end change nothing
        if self.state is _S.GO_SENT:
            return self._error(f"Protocol error from {self.target_host}: {exc}")
        return [Send(Abort(reason=f"Protocol error: {exc}")), RollBack()] + \
            self._finish("failed", (f"Protocol error from {self.target_host}: {exc}",))

    # -- endings ---------------------------------------------------------------------------
    def _error(self, reason: str) -> list:
        self.state = _S.ERROR
        self.outcome = Outcome(status="error", lines=(reason,))
        return [EnterErrorState(reason), Finished(self.outcome)]

    def _finish(self, status: str, lines, *, notes=()) -> list:
        self.state = {"completed": _S.COMPLETED, "passed": _S.COMPLETED, "cancelled": _S.CANCELLED}.get(status, _S.FAILED)
        self.outcome = Outcome(status=status, lines=tuple(lines), notes=tuple(notes))
        return [Finished(self.outcome)]

    def _progress(self, percent: int) -> list:
        percent = min(max(percent, self.progress), 100)
        if percent == self.progress:
            return []
        self.progress = percent
        return [ReportProgress(percent)]
