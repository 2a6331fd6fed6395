"""One incoming migration as a transport sees it.

``TargetSession`` wraps a ``TargetRun`` and gives its engine the messages in the order the
source's engine produced them, whichever path each took:

* messages on the control link go to the engine as they come, except ``TransferDone``,
  which waits until every data message sent before it has been written (it says how many);
* data messages (runtime image, page batches) come numbered from the data connections, in
  any order and from several threads at once, and are handed over strictly in order; the
  data messages of a tunnelled migration come on the control link and are numbered there;
* it acknowledges what is written (``PagesAck``) every few messages and whenever the
  transport says it has caught up — then too, while a live source still runs the domain,
  it commits the pages received so far, so the flushes after the suspend find little left;
* before the first check result of a real migration it asks the transport for a data
  listener and sends its ``DataChannel`` offer ahead of that result.

Thread-safe: the control link's handler and every data connection's thread may call it at
once. Each call returns the messages to send back on the control link.
"""

from __future__ import annotations

import threading

from ldtui.core.migration.events import LinkLost, LocalFailure, Timeout
from ldtui.core.migration.flow import ACK_EVERY, WINDOW, InOrder, OrderError
from ldtui.core.migration.messages import (
    TUNNELLED, CheckResult, DataChannel, DataPath, PagesAck, TransferDone, is_data,
)



class TargetSession:
    """Order, acknowledgements and data-path set-up of one incoming migration around ``run``.

    ``data_plane``: whether this host offers direct data connections at all.
    """

    def __init__(self, run, *, data_plane: bool = True, horizon: int = WINDOW, ack_every: int = ACK_EVERY) -> None:
        self.run = run
        self.data_plane = data_plane
        self.ack_every = ack_every
        self.transport = ""
        self.streams = 0
        self.reason = ""
        self._order = InOrder(horizon)
        self._tunnel_seq = 0
        self._lock = threading.RLock()
        self._done_waiting: TransferDone | None = None
        self._result_waiting: CheckResult | None = None
        self._acked = 0
        self.wants_listener = False
        """The transport should open a data listener and answer :meth:`listener_ready`."""

    @property
    def finished(self) -> bool:
        return self.run.finished

    @property
    def outcome(self):
        return self.run.outcome

    @property
    def delivered(self) -> int:
        return self._order.delivered

    # -- the control link ------------------------------------------------------------------
    def control(self, msg) -> list:
        """A message that came on the control link."""
        with self._lock:
            if isinstance(msg, DataPath):
                self.transport, self.streams, self.reason = msg.transport, msg.streams, msg.reason
                self._note_path()
                return []
            if is_data(msg):
                seq, self._tunnel_seq = self._tunnel_seq, self._tunnel_seq + 1
                if not self.transport:
                    self.transport = TUNNELLED
                    self._note_path()
                return self._data(seq, msg)
            if isinstance(msg, TransferDone):
                if msg.data_messages > self._order.delivered:
                    self._done_waiting = msg
                    return []
                return (self._ack() if self._order.delivered > self._acked else []) + self._engine(msg)
            return self._engine(msg)

    def listener_ready(self, channel: DataChannel | None) -> list:
        """The data listener is open (``channel``: the offer) or could not be (``None``)."""
        with self._lock:
            self.wants_listener = False
            result, self._result_waiting = self._result_waiting, None
            out = [channel] if channel is not None and not self.finished else []
            return out + ([result] if result is not None else [])

    # -- the data connections --------------------------------------------------------------
    def data(self, seq: int, msg, keep=None) -> list:
        """Data message number ``seq`` from a data connection (any thread). ``keep(msg)``
        makes a message that must wait for an earlier one independent of the caller's
        buffers (see ``flow.InOrder``)."""
        with self._lock:
            if not is_data(msg):
                return self._garbled(f"a {type(msg).__name__} on a data connection")
            return self._data(seq, msg, keep)

    def data_lost(self, reason: str) -> list:
        """A data connection broke while data may still be due: undo, and tell the source why.
        Once the transfer is verified the data connections are no longer needed."""
        with self._lock:
            if self.finished or not self.run.engine.receiving:
                return []
            return self.run.feed(LocalFailure(reason))

    def caught_up(self) -> list:
        """Nothing more has arrived for now: commit a live run's pages and acknowledge."""
        with self._lock:
            if self.finished or self._order.delivered <= self._acked:
                return []
            if self.run.offer_live and not self.run.engine.image_seen:
                self.run.flush_precopy()
            return self._ack()

    # -- the ways it ends ------------------------------------------------------------------
    def link_lost(self, reason: str = "") -> list:
        with self._lock:
            return [] if self.finished else self.run.feed(LinkLost(reason) if reason else LinkLost())

    def timed_out(self) -> list:
        with self._lock:
            return [] if self.finished else self.run.feed(Timeout())

    # -- inside ----------------------------------------------------------------------------
    def _data(self, seq: int, msg, keep=None) -> list:
        if self.finished:
            return []  # late data after an abort changes nothing
        try:
            ready = self._order.offer(seq, msg, keep)
        except OrderError as e:
            return self._garbled(str(e))
        out: list = []
        for item in ready:
            out += self._engine(item)
            if self.finished:
                return out
        if self._done_waiting is not None and self._done_waiting.data_messages <= self._order.delivered:
            done, self._done_waiting = self._done_waiting, None
            out = self._ack() + out + self._engine(done)
        elif self._order.delivered - self._acked >= self.ack_every:
            out = self._ack() + out
        return out

    def _engine(self, msg) -> list:
        replies = self.run.receive(msg)
        if self.data_plane and any(isinstance(r, CheckResult) and r.ok for r in replies) \
                and self.run.engine.offer is not None and not self.run.engine.offer.dry_run and not self.finished:
            # Offer the data connections first: the source decides the path on that offer.
            i = next(i for i, r in enumerate(replies) if isinstance(r, CheckResult))
            self._result_waiting = replies[i]
            self.wants_listener = True
            replies = replies[:i] + replies[i + 1:]
        return replies

    def _ack(self) -> list:
        self._acked = self._order.delivered
        return [PagesAck(batches=self._acked)]

    def _garbled(self, what: str) -> list:
        # The control link still works: undo here and tell the source why.
        return [] if self.finished else self.run.feed(LocalFailure(f"Garbled data from the source: {what}"))

    def _note_path(self) -> None:
        if self.run.mig_id:
            self.run.jobs.update(self.run.mig_id, transport=self.transport, streams=self.streams,
                                 transport_reason=self.reason)
