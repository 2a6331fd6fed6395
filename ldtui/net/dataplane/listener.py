"""The target's one-time listener for the data streams of one migration.

One thread watches the listening socket and every connection that has not yet proved
itself, with a selector, so a peer that connects and says nothing costs a slot and a
deadline, never a thread, and never delays the others. A connection is taken only when
its first record is a HELLO that authenticates under this migration's secret, for a
stream not yet taken; it is then answered with an authenticated ACCEPT and handed over.
Every other connection is closed without a word and logged once, with its address and
why — never the secret or what it sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import ipaddress
import logging
import selectors
import socket
import threading
import time

import attrs

from ldtui.net.dataplane.channel import StreamChannel
from ldtui.net.dataplane.errors import DataPlaneError, ListenerError, RecordError
from ldtui.net.dataplane.keys import DataOffer
from ldtui.net.dataplane.records import (
    AES_GCM, DEFAULT_MAX_RECORD, HEADER, HEADER_SIZE, MAX_MIGRATION_ID, PROTOCOL_VERSION, TAG_SIZE, Hello,
    RecordType, accept_payload, new_master_secret, sealed_size,
)

log = logging.getLogger("ldtui.net.dataplane")

DATA_PORTS = (49152, 49407)
"""The ports a target tries, in order, for a migration's data listener (host config may say)."""
HELLO_TIMEOUT = 5.0
ACCEPT_TIMEOUT = 30.0
MAX_PENDING = 16
"""Connections that may be proving themselves at once; a newcomer beyond that evicts the
one that has waited longest."""
MAX_LOGGED = 32
"""Refusals logged one by one per listener; beyond that they are counted and summed up once."""
_HELLO_MAX = sealed_size(5 + MAX_MIGRATION_ID)


@attrs.frozen
class Refusal:
    """A connection the listener refused: who, and why (``code`` for tests, ``reason`` for
    the log)."""

    peer: tuple[str, int]
    code: str
    reason: str


class _Pending:
    __slots__ = ("sock", "peer", "deadline", "buf")

    def __init__(self, sock: socket.socket, peer: tuple[str, int], deadline: float) -> None:
        self.sock, self.peer, self.deadline, self.buf = sock, peer, deadline, bytearray()


def _bind(address: str, ports: tuple[int, int]) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    low, high = ports
    for port in range(low, high + 1):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            s.listen(MAX_PENDING)
            s.setblocking(False)
            return s
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRINUSE:
                raise ListenerError("cannot-listen", f"cannot listen on {address} port {port} for the data "
                                                     f"streams: {e.strerror or e}") from None
    raise ListenerError("no-free-port", f"no free port in {low}..{high} on {address} for the data streams")


