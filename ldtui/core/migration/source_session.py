"""One outgoing migration as a transport sees it: what to send, on which path, and when.

What to send now and on which path, what to read next, when the target has caught up.

``SourceSession`` wraps a ``SourceRun`` (the engine applied to this host) and owns the
protocol's flow control, the way h2's connection object owns its windows:

* every data message (runtime image, page batch) gets a sequence number and counts against
  a window of unacknowledged ones; a batch is read only while the window has room;
* a pre-copy round's end is handed to the engine only once the target has written every
  batch of the round (the drain), and with the dirty count measured at that moment — so
  the switchover is decided on what is really left, and nothing queues after the suspend;
* the data path is set up before the first data message: the target's ``DataChannel``
  offer is put to the transport (connect, or fall back), the check result waits meanwhile,
  and ``DataPath`` tells the target what was chosen; ``TransferDone`` names how many data
  messages precede it.

It never waits, reads a clock or touches a socket: a transport (``ldtui.net``'s source
pump, or the in-memory fault harness) moves what :meth:`take_outgoing` returns and feeds
back what happened. One transport thread drives it; only :meth:`read` may run in a worker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import attrs

from ldtui.core.migration.compression import CompressionPolicy
from ldtui.core.migration.events import LinkLost, LocalFailure, PagesRead, Received, Timeout
from ldtui.core.migration.flow import WINDOW, Window
from ldtui.core.migration.source import SourceState
from ldtui.core.migration.messages import (
    NATIVE, TUNNELLED, CheckResult, DataChannel, DataPath, PageBatch, PagesAck, TransferDone, is_data,
)



@attrs.frozen
class Outgoing:
    """A message to send: on the data path (``seq`` numbered) or the control link."""

    message: object
    data: bool = False
    seq: int = -1


class SourceSession:
    """Flow control and data-path set-up of one outgoing migration around ``run``.

    ``transport``: ``native`` (direct data connections when the target offers them) or
    ``tunnelled`` (always on the control link). ``streams``: data connections wanted.
    ``policy`` decides compression per batch (``None``: never compress).
    """

    def __init__(self, run, *, window: int = WINDOW, policy: CompressionPolicy | None = None,
                 transport: str = NATIVE, streams: int = 1, tunnel_reason: str = "") -> None:
        if transport not in (NATIVE, TUNNELLED):
            raise ValueError(f"unknown transport {transport!r}")
        self.run = run
        self.window = Window(window)
        self.policy = policy
        self.wanted_transport = transport
        self.wanted_streams = max(1, streams)
        self.transport = ""
        """``native`` or ``tunnelled`` once decided; empty before."""
        self.streams = 0
        self.tunnel_reason = ""
        self._asked_reason = tunnel_reason
        """Why ``tunnelled`` was asked for, for the status line."""
        self._out: deque[Outgoing] = deque()
        self._reading = False
        self._round_end: PagesRead | None = None
        """A pre-copy round's last batch, held until the target has written the round."""
        self._channel: DataChannel | None = None
        self._connecting = False
        self._held: list = []
        """Messages from the target waiting until the data path is decided."""
        self.wake: Callable[[], None] | None = None
        """Set by the transport: called when output appears outside its own calls (a cancel)."""
        run.deliver = self._deliver

    # -- the transport's questions ---------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.run.finished

    @property
    def outcome(self):
        return self.run.outcome

    @property
    def wants_read(self) -> bool:
        """A batch is due and may be read now (the window has room, no round end waits)."""
        if self.finished or self._reading or self._round_end is not None or not self.run.wants_pages:
            return False
        if not self.window.open:
            return False
        return True

    @property
    def awaiting_acks(self) -> bool:
        """The engine has more to send but waits for the target to catch up."""
        return not self.finished and (self._round_end is not None or
                                      (self.run.wants_pages and not self.window.open))

    @property
    def data_channel(self) -> DataChannel | None:
        """The target's offer to connect to, while the transport still has to try it."""
        return self._channel if self._connecting else None

    def take_outgoing(self) -> list[Outgoing]:
        out = list(self._out)
        self._out.clear()
        return out

    # -- driving ---------------------------------------------------------------------------
    def start(self) -> None:
        self._queue(self.run.start())

    def begin_read(self) -> None:
        """The transport starts :meth:`read` (perhaps in a worker thread)."""
        self._reading = True

    def read(self):
        """Read the due batch and pack it for the wire; safe in a worker thread."""
        event = self.run.read_next()
        if self.policy is not None and isinstance(event, PagesRead) and event.numbers:
            event = self.policy.pack(event)
        return event

    def read_done(self, event) -> None:
        self._reading = False
        if self.finished:
            return
        if self.run.ends_precopy_round(event) and not self.window.drained:
            self._round_end = event
            return
        if self.run.ends_precopy_round(event):
            event = self.run.refresh_round_end(event)
        self._feed(event)

    def received(self, msg) -> None:
        """A message from the target, on the control link."""
        if isinstance(msg, PagesAck):
            if self.window.on_ack(msg.batches):
                self._after_ack()
            return
        if isinstance(msg, DataChannel):
            self._offered(msg)
            return
        if self._connecting:
            self._held.append(msg)
            return
        if isinstance(msg, CheckResult) and msg.ok and not self.transport:
            # The target offered no data connections (a dry run, or a manager that has none).
            why = self._asked_reason if self.wanted_transport == TUNNELLED else "the target offers no data connections"
            self._decide(TUNNELLED, 0, why, tell=False)
        self._feed(Received(msg))

    def data_connected(self, streams: int) -> None:
        """The transport opened ``streams`` data connections to the offered address."""
        self._decide(NATIVE, streams, "")

    def data_unavailable(self, reason: str) -> None:
        """No data connection could be made: everything goes on the control link."""
        self._decide(TUNNELLED, 0, reason)

    def sent(self, out: Outgoing, nbytes: int, seconds: float) -> None:
        """``out`` left, ``nbytes`` on the wire in ``seconds``."""
        if self.policy is not None and isinstance(out.message, PageBatch):
            self.policy.link_sent(nbytes, seconds)
        self.run.jobs.update(self.run.mig_id, wire=nbytes)

    def link_lost(self, reason: str) -> None:
        if not self.finished:
            self._feed(LinkLost(reason))

    def data_lost(self, reason: str) -> None:
        """A data connection broke: unless the target has written every data message and
        ``TransferDone`` has left (then the data path is no longer needed and its end
        changes nothing), the migration is over and the target is told to undo."""
        state = self.run.engine.state
        if self.finished or state is SourceState.GO_SENT or (state is SourceState.AWAITING_READY
                                                             and self.window.drained):
            return
        # The control link still works: the target is told to undo at once.
        self._feed(LocalFailure(reason))

    def timed_out(self) -> None:
        if not self.finished:
            self._feed(Timeout())

    # -- inside ----------------------------------------------------------------------------
    def _offered(self, channel: DataChannel) -> None:
        if self.transport or self._connecting:
            return  # one offer per migration; a repeated one changes nothing
        self._channel = channel
        if self.wanted_transport == TUNNELLED:
            self._decide(TUNNELLED, 0, self._asked_reason)
        else:
            self._connecting = True

    def _decide(self, transport: str, streams: int, reason: str, *, tell: bool = True) -> None:
        if self.transport:
            return
        self.transport, self.streams, self.tunnel_reason = transport, streams, reason
        self._connecting = False
        self.run.jobs.update(self.run.mig_id, transport=transport, streams=streams, transport_reason=reason)
        if tell and self._channel is not None:
            self._out.append(Outgoing(DataPath(transport=transport, streams=streams, reason=reason)))
        held, self._held = self._held, []
        for msg in held:
            self.received(msg)

    def _after_ack(self) -> None:
        if self._round_end is not None and self.window.drained and not self.finished:
            event, self._round_end = self._round_end, None
            self._feed(self.run.refresh_round_end(event))

    def _feed(self, event) -> None:
        self._queue(self.run.feed(event))

    def _deliver(self, messages) -> None:
        self._queue(messages)
        if self.wake is not None:
            self.wake()

    def _queue(self, messages) -> None:
        for msg in messages:
            if is_data(msg):
                self._out.append(Outgoing(msg, data=True, seq=self.window.on_sent()))
            elif isinstance(msg, TransferDone):
                self._out.append(Outgoing(attrs.evolve(msg, data_messages=self.window.sent)))
            else:
                self._out.append(Outgoing(msg))
        if self.finished:
            self._round_end = None
