"""Moves one outgoing migration's messages onto the peer link and the data streams.

Control goes on the SSH peer link, data on the direct data streams or, tunnelled, on the
peer link too (docs/DATAPLANE.md).

Every decision is the ``SourceSession``'s; this pump only moves bytes and keeps time:
what the session hands out is sent, what arrives is handed in, a batch the session wants
is read in a worker thread while the previous one leaves, and a wait with nothing to show
for ``wait_timeout`` is a timeout. Data messages leave numbered (``seq``, 8 bytes) ahead of
their frame, sealed by the data plane's record layer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time

from ldtui.core.migration import codec
from ldtui.core.migration.codec import CodecError, decode
from ldtui.core.migration.messages import DataChannel, Go, PageBatch, TransferDone
from ldtui.core.migration.source_session import NATIVE, Outgoing, SourceSession
from ldtui.net.dataplane import DataConnectError, DataOffer, DataPlaneError, StreamSender, open_streams
from ldtui.net.dataplane.errors import OfferError

log = logging.getLogger("ldtui.net.migrate")

SEQ_BYTES = 8
"""A data message's number ahead of its frame on a data stream (big-endian)."""
CONNECT_TIMEOUT = 5.0
"""How long the source tries the direct data connections before it tunnels instead."""
DATA_LOSS_GRACE = 1.5
"""How long a broken data stream waits for the target's word on the control link: a target
that failed (its disk full, say) closes the streams and sends its reason as an Abort, and the
operator should read that reason, not that a stream was reset."""


