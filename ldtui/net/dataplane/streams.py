"""Frames over open data streams: a sender and a receiver, one thread per stream.

The threads block on their sockets; sealing and opening release the GIL, so streams run
side by side and beside the event loop. A group of streams has one outcome: it succeeds
when every stream ended with END and the target confirmed the counts, and the first
failure of any stream (reset, timeout, truncation, a record that does not authenticate,
the consumer raising) stops all of them and is the one error every waiter sees. From a
coroutine, ``await group.wait()``; cancelling that await stops the streams at once.

Frames on one stream arrive in the order they were sent; frames on different streams do
not. A caller that may send two versions of the same page (pre-copy rounds) must send
both on the same stream, e.g. by choosing the stream from the page number.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Sequence

from ldtui.net.dataplane.channel import StreamChannel
from ldtui.net.dataplane.errors import DataPlaneError, DataStreamError, RecordError
from ldtui.net.dataplane.group import StreamGroup, StreamReport, stopped
from ldtui.net.dataplane.records import EndCounts, RecordType

SEND_TIMEOUT = 30.0
"""The longest a write may wait for the target to read before the stream fails."""
END_TIMEOUT = 30.0
"""The longest the source waits for the target to confirm a stream's end."""
QUEUE_DEPTH = 4
"""Frames that may wait per stream: the producer blocks (or awaits) beyond that."""
PROBE_EVERY = 0.25
"""How often an idle sending stream checks that the target has not closed or reset it."""

_END = object()


class _Lane:
    """One sending stream's bounded queue; producers block or await when it is full."""

    def __init__(self, depth: int) -> None:
        self.queue: collections.deque = collections.deque()
        self.cv = threading.Condition()
        self.depth = depth
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    def wake_waiters(self) -> None:
        waiters, self.waiters = self.waiters, []
        for loop, fut in waiters:
            loop.call_soon_threadsafe(_resolve, fut)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _frame_views(frame) -> tuple[list[memoryview], int]:
    parts = [frame] if isinstance(frame, (bytes, bytearray, memoryview)) else list(frame)
    views = [p if isinstance(p, memoryview) else memoryview(p) for p in parts]
    return views, sum(v.nbytes for v in views)


class StreamSender(StreamGroup):
    """Sends frames on open data streams, one thread per stream.

    Guarantees: each frame is sealed and written whole on one stream, after the frames
    sent before it on that stream; a frame's buffers are not copied before sealing and
    ``release`` (if given) runs once the sender no longer needs them, sent or dropped;
    :meth:`join` returns only after the target confirmed, per stream, the very records and
    bytes that were sent."""

    _role = "send"

    def __init__(self, channels: Sequence[StreamChannel], *, depth: int = QUEUE_DEPTH,
                 send_timeout: float = SEND_TIMEOUT, end_timeout: float = END_TIMEOUT,
                 on_sent: Callable[[int, int, float], None] | None = None) -> None:
        super().__init__(channels)
        self._lanes = {ch.index: _Lane(depth) for ch in self.channels}
        self._on_sent = on_sent
        """Called in the stream's thread after each frame: (stream, bytes on the wire,
        seconds the write took) — how fast the link really takes what is given to it."""
        self._send_timeout = send_timeout
        self._end_timeout = end_timeout
        self._finished = False
        self._next = 0
        self._max = min(ch.sealer.max_record for ch in self.channels)
        self._start()

    @property
    def bytes_sent(self) -> int:
        """DATA payload bytes written so far, every stream together."""
        return sum(ch.sealer.data_bytes for ch in self.channels)

    def _check_open(self, length: int) -> None:
        if self._outcome.done():
            err = self._outcome.exception()
            raise err if err is not None else DataStreamError("finished", "the data streams have ended")
        if self._finished:
            raise DataStreamError("finished", "no frame may follow the end of the data streams")
        if length > self._max:
            raise RecordError("oversize", f"a frame of {length} bytes exceeds the data stream's record "
                                          f"limit of {self._max}")

    def _pick(self, stream: int | None) -> _Lane:
        if stream is not None:
            if stream not in self._lanes:
                raise ValueError(f"there is no data stream {stream}")
            return self._lanes[stream]
        n = len(self.channels)
        order = [(self._next + k) % n for k in range(n)]
        self._next = (self._next + 1) % n
        return self._lanes[min(order, key=lambda i: len(self._lanes[i].queue))]

    def send(self, frame, *, stream: int | None = None, release: Callable[[], None] | None = None,
             timeout: float | None = None) -> None:
        """Queue ``frame`` (a buffer, or a sequence of buffers sealed as one record) on
        ``stream`` or on the least busy one; blocks while that stream's queue is full.
        Raises the group's error if it failed, ``TimeoutError`` if no room came in time."""
        views, length = _frame_views(frame)
        self._check_open(length)
        lane = self._pick(stream)
        deadline = None if timeout is None else time.monotonic() + timeout
        with lane.cv:
            while len(lane.queue) >= lane.depth and not self._stopping.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("no room on the data stream in time")
                lane.cv.wait(left)
            if not self._stopping.is_set():
                lane.queue.append((views, release))
                lane.cv.notify_all()
                return
        self._check_open(length)
        raise stopped("the data streams were stopped")  # pragma: no cover - stopping sets the outcome

    async def send_async(self, frame, *, stream: int | None = None,
                         release: Callable[[], None] | None = None) -> None:
        """:meth:`send` for a coroutine: waits for room without blocking the event loop."""
        views, length = _frame_views(frame)
        loop = asyncio.get_running_loop()
        while True:
            self._check_open(length)
            lane = self._pick(stream)
            with lane.cv:
                if self._stopping.is_set():
                    continue
                if len(lane.queue) < lane.depth:
                    lane.queue.append((views, release))
                    lane.cv.notify_all()
                    return
                fut = loop.create_future()
                lane.waiters.append((loop, fut))
            await fut

    def finish(self) -> None:
        """No more frames: every stream sends END after what it still holds."""
        if self._finished:
            return
        self._finished = True
        for lane in self._lanes.values():
            with lane.cv:
                lane.queue.append(_END)
                lane.cv.notify_all()

    def _wake(self) -> None:
        for lane in self._lanes.values():
            with lane.cv:
                lane.cv.notify_all()
                lane.wake_waiters()

    def _take(self, ch: StreamChannel, lane: _Lane):
        with lane.cv:
            while True:
                if self._stopping.is_set():
                    return None
                if lane.queue:
                    item = lane.queue.popleft()
                    lane.cv.notify_all()
                    lane.wake_waiters()
                    return item
                if not lane.cv.wait(PROBE_EVERY):
                    ch.probe()

    def _run(self, ch: StreamChannel) -> StreamReport | None:
        lane = self._lanes[ch.index]
        ch.set_timeout(self._send_timeout)
        while True:
            item = self._take(ch, lane)
            if item is None:
                return None
            if item is _END:
                return self._end(ch)
            views, release = item
            try:
                started = time.monotonic()
                n = ch.send_record(RecordType.DATA, views)
                if self._on_sent is not None:
                    self._on_sent(ch.index, n, time.monotonic() - started)
            finally:
                if release is not None:
                    release()

    def _end(self, ch: StreamChannel) -> StreamReport:
        mine = EndCounts.of(ch.sealer)
        ch.send_record(RecordType.END, mine.pack())
        ch.set_timeout(self._end_timeout)
        got = ch.recv_record()
        if got is None:
            raise DataStreamError("truncated", f"the target closed data stream {ch.index} before confirming "
                                               "its end", stream=ch.index)
        theirs = EndCounts.unpack(got[1])
        if theirs != mine:
            raise DataStreamError("count-mismatch", f"the target counted {theirs.records} records on data stream "
                                                    f"{ch.index}, {mine.records} were sent", stream=ch.index)
        return StreamReport(ch.index, mine.records, mine.bytes)

    def _lane_exit(self, ch: StreamChannel) -> None:
        # Frames that will never be sent are released all the same, so a buffer pool
        # that lends them out gets every buffer back.
        lane = self._lanes[ch.index]
        with lane.cv:
            dropped = [item for item in lane.queue if item is not _END]
            lane.queue.clear()
            lane.cv.notify_all()
            lane.wake_waiters()
        for _, release in dropped:
            if release is not None:
                try:
                    release()
                except Exception:  # noqa: BLE001 - the group has already failed or stopped
                    pass


