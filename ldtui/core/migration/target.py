"""The target side of a migration: a state machine whose table is :data:`TargetMigration.TRANSITIONS`.

The receiving domain is created only when every check passed and the run is not a dry run.
It is never resumed before ``Go`` arrives (the row ``(READY, Go) → RESUMING``); until then
any failure, abort, lost link or timeout removes it. A cancel is refused here in every
state: a host controls only the migrations it started. docs/ENGINE.md shows the table.
"""

from __future__ import annotations

import enum

from ldtui.core.errors import LdmError
from ldtui.core.migration.engine import Engine, Guard, ProtocolError, refuse
from ldtui.core.migration.events import (
    Cancel, ChecksDone, Created, CreateReceiving, ImportState, Journal, LinkLost, LocalFailure,
    RemoveReceiving, ResumedLocally, ResumeReceived, RunChecks, Send, Timeout, Verified, VerifyDigest,
    WritePages,
)
from ldtui.core.migration.messages import (
    Abort, CheckResult, Go, Offer, PageBatch, Ready, Resumed, RuntimeImage, TransferDone,
)
from ldtui.core.migration.phase import JournalStep, MigrationPhase
from ldtui.core.migration.refusals import cancel_on_target


class TargetState(enum.Enum):
    AWAITING_OFFER = "awaiting-offer"
    CHECKING = "checking"
    CREATING = "creating"
    """Every check passed: the receiving domain is being created."""
    RECEIVING = "receiving"
    """The receiving domain exists; no data yet (a bound or inactive domain sends none)."""
    PRECOPY = "precopy"
    """Live: pages arrive while the source still runs the domain."""
    TRANSFERRING = "transferring"
    """The runtime image arrived (the source is suspended); the last pages follow."""
    VERIFYING = "verifying"
    READY = "ready"
    """A complete, verified copy waits for Go."""
    RESUMING = "resuming"
    """Go arrived: the domain resumes here, whatever the source or the link does now."""
    COMPLETED = "completed"
    PASSED = "passed"
    FAILED = "failed"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    """The source aborted."""


_T = TargetState
_HOLDS_DOMAIN = frozenset({_T.CREATING, _T.RECEIVING, _T.PRECOPY, _T.TRANSFERRING, _T.VERIFYING, _T.READY,
                           _T.RESUMING})
RECEIVING_STATES = frozenset({_T.RECEIVING, _T.PRECOPY, _T.TRANSFERRING})
"""The states in which data messages may still arrive."""
_BEFORE_GO = (_T.CHECKING, _T.CREATING, _T.RECEIVING, _T.PRECOPY, _T.TRANSFERRING, _T.VERIFYING, _T.READY)


def _after_checks(t: "TargetMigration", ev: ChecksDone) -> TargetState:
    o = t.offer
    if ev.refused:
        return _T.REFUSED
    if ev.unmet or o.source_unmet:
        return _T.FAILED
    return _T.PASSED if o.dry_run else _T.CREATING


def _first_image(t: "TargetMigration", msg: RuntimeImage) -> TargetState:
    if not t.active:
        raise ProtocolError("unexpected runtime image")
    return _T.TRANSFERRING


def _first_pages(t: "TargetMigration", msg: PageBatch) -> TargetState:
    if not (t.offer.live and t.active):
        raise ProtocolError("memory pages before the runtime image")
    return _T.PRECOPY


def _transfer_done(t: "TargetMigration", msg: TransferDone) -> TargetState:
    if t.active:
        raise ProtocolError("transfer ended without the runtime image")
    return _T.VERIFYING


NO_IMAGE_YET = "transfer ended without the runtime image"
AFTER_CHECKS = Guard(_after_checks, {
    _T.REFUSED: "this host takes no incoming migrations",
    _T.FAILED: "a requirement of either side is unmet",
    _T.PASSED: "a dry run that passed",
    _T.CREATING: "every check passed",
})
FIRST_IMAGE = Guard(_first_image, {_T.TRANSFERRING: "the domain is active"},
                    refused_when="the domain is not active")
FIRST_PAGES = Guard(_first_pages, {_T.PRECOPY: "live, and the domain is active"},
                    refused_when="not live")
NOTHING_SENT = Guard(_transfer_done, {_T.VERIFYING: "the domain is bound or inactive"},
                     refused_when="the domain is active: it must have sent its runtime image")
