"""The source's side of opening the data streams: connect, HELLO, wait for ACCEPT.

A stream counts as open only when the target's ACCEPT authenticates: then the source
knows it reached the manager that made the offer, not merely something listening on
that port. Any failure closes every stream opened so far and raises one
:class:`DataConnectError`, so the caller can fall back to tunnelling through the control
link.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time

from ldtui.net.dataplane.channel import StreamChannel
from ldtui.net.dataplane.errors import DataConnectError, DataPlaneError
from ldtui.net.dataplane.keys import DataOffer
from ldtui.net.dataplane.records import Hello, RecordType, check_accept, sealed_size

CONNECT_TIMEOUT = 5.0
_ACCEPT_SIZE = sealed_size(3)  # the ACCEPT record: version and stream index
_UNREACHABLE = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL})


def _where(offer: DataOffer) -> str:
    return f"{offer.address} port {offer.port}"


def _os_error(offer: DataOffer, stream: int, e: OSError) -> DataConnectError:
    if isinstance(e, TimeoutError):
        return DataConnectError("timeout", f"data stream {stream} to {_where(offer)} timed out")
    if e.errno in _UNREACHABLE:
        return DataConnectError("unreachable", f"cannot open a data stream to {_where(offer)}: "
                                               f"{e.strerror or e}")
    if isinstance(e, ConnectionError):
        return DataConnectError("refused-by-target", f"the target at {_where(offer)} closed data stream "
                                                     f"{stream} before accepting it")
    return DataConnectError("socket", f"data stream {stream} to {_where(offer)} failed: {e.strerror or e}")


def _hello(offer: DataOffer, stream: int):
    sealer, opener = offer.source_end(stream)
    hello = sealer.seal(RecordType.HELLO, Hello(stream=stream, streams=offer.streams,
                                                migration_id=offer.migration_id).pack())
    return sealer, opener, hello


def _check(offer: DataOffer, stream: int, opener, raw: bytes) -> None:
    if len(raw) < _ACCEPT_SIZE:
        raise DataConnectError("refused-by-target", f"the target at {_where(offer)} refused data stream {stream}")
    try:
        rtype, payload = opener.open(raw)
        check_accept(payload, stream)
    except DataPlaneError:
        raise DataConnectError("bad-accept", f"the answer on data stream {stream} from {_where(offer)} does "
                                             "not authenticate: it is not the target that made the offer") from None


def _recv_accept(sock: socket.socket, deadline: float) -> bytes:
    buf = b""
    while len(buf) < _ACCEPT_SIZE:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(_ACCEPT_SIZE - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def connect_stream(offer: DataOffer, stream: int, *, timeout: float = CONNECT_TIMEOUT) -> StreamChannel:
    """Open one stream of ``offer`` (blocking): connect, HELLO, and the target's ACCEPT."""
    deadline = time.monotonic() + timeout
    sealer, opener, hello = _hello(offer, stream)
    try:
        sock = socket.create_connection((offer.address, offer.port), timeout=max(deadline - time.monotonic(), 0.001))
    except OSError as e:
        raise _os_error(offer, stream, e) from None
    try:
        sock.sendall(hello)
        _check(offer, stream, opener, _recv_accept(sock, deadline))
        return StreamChannel(sock, stream, sealer, opener)
    except OSError as e:
        sock.close()
        raise _os_error(offer, stream, e) from None
    except BaseException:
        sock.close()
        raise


def connect_streams(offer: DataOffer, *, timeout: float = CONNECT_TIMEOUT) -> list[StreamChannel]:
    """Open every stream of ``offer`` (blocking), all within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    channels: list[StreamChannel] = []
    try:
        for stream in range(offer.streams):
            channels.append(connect_stream(offer, stream, timeout=max(deadline - time.monotonic(), 0.001)))
        return channels
    except BaseException:
        for ch in channels:
            ch.close()
        raise


async def open_streams(offer: DataOffer, *, timeout: float = CONNECT_TIMEOUT) -> list[StreamChannel]:
    """:func:`connect_streams` for a coroutine: the streams open side by side, and a cancel
    closes them at once."""
    loop = asyncio.get_running_loop()
    socks: list[socket.socket] = []

    async def one(stream: int) -> StreamChannel:
        sealer, opener, hello = _hello(offer, stream)
        family = socket.AF_INET6 if ":" in offer.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        socks.append(sock)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (offer.address, offer.port))
            await loop.sock_sendall(sock, hello)
            raw = b""
            while len(raw) < _ACCEPT_SIZE:
                chunk = await loop.sock_recv(sock, _ACCEPT_SIZE - len(raw))
                if not chunk:
                    break
                raw += chunk
        except OSError as e:
            raise _os_error(offer, stream, e) from None
        _check(offer, stream, opener, raw)
        return StreamChannel(sock, stream, sealer, opener)

    tasks = [asyncio.ensure_future(one(i)) for i in range(offer.streams)]
    try:
        async with asyncio.timeout(timeout):
            return list(await asyncio.gather(*tasks))
    except TimeoutError:
        raise DataConnectError("timeout", f"the data streams to {_where(offer)} did not open within "
                                          f"{timeout:g} s") from None
    finally:
        if not all(t.done() and not t.cancelled() and t.exception() is None for t in tasks):
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for s in socks:
                s.close()

