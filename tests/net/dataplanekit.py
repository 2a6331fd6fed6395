"""Helpers of the data-plane tests: a listener and its source on loopback, a recording
relay that sits between them as a network attacker would, and bounded waits."""

from __future__ import annotations

import socket
import struct
import threading
import time

import attrs

from ldtui.net.dataplane import DataListener, connect_streams

WAIT = 10.0
"""The longest any test waits for anything."""


def wait_until(cond, timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def open_listener(streams: int = 1, **kw) -> DataListener:
    kw.setdefault("hello_timeout", 1.0)
    kw.setdefault("accept_timeout", WAIT)
    return DataListener.open(migration_id=kw.pop("migration_id", "mig-1"), streams=streams, ports=(0, 0), **kw)


def connected_pair(streams: int = 1, **kw):
    """(listener, source channels, target channels) with every stream open."""
    listener = open_listener(streams, **kw)
    source = connect_streams(listener.offer, timeout=WAIT)
    target = listener.accepted(WAIT)
    return listener, source, target


def raw_connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return s


def closed_by_peer(sock: socket.socket, timeout: float = WAIT) -> bool:
    """True once the other end closed ``sock`` (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


class Relay:
    """A TCP relay between source and target that records what the source sends, and may
    flip one byte of it in flight (``flip_at``): an attacker on the path."""

    def __init__(self, upstream_port: int, *, flip_at: int | None = None) -> None:
        self.upstream = upstream_port
        self.flip_at = flip_at
        self.recorded: list[bytearray] = []
        self._lsock = socket.create_server(("127.0.0.1", 0))
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self._broken: set[socket.socket] = set()
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def offer(self, offer):
        return attrs.evolve(offer, port=self.port)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._lsock.accept()
            except (TimeoutError, OSError):
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=WAIT)
            record = bytearray()
            self.recorded.append(record)
            self._socks += [client, server]
            self.pairs.append((client, server))
            for a, b, rec in ((client, server, record), (server, client, None)):
                t = threading.Thread(target=self._pump, args=(a, b, rec), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, a: socket.socket, b: socket.socket, record: bytearray | None) -> None:
        a.settimeout(None)
        try:
            while True:
                data = a.recv(1 << 16)
                if not data:
                    break
                if record is not None:
                    at = len(record)
                    record += data
                    if self.flip_at is not None and at <= self.flip_at < at + len(data):
                        data = bytearray(data)
                        data[self.flip_at - at] ^= 0x01
                b.sendall(data)
        except OSError:
            pass
        finally:
            if a not in self._broken:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_WR if s is b else socket.SHUT_RD)
                    except OSError:
                        pass

    def reset(self, connection: int) -> None:
        """Break one relayed connection as a failing network would: both ends get a reset."""
        pair = self.pairs[connection]
        self._broken.update(pair)
        for s in pair:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.shutdown(socket.SHUT_RD)  # wakes the relay's own reads without a word to the peer
        for s in pair:
            s.close()

    def close(self) -> None:
        self._stop.set()
        self._lsock.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(2.0)