VERIFIED = Guard(lambda t, ev: _T.READY if ev.ok else _T.FAILED, {
    _T.READY: "the checksums match", _T.FAILED: "they differ: the receiving domain is removed"})


class TargetMigration(Engine):
    """Receives one domain. Feed it the peer's messages and the executor's completions."""

    TRANSITIONS = {
        **{(s, Cancel): s for s in _T},  # refused in every state
        (_T.AWAITING_OFFER, Offer): _T.CHECKING,
        (_T.AWAITING_OFFER, LinkLost): _T.FAILED,
        (_T.AWAITING_OFFER, Timeout): _T.FAILED,
        **{(s, ev): to for s in _BEFORE_GO
           for ev, to in ((LinkLost, _T.FAILED), (Timeout, _T.FAILED), (Abort, _T.CANCELLED))},
        **{(s, LocalFailure): _T.FAILED for s in (_T.CREATING, *RECEIVING_STATES)},
        (_T.CHECKING, ChecksDone): AFTER_CHECKS,
        (_T.CREATING, Created): _T.RECEIVING,
        (_T.RECEIVING, RuntimeImage): FIRST_IMAGE,
        (_T.RECEIVING, PageBatch): FIRST_PAGES,
        (_T.RECEIVING, TransferDone): NOTHING_SENT,
        (_T.PRECOPY, PageBatch): _T.PRECOPY,
        (_T.PRECOPY, RuntimeImage): _T.TRANSFERRING,
        (_T.PRECOPY, TransferDone): refuse(NO_IMAGE_YET),
        (_T.TRANSFERRING, PageBatch): _T.TRANSFERRING,
        (_T.TRANSFERRING, RuntimeImage): refuse("unexpected runtime image"),
        (_T.TRANSFERRING, TransferDone): _T.VERIFYING,
        (_T.VERIFYING, Verified): VERIFIED,
        # The commit point: the domain may resume here now, and nothing stops that.
        (_T.READY, Go): _T.RESUMING,
        (_T.RESUMING, ResumedLocally): _T.COMPLETED,
        (_T.RESUMING, LocalFailure): _T.FAILED,
        (_T.RESUMING, LinkLost): _T.RESUMING,
        (_T.RESUMING, Timeout): _T.RESUMING,
    }
    UNEXPECTED = {_T.AWAITING_OFFER: _T.FAILED, **{s: _T.FAILED for s in _BEFORE_GO}, _T.RESUMING: _T.RESUMING}
    PHASE_OF = {
        _T.AWAITING_OFFER: MigrationPhase.STARTING,
        _T.CHECKING: MigrationPhase.CHECK,
        _T.CREATING: MigrationPhase.PREPARE,
        _T.RECEIVING: MigrationPhase.PREPARE,
        _T.PRECOPY: MigrationPhase.TRANSFER,
        _T.TRANSFERRING: MigrationPhase.TRANSFER,
        _T.VERIFYING: MigrationPhase.TRANSFER,
        _T.READY: MigrationPhase.HANDOFF,
        _T.RESUMING: MigrationPhase.HANDOFF,
    }
    FINAL = frozenset({_T.COMPLETED, _T.PASSED, _T.FAILED, _T.REFUSED, _T.CANCELLED})
    SAID = {_T.PRECOPY: "receiving", _T.TRANSFERRING: "receiving"}
    """Protocol errors have always called every state that takes data "receiving"."""

    def __init__(self, *, source_host: str = "") -> None:
        self._begin(_T.AWAITING_OFFER)
        self.offer: Offer | None = None
        self.source_host = source_host
        self.round = 0
        self._notes: tuple[str, ...] = ()

    @property
    def image_seen(self) -> bool:
        """The runtime image arrived: the source is suspended (pre-copy, if any, is over)."""
        return self.state is _T.TRANSFERRING or (self.active and self.state in (_T.VERIFYING, _T.READY,
                                                                                 _T.RESUMING, _T.COMPLETED))

    @property
    def receiving(self) -> bool:
        """Data messages may still arrive."""
        return self.state in RECEIVING_STATES

    @property
    def active(self) -> bool:
        return self.offer is not None and self.offer.domain.state == "active"

    @property
    def domain_name(self) -> str:
        return self.offer.target_name if self.offer else ""

    def _doc(self, **extra) -> dict:
        o = self.offer
        return {"source_host": o.source.hostname, "source_name": o.domain.name,
                "uuid": o.domain.uuid, "was_state": o.domain.state, **extra}

    # -- the way forward: each handler returns actions; the table moves the state -------------
    def _on_Offer(self, msg: Offer, to: TargetState) -> list:
        self.offer = msg
        self.source_host = msg.source.hostname
        return [RunChecks(msg)]

    def _on_ChecksDone(self, ev: ChecksDone, to: TargetState) -> list:
        if to is _T.REFUSED:
            return [Send(CheckResult(ok=False, refused=True))] + self._end(to, ())
        if to is not _T.CREATING:
            return [Send(CheckResult(ok=not ev.unmet, unmet=ev.unmet, notes=ev.notes))] + self._end(to, ev.unmet)
        self._notes = ev.notes
        return [Journal(JournalStep.PREPARE, self._doc()), CreateReceiving(self.offer)]

    def _on_Created(self, ev: Created, to: TargetState) -> list:
        return [Send(CheckResult(ok=True, notes=self._notes))]

    def _on_RuntimeImage(self, msg: RuntimeImage, to: TargetState) -> list:
        self._total = msg.total_pages
        return [Journal(JournalStep.TRANSFER, self._doc(generation=msg.generation)), ImportState(msg)]

    def _on_PageBatch(self, msg: PageBatch, to: TargetState) -> list:
        # The first pre-copy page: pages arrive while the source still runs the domain.
        actions = [Journal(JournalStep.PRECOPY, self._doc())] if self.state is _T.RECEIVING else []
        self.round = max(self.round, msg.round)
        return actions + [WritePages(msg)] + self._progress(min(msg.sent * 100 // max(msg.total, 1), 99))

    def _on_TransferDone(self, msg: TransferDone, to: TargetState) -> list:
        return [VerifyDigest(msg.checksum, msg.pages)]

    def _on_Verified(self, ev: Verified, to: TargetState) -> list:
        if to is _T.FAILED:
            return [RemoveReceiving(), Send(Abort(reason=ev.detail))] + self._end(to, (ev.detail,))
        return [Journal(JournalStep.READY, self._doc()), *self._progress(100), Send(Ready())]

    def _on_Go(self, msg: Go, to: TargetState) -> list:
        return [Journal(JournalStep.GO, self._doc()), ResumeReceived()]

    def _on_ResumedLocally(self, ev: ResumedLocally, to: TargetState) -> list:
        return [Journal(JournalStep.DONE, self._doc()), Send(Resumed())] + self._end(to, ())

    # -- the ways back ---------------------------------------------------------------------
    def _undo(self, to: TargetState, reason: str, *, tell_peer: bool) -> list:
        actions: list = [RemoveReceiving()] if self.state in _HOLDS_DOMAIN else []
        if tell_peer:
            actions.append(Send(Abort(reason=reason)))
        return actions + self._end(to, (reason,))

    def _on_Abort(self, msg: Abort, to: TargetState) -> list:
        return self._undo(to, msg.reason, tell_peer=False)

    def _on_LinkLost(self, ev: LinkLost, to: TargetState) -> list:
        if to is _T.RESUMING:
            return []  # Go arrived: the resume goes on; the source learns of it by other means
        return self._undo(to, f"Lost connection with the source machine {self.source_host}", tell_peer=False)

    def _on_Timeout(self, ev: Timeout, to: TargetState) -> list:
        if to is _T.RESUMING:
            return []
        return self._undo(to, f"Timed out waiting for the source machine {self.source_host}", tell_peer=True)

    def _on_LocalFailure(self, ev: LocalFailure, to: TargetState) -> list:
        if self.state is _T.CREATING:
            actions = [RemoveReceiving(), Send(CheckResult(ok=False, unmet=(ev.reason,)))]
            return actions + self._end(to, (ev.reason,))
        # A failed resume never ran the image, so handing it back to the source is safe.
        return self._undo(to, ev.reason, tell_peer=True)

    def _on_Cancel(self, ev: Cancel, to: TargetState) -> list:
        raise cancel_on_target(self.domain_name or "?", self.source_host or "")

    def _on_protocol_error(self, exc: ProtocolError, to: TargetState) -> list:
        if to is _T.RESUMING:
            return []  # past Go nothing the peer says can stop the resume
        return self._undo(to, f"Protocol error from {self.source_host or 'the source machine'}: {exc}",
                          tell_peer=True)

    def _end(self, to: TargetState, lines) -> list:
        return self._finish(to, lines, notes=self._notes)