class DataListener:
    """Listens for exactly ``streams`` data streams of one migration.

    Guarantees: a connection becomes a stream only if its first record is a HELLO that
    authenticates under this migration's fresh secret, names this migration and a stream
    not yet taken, and arrives within ``hello_timeout``; every other connection (no
    secret, wrong secret, a replay from another migration, a duplicate or extra stream, one
    after the end) is closed, recorded in :attr:`refusals` and logged once, and changes
    nothing for the streams already taken. The port closes as soon as every stream has
    arrived, on :meth:`close`, or after ``accept_timeout``."""

    def __init__(self, sock: socket.socket, offer: DataOffer, *, hello_timeout: float,
                 accept_timeout: float, max_pending: int) -> None:
        self._lsock = sock
        self.offer = offer
        self.port = sock.getsockname()[1]
        self._hello_timeout = hello_timeout
        self._deadline = time.monotonic() + accept_timeout
        self._accept_timeout = accept_timeout
        self._max_pending = max_pending
        self._refusals: list[Refusal] = []
        self._unlogged = 0
        self._taken: dict[int, StreamChannel] = {}
        self._outcome: concurrent.futures.Future = concurrent.futures.Future()
        self._outcome.set_running_or_notify_cancel()  # waiters' cancels never cancel the outcome
        self._closing = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=f"dataplane-listen-{self.port}", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, *, migration_id: str, streams: int = 1, cipher: str = AES_GCM, address: str = "127.0.0.1",
             ports: tuple[int, int] = DATA_PORTS, advertise: str | None = None, advertise_port: int | None = None,
             hello_timeout: float = HELLO_TIMEOUT, accept_timeout: float = ACCEPT_TIMEOUT,
             max_record: int = DEFAULT_MAX_RECORD, max_pending: int = MAX_PENDING) -> DataListener:
        """Listen on ``address``, on the first free port of ``ports`` (``(0, 0)``: any).

        ``advertise`` (and ``advertise_port``) is what the offer names instead, for a target
        the source reaches through a forwarded address and port."""
        host = advertise or address
        if ipaddress.ip_address(host).is_unspecified:
            raise ListenerError("no-address", f"listening on {address} needs the address to offer the source")
        sock = _bind(address, ports)
        try:
            offer = DataOffer(address=host, port=advertise_port or sock.getsockname()[1], cipher=cipher,
                              streams=streams,
                              migration_id=migration_id, secret=new_master_secret(), max_record=max_record)
        except DataPlaneError:
            sock.close()
            raise
        return cls(sock, offer, hello_timeout=hello_timeout, accept_timeout=accept_timeout,
                   max_pending=max_pending)

    def __repr__(self) -> str:
        return (f"DataListener({self.offer.address}:{self.port}, {len(self._taken)}/{self.offer.streams} streams, "
                f"{len(self._refusals)} refused)")

    @property
    def refusals(self) -> tuple[Refusal, ...]:
        return tuple(self._refusals)

    @property
    def listening(self) -> bool:
        return self._thread.is_alive()

    # -- waiting -------------------------------------------------------------------------------
    def accepted(self, timeout: float | None = None) -> list[StreamChannel]:
        """Every stream, by index, once all arrived; raises :class:`ListenerError` if the
        listener timed out or was closed first (``TimeoutError`` if ``timeout`` passes)."""
        return self._outcome.result(timeout)

    async def wait_accepted(self) -> list[StreamChannel]:
        """:meth:`accepted` for a coroutine; cancelling it closes the listener."""
        try:
            return await asyncio.wrap_future(self._outcome)
        except asyncio.CancelledError:
            self._request_close()  # the thread ends by itself; the loop never waits for it
            raise

    def close(self) -> None:
        """Stop listening; connections still proving themselves are refused, and streams
        taken but not yet handed out (not every stream arrived) are closed."""
        self._request_close()
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    def _request_close(self) -> None:
        if not self._closing.is_set():
            self._closing.set()
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass

    # -- the watching thread ---------------------------------------------------------------------
    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        pending: dict[socket.socket, _Pending] = {}
        sel.register(self._lsock, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                now = time.monotonic()
                if self._closing.is_set():
                    return self._finish(sel, pending, ListenerError(
                        "closed", "the migration's data listener was closed"), "closed",
                        "the migration's data listener is closed")
                if now >= self._deadline:
                    return self._finish(sel, pending, ListenerError(
                        "accept-timeout", f"only {len(self._taken)} of {self.offer.streams} data streams connected "
                                          f"within {self._accept_timeout:g} s"), "late",
                        "the migration's data listener timed out")
                for p in [p for p in pending.values() if p.deadline <= now]:
                    self._refuse(sel, pending, p, "no-hello", f"no HELLO within {self._hello_timeout:g} s")
                wait = min([self._deadline, *(p.deadline for p in pending.values())]) - now
                for key, _ in sel.select(max(wait, 0.0)):
                    if key.data == "listen":
                        self._accept_new(sel, pending)
                    elif key.data == "wake":
                        continue
                    else:
                        self._read_hello(sel, pending, key.data)
                if len(self._taken) == self.offer.streams:
                    return self._finish(sel, pending, None, "extra",
                                        f"all {self.offer.streams} data streams are already connected")
        except BaseException as e:  # pragma: no cover - a bug here must not leave waiters hanging
            log.exception("data listener on port %d failed", self.port)
            self._set(ListenerError("internal", f"the data listener failed: {type(e).__name__}"))
            raise

    def _accept_new(self, sel, pending) -> None:
        while True:
            try:
                sock, peer = self._lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.info("data listener on port %d: accept failed: %s", self.port, e.strerror or e)
                return
            if len(pending) >= self._max_pending:
                # The oldest goes, not the newest: a source sends its HELLO at once, so a
                # flood of silent peers can delay it but not keep it out.
                oldest = min(pending.values(), key=lambda q: q.deadline)
                self._refuse(sel, pending, oldest, "busy", f"{self._max_pending} connections were waiting")
            sock.setblocking(False)
            p = _Pending(sock, peer[:2], time.monotonic() + self._hello_timeout)
            pending[sock] = p
            sel.register(sock, selectors.EVENT_READ, p)
            self._read_hello(sel, pending, p)  # it is usually here already

    def _read_hello(self, sel, pending, p: _Pending) -> None:
        while p.sock in pending:
            want = HEADER_SIZE if len(p.buf) < HEADER_SIZE else HEADER_SIZE + HEADER.unpack_from(p.buf)[3] + TAG_SIZE
            try:
                data = p.sock.recv(want - len(p.buf))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                return self._refuse(sel, pending, p, "reset", f"connection failed before its HELLO: {e.strerror or e}")
            if not data:
                return self._refuse(sel, pending, p, "no-hello", "closed before sending a HELLO")
            p.buf += data
            if len(p.buf) == HEADER_SIZE:
                rtype, flags, stream, length = HEADER.unpack_from(p.buf)
                if rtype != RecordType.HELLO or flags or sealed_size(length) > _HELLO_MAX:
                    return self._refuse(sel, pending, p, "bad-hello", "its first record is not a data stream HELLO")
                if stream >= self.offer.streams:
                    return self._refuse(sel, pending, p, "bad-hello",
                                        f"it names stream {stream}; this migration has {self.offer.streams}")
            elif len(p.buf) == want:
                return self._check_hello(sel, pending, p)

    def _check_hello(self, sel, pending, p: _Pending) -> None:
        stream = HEADER.unpack_from(p.buf)[2]
        sealer, opener = self.offer.target_end(stream)
        try:
            rtype, payload = opener.open(bytes(p.buf))
            hello = Hello.unpack(payload)
        except RecordError:
            return self._refuse(sel, pending, p, "bad-hello",
                                "its HELLO does not authenticate (no or wrong secret, or another migration's)")
        if (hello.version, hello.stream, hello.streams, hello.migration_id) != (
                PROTOCOL_VERSION, stream, self.offer.streams, self.offer.migration_id):
            return self._refuse(sel, pending, p, "bad-hello", "its HELLO does not match this migration")
        if stream in self._taken:
            return self._refuse(sel, pending, p, "duplicate-stream", f"stream {stream} is already connected")
        record = sealer.seal(RecordType.ACCEPT, accept_payload(stream))
        try:
            # A fresh socket's send buffer always holds a record this small.
            if p.sock.send(record) != len(record):
                raise BlockingIOError
        except OSError as e:
            return self._refuse(sel, pending, p, "reset", f"connection failed before its ACCEPT: {e.strerror or e}")
        sel.unregister(p.sock)
        del pending[p.sock]
        self._taken[stream] = StreamChannel(p.sock, stream, sealer, opener)
        log.info("data stream %d of migration %s connected from %s:%d", stream, self.offer.migration_id, *p.peer)

    def _refuse(self, sel, pending, p: _Pending, code: str, reason: str) -> None:
        self._refusals.append(Refusal(p.peer, code, reason))
        if len(self._refusals) <= MAX_LOGGED:
            log.warning("refused a data connection from %s:%d for migration %s: %s", p.peer[0], p.peer[1],
                        self.offer.migration_id, reason)
        else:
            self._unlogged += 1
        if p.sock in pending:
            sel.unregister(p.sock)
            del pending[p.sock]
        try:
            p.sock.close()
        except OSError:
            pass

    def _finish(self, sel, pending, error: ListenerError | None, code: str, reason: str) -> None:
        """Stop listening: whatever still waits, in the backlog or proving itself, is refused."""
        self._accept_new_refusing(sel, pending, code, reason)
        for p in list(pending.values()):
            self._refuse(sel, pending, p, code, reason)
        sel.close()
        self._lsock.close()
        self._wake_r.close()
        self._wake_w.close()
        if self._unlogged:
            log.warning("refused %d more data connections for migration %s (not logged one by one)",
                        self._unlogged, self.offer.migration_id)
        if error is not None:
            for ch in self._taken.values():
                ch.close()
        self._set(error)

    def _accept_new_refusing(self, sel, pending, code: str, reason: str) -> None:
        while True:
            try:
                sock, peer = self._lsock.accept()
            except OSError:
                return
            self._refuse(sel, pending, _Pending(sock, peer[:2], 0.0), code, reason)

    def _set(self, error: ListenerError | None) -> None:
        if self._outcome.done():
            return
        if error is None:
            self._outcome.set_result([self._taken[i] for i in range(self.offer.streams)])
        else:
            self._outcome.set_exception(error)
