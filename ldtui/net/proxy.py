"""A TCP relay between two lab hosts whose link can be cut.

It lets tests show that a dead peer is noticed within a bounded time, that a migration whose
link is lost before the handoff is rolled back, and that one lost at the handoff leaves the
source in the error state ``e``.

Peer managers in a lab reach each other through one :class:`LinkProxy` per ordered host
pair, so a test or a demonstration can break the network exactly where it wants:

* :meth:`LinkProxy.cut` resets every relayed connection at once (a cable pulled, a peer
  rebooted): both ends see the reset immediately. New connections are accepted.
* :meth:`LinkProxy.blackhole` keeps connections open but lets nothing through, new or old
  (a partition): only keepalive can tell the ends that the other is gone.
* :meth:`LinkProxy.restore` lets traffic flow again.

The control methods may be called from any thread; the relay runs on its event loop.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

_CHUNK = 1 << 18


class LinkProxy:
    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1",
                 listen_port: int = 0, name: str = "") -> None:
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.name = name or f"->{target_host}:{target_port}"
        self.port = 0
        self.mode = "open"
        """``open``, ``blackhole``; a cut is an instant, not a mode."""
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.connections_seen = 0

    async def start(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, *self.listen)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            self._reset_all()
            await self._server.wait_closed()
            self._server = None

    def retarget(self, port: int) -> None:
        """Point the relay at a restarted host's new port."""
        self.target = (self.target[0], port)

    # -- control (any thread) ------------------------------------------------------------
    def _on_loop(self, fn) -> None:
        loop = self._loop
        if loop is None:
            fn()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()
        loop.call_soon_threadsafe(run)
        done.wait(5)

    def cut(self) -> None:
        self._on_loop(self._reset_all)

    def blackhole(self) -> None:
        def apply() -> None:
            self.mode = "blackhole"
            self._flowing.clear()
        self._on_loop(apply)

    def restore(self) -> None:
        def apply() -> None:
            self.mode = "open"
            self._flowing.set()
        self._on_loop(apply)

    # -- relay ---------------------------------------------------------------------------
    def _reset_all(self) -> None:
        for a, b in list(self._pairs):
            for w in (a, b):
                _reset(w)
        self._pairs.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_seen += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 10)
        except (OSError, TimeoutError):
            _reset(writer)
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer, back=True))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.close()

    def _swallows(self, back: bool) -> bool:
        """Whether bytes in this direction vanish now (``back``: target towards source)."""
        return not self._flowing.is_set()   # a partition swallows what is in flight

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, back: bool = False) -> None:
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    writer.write_eof() if writer.can_write_eof() else None
                    return
                if self._swallows(back):
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):
            return


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, as a dropped link looks to the ends."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()