class Pacer:
    """The optional bandwidth cap (``-b RATE``): data leaves no faster than ``rate`` bytes
    a second on average, measured on the wire (after compression). A frame waits until its
    own share of time is over, so even a transfer of one large frame keeps to the cap."""

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self._next = 0.0

    async def wait(self, nbytes: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        self._next = max(self._next, now) + nbytes / self.rate
        if self._next > now:
            await asyncio.sleep(self._next - now)


def offer_of(channel: DataChannel, mig_id: str) -> DataOffer:
    """The data plane's offer from the target's message (the secret travels as hex)."""
    try:
        secret = bytes.fromhex(channel.secret)
    except ValueError:
        raise OfferError("bad-offer", "the data connection offer's secret is not hex") from None
    return DataOffer(address=channel.address, port=channel.port, cipher=channel.cipher, streams=channel.streams,
                     migration_id=mig_id, secret=secret)


class SourcePump:
    """Drives ``session`` over ``link`` (a ``net.peer.PeerLink``) until the migration ends."""

    def __init__(self, session: SourceSession, link, *, wait_timeout: float, pacer: Pacer,
                 page_delay: float = 0.0, on_go_sent=(), connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.session = session
        self.link = link
        self.wait_timeout = wait_timeout
        self.pacer = pacer
        self.page_delay = page_delay
        self.on_go_sent = on_go_sent
        self.connect_timeout = connect_timeout
        self.sender: StreamSender | None = None
        self.stalled = 0.0
        """Seconds a batch was due but the window was full (waiting for acknowledgements)."""
        self._woken = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._sender_done: asyncio.Future | None = None
        self._data_failure: tuple[float, str] | None = None
        """(until when the target's own reason is awaited, the stream's) once a data stream broke."""

    @property
    def host(self) -> str:
        return self.session.run.engine.target_host

    def _wake(self) -> None:
        self._loop.call_soon_threadsafe(self._woken.set)

    async def run(self) -> None:
        s = self.session
        s.wake = self._wake
        s.start()
        reading: asyncio.Future | None = None
        get = asyncio.ensure_future(self.link.rpc.binary.get())
        lost = asyncio.ensure_future(self.link.rpc.closed.wait())
        try:
            while not s.finished:
                await self._flush()
                if s.finished:
                    break
                if s.data_channel is not None:
                    await self._open_data(s.data_channel)
                    continue
                if reading is None and s.wants_read:
                    s.begin_read()
                    reading = asyncio.ensure_future(asyncio.to_thread(s.read))
                waits = {get, lost, asyncio.ensure_future(self._woken.wait())}
                if reading is not None:
                    waits.add(reading)
                if self._sender_done is not None and not self._sender_done.done():
                    waits.add(self._sender_done)
                waited = time.monotonic() if s.awaiting_acks else 0.0
                timeout = None if reading is not None else self.wait_timeout
                if self._data_failure is not None:
                    grace = max(self._data_failure[0] - time.monotonic(), 0.0)
                    timeout = grace if timeout is None else min(timeout, grace)
                done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    if w not in (get, lost, reading, self._sender_done) and not w.done():
                        w.cancel()
                self._woken.clear()
                if waited:
                    self.stalled += time.monotonic() - waited
                if self._data_failure is not None and time.monotonic() >= self._data_failure[0]:
                    # The target said nothing of its own: the stream's failure is the reason.
                    reason, self._data_failure = self._data_failure[1], None
                    s.data_lost(reason)
                    if not done:
                        continue
                if not done:
                    s.timed_out()
                    continue
                if get in done:
                    self._receive(get.result())
                    while (frame := self.link.poll()) is not None and not s.finished:
                        self._receive(frame)
                    get = asyncio.ensure_future(self.link.rpc.binary.get())
                elif lost in done:
                    s.link_lost(f"Lost connection with {self.host}")
                    continue
                if reading is not None and reading in done:
                    event, reading = reading.result(), None
                    s.read_done(event)
                    if self.page_delay:
                        await asyncio.sleep(self.page_delay)
                if self._sender_done is not None and self._sender_done in done:
                    self._data_ended()
        finally:
            for task in (get, lost):
                task.cancel()
            if reading is not None:
                await asyncio.gather(reading, return_exceptions=True)
            await self._close_data()
            await self._flush(final=True)

    # -- the control link ------------------------------------------------------------------
    def _receive(self, frame: bytes) -> None:
        try:
            msg = decode(frame)
        except CodecError as e:
            self.session.link_lost(f"Garbled message from {self.host}: {e}")
            return
        self.session.received(msg)

    async def _flush(self, *, final: bool = False) -> None:
        """Send what the session handed out; a broken link is the session's news."""
        for out in self.session.take_outgoing():
            try:
                if out.data and self.session.transport == NATIVE and self.sender is not None:
                    await self._send_data(out)
                else:
                    await self._send_control(out)
            except (OSError, TimeoutError, ConnectionError, DataPlaneError, Exception) as e:
                log.warning("migration of %s: sending %s failed: %r", self.session.run.name,
                            type(out.message).__name__, e)
                if final or self.session.finished:
                    return
                if out.data and self.session.transport == NATIVE:
                    self._data_failed(f"Lost the data connection to {self.host}: {e}")
                else:
                    self.session.link_lost(f"Lost connection with {self.host}: {e}")
                continue
            if isinstance(out.message, TransferDone) and self.sender is not None:
                self.sender.finish()  # every data stream ends with its END record
            if isinstance(out.message, Go):
                await self._go_sent()

    async def _send_control(self, out: Outgoing) -> None:
        msg = out.message
        if isinstance(msg, PageBatch) and msg.packed is None:
            head, payload = await asyncio.to_thread(codec.encode_parts, msg)
        else:
            head, payload = codec.encode_parts(msg)
        size = len(head) + len(payload)
        if out.data:
            await self.pacer.wait(size)
        started = time.monotonic()
        await asyncio.wait_for(self.link.send(head, payload) if payload else self.link.send(head), self.wait_timeout)
        self.session.sent(out, size, time.monotonic() - started)

    async def _send_data(self, out: Outgoing) -> None:
        head, payload = codec.encode_parts(out.message)
        size = SEQ_BYTES + len(head) + len(payload)
        await self.pacer.wait(size)
        parts = [out.seq.to_bytes(SEQ_BYTES, "big"), head] + ([payload] if payload else [])
        run, msg = self.session.run, out.message
        release = (lambda: run.release_pages(msg.data)) if isinstance(msg, PageBatch) else None
        await asyncio.wait_for(self.sender.send_async(parts, release=release), self.wait_timeout)
        # How fast the link takes it is measured where the bytes are written (on_sent).
        self.session.run.jobs.update(self.session.run.mig_id, wire=size)

    async def _go_sent(self) -> None:
        run = self.session.run
        for hook in list(self.on_go_sent):
            try:
                result = hook(run.name, run.engine.target_host)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_go_sent hook failed")

    # -- the data streams ------------------------------------------------------------------
    async def _open_data(self, channel: DataChannel) -> None:
        s = self.session
        want = min(s.wanted_streams, channel.streams)
        try:
            offer = offer_of(channel, s.run.mig_id)
            if want < offer.streams:
                raise OfferError("bad-offer", f"the target offers {offer.streams} streams, {want} wanted")
            channels = await open_streams(offer, timeout=self.connect_timeout)
        except (DataConnectError, OfferError) as e:
            log.info("migration of %s to %s: no direct data connection (%s); tunnelled through SSH",
                     s.run.name, self.host, e.message)
            s.data_unavailable(e.message)
            return
        except Exception as e:      # never a migration left waiting: as if it could not connect
            log.exception("migration of %s to %s: opening the data streams failed; tunnelled through SSH",
                          s.run.name, self.host)
            s.data_unavailable(f"the data streams could not be opened ({type(e).__name__})")
            return
        policy = s.policy
        self.sender = StreamSender(channels, send_timeout=self.wait_timeout,
                                   on_sent=(lambda i, n, t: policy.link_sent(n, t)) if policy is not None else None)
        self._sender_done = asyncio.ensure_future(self.sender.wait())
        log.info("migration of %s to %s: %d direct data stream(s), %s", s.run.name, self.host, len(channels),
                 channel.cipher)
        s.run.reuse_buffers = True  # the streams give each batch's buffer back once it is sealed
        s.data_connected(len(channels))

    def _data_ended(self) -> None:
        error = self._sender_done.exception() if not self._sender_done.cancelled() else None
        if error is not None:
            self._data_failed(f"Lost the data connection to {self.host}: {error}")

    def _data_failed(self, reason: str) -> None:
        """A data stream broke: the migration ends with the target's reason if it sends one
        within ``DATA_LOSS_GRACE``, else with this one."""
        if self._data_failure is None:
            self._data_failure = (time.monotonic() + DATA_LOSS_GRACE, reason)

    async def _close_data(self) -> None:
        if self.sender is None:
            return
        if not self.sender.done:
            self.sender.abort("the migration ended")
        await asyncio.to_thread(self.sender.close, 2.0)
        if self._sender_done is not None:
            await asyncio.gather(self._sender_done, return_exceptions=True)
