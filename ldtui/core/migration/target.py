"""The target side of a migration as a state machine (SPEC G-3, G-12).

The receiving domain is created only when every check passed and the run is not a dry run.
It is never resumed before ``Go`` arrives; until then any failure, abort, lost link or
timeout removes it. A cancel is refused here: a host controls only the migrations it started.
"""

from __future__ import annotations

import enum

from ldtui.core.errors import LdmError
from ldtui.core.migration.engine import Engine, ProtocolError
from ldtui.core.migration.events import (
    Cancel, ChecksDone, Created, CreateReceiving, Finished, ImportState, Journal, LinkLost,
    LocalFailure, Outcome, RemoveReceiving, ReportProgress, ResumedLocally, ResumeReceived,
    RunChecks, Send, Timeout, Verified, VerifyDigest, WritePages,
)
from ldtui.core.migration.messages import (
    Abort, CheckResult, Go, Offer, PageBatch, Ready, Resumed, RuntimeImage, TransferDone,
)


class TargetState(enum.Enum):
    AWAITING_OFFER = "awaiting-offer"
    CHECKING = "checking"
    CREATING = "creating"
    RECEIVING = "receiving"
    VERIFYING = "verifying"
    READY = "ready"
    RESUMING = "resuming"
    COMPLETED = "completed"
    FAILED = "failed"


_T = TargetState
_LOSS = frozenset({LinkLost, Timeout, Abort, Cancel})
_HOLDS_DOMAIN = frozenset({_T.CREATING, _T.RECEIVING, _T.VERIFYING, _T.READY, _T.RESUMING})