class StreamReceiver(StreamGroup):
    """Receives frames on open data streams, one thread per stream.

    Guarantees: ``on_data(stream, payload)`` runs in that stream's thread, once per DATA
    record, in order, and only for payloads that authenticated; ``payload`` is a view of a
    reused buffer, valid until ``on_data`` returns. A stream that stops before its END
    (truncated), reset, times out or carries a record that fails fails the group; if
    ``on_data`` raises, the group fails with its error as the cause. Success means every
    stream ended with END, its counts matched, and the source was told."""

    _role = "recv"

    def __init__(self, channels: Sequence[StreamChannel], on_data: Callable[[int, memoryview], None], *,
                 idle_timeout: float | None = None, on_idle: Callable[[int], None] | None = None) -> None:
        super().__init__(channels)
        self._on_data = on_data
        self._on_idle = on_idle
        """Called in a stream's thread after a record when nothing more has arrived on it
        yet: the receiver has caught up with that stream."""
        self._idle_timeout = idle_timeout
        self._start()

    @property
    def bytes_received(self) -> int:
        return sum(ch.opener.data_bytes for ch in self.channels)

    def _run(self, ch: StreamChannel) -> StreamReport | None:
        ch.set_timeout(self._idle_timeout)
        while True:
            got = ch.recv_record()
            if got is None:
                raise DataStreamError("truncated", f"data stream {ch.index} from {ch.peer[0]} ended without its "
                                                   "END record (truncated)", stream=ch.index)
            rtype, payload = got
            if rtype is RecordType.DATA:
                try:
                    self._on_data(ch.index, payload)
                    if self._on_idle is not None and not ch.readable():
                        self._on_idle(ch.index)
                except DataPlaneError:
                    raise
                except Exception as e:
                    raise DataStreamError("consumer-failed", f"data stream {ch.index}: its data could not be "
                                                             f"taken in: {e}", stream=ch.index) from e
                continue
            theirs, mine = EndCounts.unpack(payload), EndCounts.of(ch.opener)
            if theirs != mine:
                raise DataStreamError("count-mismatch", f"data stream {ch.index} ended after {mine.records} "
                                                        f"records, the source sent {theirs.records}",
                                      stream=ch.index)
            ch.send_record(RecordType.END, mine.pack())
            return StreamReport(ch.index, mine.records, mine.bytes)
