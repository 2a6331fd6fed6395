"""Moves one incoming migration's messages in from the peer link and the data streams.

Control arrives on the RPC conversation the source opened over SSH, data from the one-time
data listener's streams (docs/DATAPLANE.md).

The ``TargetSession`` decides; this pump opens the listener when the session asks, takes
each data stream's records in that stream's own thread (decoded and written there, so
decryption, decompression and page writes of several streams overlap), sends whatever the
session answers on the control link, and keeps time: the source counts as alive while
either path brings something.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

import attrs

from ldtui.core.migration.codec import CodecError, decode
from ldtui.core.migration.messages import DataChannel, PageBatch
from ldtui.core.migration.target_session import TargetSession
from ldtui.net.dataplane import DataListener, DataPlaneError, StreamReceiver
from ldtui.net.inbox import next_or_closed
from ldtui.net.source_pump import SEQ_BYTES

log = logging.getLogger("ldtui.net.migrate")

INLINE_FRAME = 64 << 10
"""Control frames up to this size are decoded on the loop itself; larger ones (tunnelled
page batches) in a worker thread."""


@attrs.frozen(kw_only=True)
class DataPlaneSettings:
    """This host's side of the data plane: where its listener may be, what it offers."""

    enabled: bool = True
    address: str = ""
    """Listen on this address (default: the one the source reached this host on)."""
    advertise: str = ""
    """Offer this address instead: a forwarded one."""
    advertise_port: int | None = None
    ports: tuple[int, int] = (49152, 49407)
    cipher: str = "aes-256-gcm"


def keep(msg):
    """A data message that must wait for an earlier one: its pages copied out of the
    stream's reused buffer."""
    if isinstance(msg, PageBatch) and isinstance(msg.data, memoryview):
        return attrs.evolve(msg, data=bytes(msg.data))
    return msg