class TargetMigration(Engine):
    """Receives one domain. Feed it the peer's messages and the executor's completions."""

    TRANSITIONS = {
        _T.AWAITING_OFFER: frozenset({Offer, LinkLost, Timeout, Cancel}),
        _T.CHECKING: _LOSS | {ChecksDone},
        _T.CREATING: _LOSS | {Created, LocalFailure},
        _T.RECEIVING: _LOSS | {RuntimeImage, PageBatch, TransferDone, LocalFailure},
        _T.VERIFYING: _LOSS | {Verified},
        _T.READY: _LOSS | {Go},
        _T.RESUMING: frozenset({ResumedLocally, LocalFailure, LinkLost, Timeout, Cancel}),
    }

    def __init__(self, *, source_host: str = "") -> None:
        self.state = _T.AWAITING_OFFER
        self.offer: Offer | None = None
        self.source_host = source_host
        self.progress = 0
        self.phase = 0
        self.outcome: Outcome | None = None
        self._image_seen = False
        self._precopy_seen = False
        self.round = 0
        self._notes: tuple[str, ...] = ()

    @property
    def image_seen(self) -> bool:
        """The runtime image arrived: the source is suspended (pre-copy, if any, is over)."""
        return self._image_seen

    @property
    def domain_name(self) -> str:
        return self.offer.target_name if self.offer else ""

    def _doc(self, **extra) -> dict:
        o = self.offer
        return {"source_host": o.source.hostname, "source_name": o.domain.name,
                "uuid": o.domain.uuid, "was_state": o.domain.state, **extra}

    # -- the way forward -------------------------------------------------------------------
    def _on_Offer(self, msg: Offer) -> list:
        self.offer = msg
        self.source_host = msg.source.hostname
        self.state = _T.CHECKING
        self.phase = 1
        return [RunChecks(msg)]

    def _on_ChecksDone(self, ev: ChecksDone) -> list:
        o = self.offer
        if ev.refused:
            return [Send(CheckResult(ok=False, refused=True))] + self._finish("refused", ())
        if ev.unmet or o.source_unmet or o.dry_run:
            ok = not ev.unmet
            return [Send(CheckResult(ok=ok, unmet=ev.unmet, notes=ev.notes))] + \
                self._finish("passed" if ok and not o.source_unmet else "failed", ev.unmet)
        self._notes = ev.notes
        self.state = _T.CREATING
        self.phase = 2
        return [Journal("prepare", self._doc()), CreateReceiving(o)]

    def _on_Created(self, ev: Created) -> list:
        self.state = _T.RECEIVING
        return [Send(CheckResult(ok=True, notes=self._notes))]

    def _on_RuntimeImage(self, msg: RuntimeImage) -> list:
        if self.offer.domain.state != "active" or self._image_seen:
            return self._protocol_error(ProtocolError("unexpected runtime image"))
        self._image_seen = True
        self.phase = 3
        self._total = msg.total_pages
        return [Journal("transfer", self._doc(generation=msg.generation)), ImportState(msg)]

    def _on_PageBatch(self, msg: PageBatch) -> list:
        actions: list = []
        if not self._image_seen:
            if not (self.offer.live and self.offer.domain.state == "active"):
                return self._protocol_error(ProtocolError("memory pages before the runtime image"))
            if not self._precopy_seen:
                # Live pre-copy (B-1): pages arrive while the source still runs the domain.
                self._precopy_seen = True
                self.phase = 3
                actions.append(Journal("precopy", self._doc()))
        self.round = max(self.round, msg.round)
        return actions + [WritePages(msg)] + self._progress(min(msg.sent * 100 // max(msg.total, 1), 99))

    def _on_TransferDone(self, msg: TransferDone) -> list:
        if self.offer.domain.state == "active" and not self._image_seen:
            return self._protocol_error(ProtocolError("transfer ended without the runtime image"))
        self.state = _T.VERIFYING
        return [VerifyDigest(msg.checksum, msg.pages)]

    def _on_Verified(self, ev: Verified) -> list:
        if not ev.ok:
            return [RemoveReceiving(), Send(Abort(reason=ev.detail))] + self._finish("failed", (ev.detail,))
        self.state = _T.READY
        self.phase = 4
        return [Journal("ready", self._doc()), *self._progress(100), Send(Ready())]

    def _on_Go(self, msg: Go) -> list:
        self.state = _T.RESUMING
        return [Journal("go", self._doc()), ResumeReceived()]

    def _on_ResumedLocally(self, ev: ResumedLocally) -> list:
        return [Journal("done", self._doc()), Send(Resumed())] + self._finish("completed", ())

    # -- the ways back ---------------------------------------------------------------------
    def _undo(self, reason: str, *, tell_peer: bool, status: str = "failed") -> list:
        actions: list = [RemoveReceiving()] if self.state in _HOLDS_DOMAIN else []
        if tell_peer:
            actions.append(Send(Abort(reason=reason)))
        return actions + self._finish(status, (reason,))

    def _on_Abort(self, msg: Abort) -> list:
        return self._undo(msg.reason, tell_peer=False, status="cancelled")

    def _on_LinkLost(self, ev: LinkLost) -> list:
        if self.state is _T.RESUMING:
            return []  # Go arrived: the resume goes on; the source learns of it by other means
        return self._undo(f"Lost connection with the source machine {self.source_host}", tell_peer=False)

    def _on_Timeout(self, ev: Timeout) -> list:
        if self.state is _T.RESUMING:
            return []
        return self._undo(f"Timed out waiting for the source machine {self.source_host}", tell_peer=True)

    def _on_LocalFailure(self, ev: LocalFailure) -> list:
        if self.state is _T.CREATING:
            actions = [RemoveReceiving(), Send(CheckResult(ok=False, unmet=(ev.reason,)))]
            return actions + self._finish("failed", (ev.reason,))
        # A failed resume never ran the image, so handing it back to the source is safe.
        return self._undo(ev.reason, tell_peer=True)

    def _on_Cancel(self, ev: Cancel) -> list:
        name = self.domain_name or "?"
        raise LdmError("cancel-on-target",
                       f"Migration of LDom {name} can only be cancelled on the source machine "
                       f"{self.source_host or ''}".rstrip())

    def _protocol_error(self, exc: ProtocolError) -> list:
        if self.finished:
            return []
        if self.state is _T.RESUMING:
            return []  # past Go nothing the peer says can stop the resume
        return self._undo(f"Protocol error from {self.source_host or 'the source machine'}: {exc}",
                          tell_peer=True)

    def handle(self, event) -> list:
        if isinstance(event, Cancel):
            return self._on_Cancel(event)
        return super().handle(event)

    # -- endings ---------------------------------------------------------------------------
    def _finish(self, status: str, lines) -> list:
        self.state = _T.COMPLETED if status in ("completed", "passed") else _T.FAILED
        self.outcome = Outcome(status=status, lines=tuple(lines), notes=self._notes)
        return [Finished(self.outcome)]

    def _progress(self, percent: int) -> list:
        percent = min(max(percent, self.progress), 100)
        if percent == self.progress:
            return []
        self.progress = percent
        return [ReportProgress(percent)]
