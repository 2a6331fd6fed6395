"""Flow control of a migration's data messages, shared by both sessions (docs/DATAPLANE.md).

The source numbers every data message (runtime image, page batches) in the order the
engine produced it and keeps at most a window of them unacknowledged; the target hands
them to its engine in that order, whichever connection each came on, and acknowledges
how many it has written. Nothing here waits or reads a clock.
"""

from __future__ import annotations

WINDOW = 8
"""Data messages the source may have sent and not seen acknowledged: with 4 MiB batches
32 MiB in flight at most — enough to keep the connections busy while the target writes,
small enough that neither side hoards memory and what follows the suspend never queues."""
ACK_EVERY = 4
"""The target acknowledges after every this many data messages written (and whenever it
has caught up with what arrived)."""


class Window:
    """Data messages sent and acknowledged: whether another may go, whether all are in."""

    def __init__(self, size: int = WINDOW) -> None:
        if size < 1:
            raise ValueError("a window holds at least one message")
        self.size = size
        self.sent = 0
        self.acked = 0

    @property
    def open(self) -> bool:
        return self.sent - self.acked < self.size

    @property
    def drained(self) -> bool:
        """Every data message sent is written on the target: what goes next does not queue."""
        return self.acked >= self.sent

    def on_sent(self) -> int:
        """Count one more data message; returns its sequence number."""
        self.sent += 1
        return self.sent - 1

    def on_ack(self, count: int) -> bool:
        """The target has written ``count`` data messages; returns whether that was news.

        An acknowledgement never goes back, and one of more than was sent is the peer's
        confusion: it is clamped so the window cannot open beyond what is really in flight.
        """
        count = min(max(count, 0), self.sent)
        if count <= self.acked:
            return False
        self.acked = count
        return True


class InOrder:
    """Data messages put back in the order they were sent (the target's side).

    ``offer(seq, item)`` accepts a message numbered ``seq`` and returns those now ready, in
    order: the next expected and any that arrived early behind it. A number seen before,
    already delivered, or further ahead than ``horizon`` (a window's worth) is refused with
    :class:`OrderError` — a confused or hostile sender, never silently dropped.
    """

    def __init__(self, horizon: int = WINDOW) -> None:
        self.horizon = horizon
        self.next = 0
        self._early: dict[int, object] = {}

    @property
    def delivered(self) -> int:
        return self.next

    @property
    def waiting(self) -> int:
        """Messages that arrived ahead of one still missing."""
        return len(self._early)

    def offer(self, seq: int, item, keep=None) -> list:
        """``keep(item)`` (if given) is applied to an item that has to wait: one that holds
        views of a buffer its sender reuses must then own its bytes."""
        if seq < self.next or seq in self._early:
            raise OrderError(f"data message {seq} arrived twice")
        if seq >= self.next + self.horizon:
            raise OrderError(f"data message {seq} is ahead of the window (next is {self.next})")
        if seq != self.next:
            self._early[seq] = keep(item) if keep is not None else item
            return []
        ready = [item]
        self.next += 1
        while self.next in self._early:
            ready.append(self._early.pop(self.next))
            self.next += 1
        return ready


class OrderError(Exception):
    """Data messages that cannot be put in order."""
