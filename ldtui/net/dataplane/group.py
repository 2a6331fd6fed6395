"""A group of data streams, one thread each, with one outcome.

What the sender and the receiver share: the threads, the first failure stopping every
stream, the report once all ended, and the ways to wait (from a thread or a coroutine)
and to stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Sequence

import attrs

from ldtui.net.dataplane.channel import StreamChannel
from ldtui.net.dataplane.errors import DataPlaneError, DataStreamError


@attrs.frozen
class StreamReport:
    stream: int
    records: int
    bytes: int


@attrs.frozen
class TransferReport:
    """What moved: per stream, the DATA records and payload bytes both ends agreed on."""

    streams: tuple[StreamReport, ...]
    seconds: float

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.streams)


def stopped(reason: str) -> DataStreamError:
    return DataStreamError("stopped", reason)


class StreamGroup:
    """What the sender and the receiver share: their streams' threads and one outcome."""

    _role = "stream"

    def __init__(self, channels: Sequence[StreamChannel]) -> None:
        channels = list(channels)
        if sorted(ch.index for ch in channels) != list(range(len(channels))) or not channels:
            raise ValueError("a stream group needs streams 0..n-1, each once")
        self.channels = sorted(channels, key=lambda ch: ch.index)
        self._outcome: concurrent.futures.Future = concurrent.futures.Future()
        self._outcome.set_running_or_notify_cancel()  # a waiter's cancel never cancels the outcome
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._reports: dict[int, StreamReport] = {}
        self._t0 = time.monotonic()
        self._threads: list[threading.Thread] = []

    def _start(self) -> None:
        for ch in self.channels:
            t = threading.Thread(target=self._guarded, args=(ch,), name=f"dataplane-{self._role}-{ch.index}",
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _guarded(self, ch: StreamChannel) -> None:
        try:
            report = self._run(ch)
        except DataStreamError as e:
            self._fail(e if e.stream is not None else DataStreamError(e.code, e.message, stream=ch.index))
        except DataPlaneError as e:
            self._fail(DataStreamError(e.code, e.message, stream=ch.index))
        except BaseException as e:  # noqa: BLE001 - a bug must still end the group, not hang it
            self._fail(DataStreamError("internal", f"data stream {ch.index} failed: {type(e).__name__}: {e}",
                                       stream=ch.index))
        else:
            if report is not None:
                self._ended(report)
        finally:
            self._lane_exit(ch)
            ch.close()

    def _run(self, ch: StreamChannel) -> StreamReport | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _lane_exit(self, ch: StreamChannel) -> None:
        pass

    def _ended(self, report: StreamReport) -> None:
        with self._lock:
            self._reports[report.stream] = report
            if len(self._reports) == len(self.channels) and not self._outcome.done():
                self._outcome.set_result(TransferReport(
                    tuple(self._reports[i] for i in range(len(self.channels))), time.monotonic() - self._t0))

    def _fail(self, error: DataStreamError) -> None:
        with self._lock:
            if self._outcome.done():
                return
            self._outcome.set_exception(error)
        self._stop_all()

    def _stop_all(self) -> None:
        self._stopping.set()
        for ch in self.channels:
            ch.stop()
        self._wake()

    def _wake(self) -> None:
        pass

    # -- public --------------------------------------------------------------------------------
    @property
    def streams(self) -> int:
        return len(self.channels)

    @property
    def done(self) -> bool:
        return self._outcome.done()

    @property
    def error(self) -> DataStreamError | None:
        return self._outcome.exception() if self._outcome.done() else None

    def join(self, timeout: float | None = None) -> TransferReport:
        """The report once every stream ended; the group's error if one failed;
        ``TimeoutError`` if neither happened within ``timeout``."""
        return self._outcome.result(timeout)

    async def wait(self) -> TransferReport:
        """:meth:`join` for a coroutine; cancelling it stops every stream."""
        try:
            return await asyncio.wrap_future(self._outcome)
        except asyncio.CancelledError:
            self.abort("the migration was cancelled")
            raise

    def abort(self, reason: str = "the data streams were stopped") -> None:
        """Stop every stream now: blocked reads and writes return at once. Waiters see a
        ``stopped`` error unless the group had already ended or failed."""
        with self._lock:
            if not self._outcome.done():
                self._outcome.set_exception(stopped(reason))
        self._stop_all()

    def close(self, timeout: float = 2.0) -> None:
        """Abort if still running, and wait (up to ``timeout``) for the threads to end."""
        if not self._outcome.done():
            self.abort()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(deadline - time.monotonic(), 0.0))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
