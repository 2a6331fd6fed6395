"""One authenticated data stream over a connected TCP socket: whole records in and out.

Blocking calls meant for a thread of their own. Buffers are kept and reused: a record is
sealed into the channel's send buffer and leaves in one ``sendall``; a received record is
read into the channel's receive buffer and opened into its payload buffer, which the
caller sees as a view until the next record is read.
"""

from __future__ import annotations

import errno
import select
import socket
import threading

from ldtui.net.dataplane.errors import DataPlaneError, DataStreamError, RecordError
from ldtui.net.dataplane.records import HEADER_SIZE, Opener, RecordType, Sealer, sealed_size

_MIN_BUFFER = 64 << 10
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN})


class StreamChannel:
    """One stream's socket with its sealer (what this end sends) and opener (what it
    receives). Guarantees: records are written whole and in order; a payload is returned
    only once it authenticated; every failure is a :class:`DataStreamError` naming the
    stream, and after :meth:`stop` any blocked call returns at once with code ``stopped``."""

    def __init__(self, sock: socket.socket, index: int, sealer: Sealer, opener: Opener) -> None:
        self.sock = sock
        self.index = index
        self.sealer = sealer
        self.opener = opener
        try:
            self.peer = sock.getpeername()[:2]
        except OSError:
            self.peer = ("?", 0)
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._out = bytearray()
        self._sealed = bytearray()
        self._plain = bytearray()
        self._head = bytearray(HEADER_SIZE)
        self._stopped = False
        self._closed = False
        self._lock = threading.Lock()  # stop() from another thread never races close()
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)

    def __repr__(self) -> str:
        return f"StreamChannel(stream {self.index}, peer {self.peer[0]}:{self.peer[1]})"

    def _buffer(self, name: str, size: int, limit: int) -> memoryview:
        """A reused buffer of at least ``size`` bytes; a bigger one replaces it (never
        resized in place, so a view the caller still holds stays valid)."""
        buf = getattr(self, name)
        if len(buf) < size:
            buf = bytearray(min(max(size, _MIN_BUFFER, 2 * len(buf)), limit))
            setattr(self, name, buf)
        return memoryview(buf)

    def set_timeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    # -- sending -------------------------------------------------------------------------------
    def send_record(self, rtype: RecordType, parts) -> int:
        """Seal and write one record; returns its size on the wire."""
        limit = sealed_size(self.sealer.max_record)
        views = [parts] if isinstance(parts, (bytes, bytearray, memoryview)) else parts
        need = sealed_size(sum(memoryview(p).nbytes for p in views))
        out = self._buffer("_out", need, max(limit, need))
        try:
            n = self.sealer.seal_into(rtype, views, out)
            self.sock.sendall(out[:n])
        except RecordError as e:
            raise DataStreamError(e.code, e.message, stream=self.index) from None
        except OSError as e:
            raise self._error(e, "sending") from None
        return n

    # -- receiving -----------------------------------------------------------------------------
    def recv_record(self) -> tuple[RecordType, memoryview] | None:
        """The next record's type and payload (a view valid until the next call), or None
        when the peer closed the stream cleanly between two records."""
        try:
            if not self._recv_exact(memoryview(self._head), allow_eof=True):
                return None
            header = self.opener.header(bytes(self._head))
            limit = sealed_size(self.opener.max_record)
            sealed = self._buffer("_sealed", header.sealed_size, limit)[:header.sealed_size]
            self._recv_exact(sealed, allow_eof=False)
            plain = self._buffer("_plain", header.length, limit)
            return header.type, self.opener.open_into(header, sealed, plain)
        except RecordError as e:
            raise DataStreamError(e.code, e.message, stream=self.index) from None
        except OSError as e:
            raise self._error(e, "receiving") from None

    def _recv_exact(self, view: memoryview, *, allow_eof: bool) -> bool:
        got = 0
        while got < len(view):
            n = self.sock.recv_into(view[got:])
            if not n:
                if self._stopped:
                    raise DataStreamError("stopped", "the data streams were stopped", stream=self.index)
                if got == 0 and allow_eof:
                    return False
                raise DataStreamError("truncated", f"data stream {self.index} from {self.peer[0]} ended "
                                                   "in the middle of a record", stream=self.index)
            got += n
        return True

    def readable(self) -> bool:
        """Whether more bytes from the peer are already waiting on the socket."""
        return bool(self._poll.poll(0))

    def probe(self) -> None:
        """Raise if the peer closed or reset the stream, or sent something, while this end
        expects nothing from it; returns at once otherwise."""
        # A socket with a timeout waits inside recv() whatever the flags say: ask poll first.
        if not self._poll.poll(0):
            return
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            raise self._error(e, "waiting") from None
        if not data:
            raise DataStreamError("reset", f"the target closed data stream {self.index}", stream=self.index)
        raise DataStreamError("unexpected-record", f"the target sent data on stream {self.index} "
                                                   "before its end", stream=self.index)

    def _error(self, e: OSError, doing: str) -> DataPlaneError:
        if self._stopped:
            return DataStreamError("stopped", "the data streams were stopped", stream=self.index)
        if isinstance(e, TimeoutError):
            return DataStreamError("timeout", f"data stream {self.index} to {self.peer[0]} timed out {doing}",
                                   stream=self.index)
        if e.errno in _RESET_ERRNOS or isinstance(e, ConnectionError):
            return DataStreamError("reset", f"data stream {self.index} with {self.peer[0]} was reset",
                                   stream=self.index)
        return DataStreamError("socket", f"data stream {self.index} failed {doing}: {e.strerror or e}",
                               stream=self.index)

    # -- ending --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Wake any thread blocked on this stream; it then fails with ``stopped``."""
        with self._lock:
            self._stopped = True
            if not self._closed:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            try:
                self.sock.close()
            except OSError:
                pass