class TargetPump:
    """Drives ``session`` over ``ctx`` (the ``migration.receive`` RPC conversation)."""

    def __init__(self, session: TargetSession, ctx, *, wait_timeout: float, settings: DataPlaneSettings,
                 streams: int = 1) -> None:
        self.session = session
        self.ctx = ctx
        self.wait_timeout = wait_timeout
        self.settings = settings
        self.streams = max(1, streams)
        self.listener: DataListener | None = None
        self.receiver: StreamReceiver | None = None
        self._loop = asyncio.get_running_loop()
        self._replies: list = []
        self._woken = asyncio.Event()
        self._heard = time.monotonic()
        self._accepting: asyncio.Task | None = None
        self._receiving: asyncio.Future | None = None

    async def run(self) -> dict:
        s = self.session
        try:
            while not s.finished:
                if not await self._send(self._take_replies()):
                    break
                if s.finished:
                    break
                try:
                    frame = await self._next_frame()
                except TimeoutError:
                    await self._send(s.timed_out())
                    break
                if frame is None:
                    s.link_lost()
                    break
                if frame is ...:
                    continue  # woken by a data stream, or it ended
                self._heard = time.monotonic()
                try:
                    if len(frame) > INLINE_FRAME:
                        out = await asyncio.to_thread(self._control, frame)
                    else:
                        out = self._control(frame)
                except CodecError as e:
                    log.warning("migration from %s: %s", self.ctx.peer, e)
                    s.link_lost(f"Garbled message from the source: {e}")
                    break
                if s.run.mig_id:
                    s.run.jobs.update(s.run.mig_id, wire=len(frame))
                if s.wants_listener:
                    out += self._open_listener()
                if self.ctx.binary.empty():
                    out += s.caught_up()
                if not await self._send(out) and not s.finished:
                    s.link_lost()
        finally:
            # What the session answered last (an Abort with the reason, when a data stream's
            # thread ended the migration) goes out before the streams close.
            await self._send(self._take_replies())
            await self._close_data()
            if not s.finished:
                s.link_lost()
        status = s.outcome.status if s.outcome else "failed"
        return {"status": status, "lines": list(s.outcome.lines) if s.outcome else []}

    def _control(self, frame: bytes) -> list:
        return self.session.control(decode(frame))

    async def _next_frame(self):
        """The next control frame; ``None`` once the source is gone; ``...`` when a data
        stream has news. Raises ``TimeoutError`` when neither path brought anything for
        ``wait_timeout``."""
        receiving, woken = self._receiving, None

        def also():
            nonlocal woken
            woken = asyncio.ensure_future(self._woken.wait())
            return [receiving, woken] if receiving is not None and not receiving.done() else [woken]

        try:
            got = await next_or_closed(self.ctx.binary, self.ctx.closed, also=also,
                                       timeout=lambda: self._heard + self.wait_timeout - time.monotonic())
        finally:
            if woken is not None:
                woken.cancel()
        if woken is None:
            return got  # it was there already, or the source was gone: nothing was waited for
        self._woken.clear()
        if got is receiving and receiving is not None:
            self._data_ended()
            return ...
        if got is woken:
            return ...
        return got

    async def _send(self, messages) -> bool:
        from ldtui.core.migration.codec import encode
        try:
            for m in messages:
                await self.ctx.send_binary(encode(m))
        except (OSError, ConnectionError, Exception):
            return False
        return True

    def _take_replies(self) -> list:
        out, self._replies = self._replies, []
        return out

    def _post(self, replies: list) -> None:
        """Called in a data stream's thread: answers for the control link."""
        self._heard = time.monotonic()
        if replies:
            self._loop.call_soon_threadsafe(self._deliver, replies)

    def _deliver(self, replies: list) -> None:
        self._replies.extend(replies)
        self._woken.set()

    # -- the data streams ------------------------------------------------------------------
    def _open_listener(self) -> list:
        s = self.session
        address = self.settings.address or self.ctx.local
        channel = None
        if self.settings.enabled and address and _is_ip(address):
            try:
                self.listener = DataListener.open(
                    migration_id=s.run.mig_id, streams=self.streams, cipher=self.settings.cipher,
                    address=address, ports=self.settings.ports, advertise=self.settings.advertise or None,
                    advertise_port=self.settings.advertise_port, accept_timeout=self.wait_timeout)
            except DataPlaneError as e:
                log.warning("migration from %s: no data listener (%s); the source will tunnel", self.ctx.peer,
                            e.message)
            else:
                offer = self.listener.offer
                channel = DataChannel(address=offer.address, port=offer.port, streams=offer.streams,
                                      cipher=offer.cipher, secret=offer.secret.hex())
                self._accepting = asyncio.ensure_future(self._accept())
        return s.listener_ready(channel)

    async def _accept(self) -> None:
        try:
            channels = await self.listener.wait_accepted()
        except DataPlaneError as e:
            if self.session.transport != "tunnelled":
                log.info("migration from %s: data streams did not arrive: %s", self.ctx.peer, e.message)
            return
        self.receiver = StreamReceiver(channels, self._on_data, idle_timeout=self.wait_timeout,
                                       on_idle=self._on_idle)
        self._receiving = asyncio.ensure_future(self.receiver.wait())
        self._woken.set()  # the control wait now also watches the streams

    def _on_data(self, stream: int, payload: memoryview) -> None:
        if len(payload) < SEQ_BYTES:
            self._post(self.session.data_lost("Garbled data from the source: a record without its number"))
            return
        seq = int.from_bytes(payload[:SEQ_BYTES], "big")
        try:
            msg = decode(payload[SEQ_BYTES:])
        except CodecError as e:
            self._post(self.session.data_lost(f"Garbled data from the source: {e}"))
            return
        s = self.session
        if s.run.mig_id:
            s.run.jobs.update(s.run.mig_id, wire=len(payload))
        self._post(s.data(seq, msg, keep))

    def _on_idle(self, stream: int) -> None:
        self._post(self.session.caught_up())

    def _data_ended(self) -> None:
        fut = self._receiving
        error = None if fut.cancelled() else fut.exception()
        if error is not None:
            cause = error.__cause__ or error
            log.warning("migration from %s: the data streams ended: %s", self.ctx.peer, error,
                        exc_info=None if cause is error and isinstance(error, DataPlaneError) else cause)
            self._replies.extend(self.session.data_lost(f"Lost the data connection from the source: {error}"))

    async def _close_data(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        if self.listener is not None:
            await asyncio.to_thread(self.listener.close)
        if self.receiver is not None:
            if not self.receiver.done:
                self.receiver.abort("the migration ended")
            await asyncio.to_thread(self.receiver.close, 2.0)
        if self._receiving is not None:
            await asyncio.gather(self._receiving, return_exceptions=True)
        # The receiver's callbacks point back here: let the buffers go with the migration.
        self.receiver = self.listener = self._receiving = self._accepting = None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
