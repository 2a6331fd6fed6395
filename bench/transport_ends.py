"""The two ends of one transport benchmark run, each a process of its own.

A sender process reads 2 MiB chunks of a memory-backed file with ``preadv`` into one
reused buffer and sends them; a receiver process writes each chunk at its offset into a
file of its own with ``pwritev``. Chunk ``j`` travels on stream ``j % streams``; every
stream is a thread, and a process may own one stream or all of them (``--spawn``). The
ways of moving a chunk:

- ``raw``: a 16-byte frame header (offset, length) and the chunk, plain TCP;
- ``tls``: the same frames over one Python ``ssl`` TLS 1.3 socket per stream, the
  receiver's one-time self-signed certificate pinned by its SHA-256 fingerprint;
- ``aes-gcm`` / ``chacha20-poly1305``: one AEAD record per chunk, sealed with
  ``encrypt_into`` and opened with ``decrypt_into`` into reused buffers, nonce = stream
  prefix + a counter both ends keep;
- ``dataplane``: the library itself (``ldtui.net.dataplane``): a one-time listener,
  HELLO, DATA records, END, per-stream threads.

The driver (``bench.transport``) talks to the ends by lines: the configuration (with any
secret) arrives on stdin, never on the command line; the ends print ``port``/``fp`` when
listening, ``ready`` when connected, and ``done CPU-SECONDS`` when finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import ssl
import struct
import sys
import tempfile
import threading

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CHUNK = 2 << 20
"""The default chunk: one page batch of a migration (256 pages of 8 KiB)."""
FRAME = struct.Struct(">QI4x")  # offset, length
RECORD = struct.Struct(">BBHI")  # type, flags, reserved, length
TAG = 16
AEADS = {"aes-gcm": AESGCM, "chacha20-poly1305": ChaCha20Poly1305}


def cpu_seconds() -> float:
    """User + system CPU of the whole process, every thread included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def chunks_of(nbytes: int, streams: int, index: int, chunk: int = CHUNK) -> list[tuple[int, int]]:
    return [(off, min(chunk, nbytes - off))
            for j, off in enumerate(range(0, nbytes, chunk)) if j % streams == index]


def recv_exact(sock, view: memoryview) -> bool:
    """Fill ``view``; False on a clean end of stream before its first byte."""
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if not n:
            if got == 0:
                return False
            raise ConnectionError("stream ended inside a frame")
        got += n
    return True


def stream_key(master: bytes, index: int) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"bench stream %d" % index).derive(master)


class Plain:
    """Frames as they are: the raw and TLS modes."""

    def __init__(self, sock, cfg: dict, index: int) -> None:
        self.sock = sock
        self.buf = bytearray(FRAME.size + cfg["chunk"])
        self.view = memoryview(self.buf)

    def send(self, fd: int, off: int, n: int) -> None:
        FRAME.pack_into(self.buf, 0, off, n)
        os.preadv(fd, [self.view[FRAME.size:FRAME.size + n]], off)
        self.sock.sendall(self.view[:FRAME.size + n])

    def recv(self, fd: int) -> int:
        if not recv_exact(self.sock, self.view[:FRAME.size]):
            return 0
        off, n = FRAME.unpack_from(self.buf)
        body = self.view[FRAME.size:FRAME.size + n]
        recv_exact(self.sock, body)
        os.pwritev(fd, [body], off)
        return n


class Sealed:
    """One AEAD record per frame: header as associated data, counter nonce never sent."""

    def __init__(self, sock, cfg: dict, index: int) -> None:
        self.sock = sock
        self.aead = AEADS[cfg["mode"]](stream_key(bytes.fromhex(cfg["secret"]), index))
        self.prefix = (0x80000000 | index).to_bytes(4, "big")
        self.counter = 0
        self.chunk = cfg["chunk"]
        self.plain = bytearray(FRAME.size + self.chunk)
        self.pview = memoryview(self.plain)
        self.wire = bytearray(RECORD.size + FRAME.size + self.chunk + TAG)
        self.wview = memoryview(self.wire)

    def _nonce(self) -> bytes:
        self.counter += 1
        return self.prefix + self.counter.to_bytes(8, "big")

    def send(self, fd: int, off: int, n: int) -> None:
        length = FRAME.size + n
        FRAME.pack_into(self.plain, 0, off, n)
        os.preadv(fd, [self.pview[FRAME.size:length]], off)
        RECORD.pack_into(self.wire, 0, 1, 0, 0, length)
        end = RECORD.size + length + TAG
        self.aead.encrypt_into(self._nonce(), self.pview[:length], self.wview[:RECORD.size],
                               self.wview[RECORD.size:end])
        self.sock.sendall(self.wview[:end])

    def recv(self, fd: int) -> int:
        head = self.wview[:RECORD.size]
        if not recv_exact(self.sock, head):
            return 0
        _, _, _, length = RECORD.unpack_from(self.wire)
        if length > FRAME.size + self.chunk:
            raise ValueError("oversized record")
        sealed = self.wview[RECORD.size:RECORD.size + length + TAG]
        recv_exact(self.sock, sealed)
        self.aead.decrypt_into(self._nonce(), sealed, bytes(head), self.pview[:length])
        off, n = FRAME.unpack_from(self.plain)
        os.pwritev(fd, [self.pview[FRAME.size:FRAME.size + n]], off)
        return n


def _one_time_cert(tmp: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh self-signed certificate, and its SHA-256 fingerprint."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    path = os.path.join(tmp, "cert.pem")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(path)
    os.unlink(path)
    os.rmdir(tmp)
    return ctx, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _client_tls(sock: socket.socket, fingerprint: str) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # trust comes from the pinned fingerprint below
    tls = ctx.wrap_socket(sock)
    if hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest() != fingerprint:
        raise ssl.SSLError("certificate fingerprint does not match")
    return tls


def _run_threads(targets) -> None:
    errors: list[BaseException] = []

    def guard(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=guard, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def receive(cfg: dict) -> None:
    nbytes, streams, mine = cfg["bytes"], cfg["streams"], cfg["indices"]
    if cfg["mode"] == "dataplane":
        return _receive_dataplane(cfg)
    lsock = socket.create_server((cfg.get("host", "127.0.0.1"), 0))
    tls_ctx = None
    if cfg["mode"] == "tls":
        tls_ctx, fp = _one_time_cert(tempfile.mkdtemp(prefix="ldtui-bench-"))
        print("fp", fp, flush=True)
    print("port", lsock.getsockname()[1], flush=True)
    fd = os.open(cfg["dest"], os.O_RDWR)
    conns = []
    for _ in mine:
        s, _ = lsock.accept()
        if tls_ctx is not None:
            s = tls_ctx.wrap_socket(s, server_side=True)
        index = int.from_bytes(s.recv(4), "big")
        conns.append((index, (Sealed if cfg["mode"] in AEADS else Plain)(s, cfg, index)))
    lsock.close()
    cpu0 = cpu_seconds()

    def pump(index, end):
        want = sum(n for _, n in chunks_of(nbytes, streams, index, cfg["chunk"]))
        got = 0
        while got < want:
            n = end.recv(fd)
            if not n:
                raise ConnectionError(f"stream {index} ended after {got} of {want} bytes")
            got += n

    _run_threads([lambda i=i, e=e: pump(i, e) for i, e in conns])
    print(f"done {cpu_seconds() - cpu0:.4f}", flush=True)


def send(cfg: dict) -> None:
    nbytes, streams, mine = cfg["bytes"], cfg["streams"], cfg["indices"]
    if cfg["mode"] == "dataplane":
        return _send_dataplane(cfg)
    fd = os.open(cfg["src"], os.O_RDONLY)
    ends = []
    for index, port in zip(mine, cfg["ports"]):
        s = socket.create_connection((cfg.get("host", "127.0.0.1"), port), timeout=10)
        s.settimeout(None)
        if cfg["mode"] == "tls":
            s = _client_tls(s, cfg["fingerprints"][str(port)])
        s.sendall(index.to_bytes(4, "big"))
        ends.append((index, s, (Sealed if cfg["mode"] in AEADS else Plain)(s, cfg, index)))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu0 = cpu_seconds()

    def pump(index, end):
        for off, n in chunks_of(nbytes, streams, index, cfg["chunk"]):
            end.send(fd, off, n)

    _run_threads([lambda i=i, e=e: pump(i, e) for i, _, e in ends])
    print(f"done {cpu_seconds() - cpu0:.4f}", flush=True)
    sys.stdin.readline()  # the driver says when the receiver has everything
    for _, s, _ in ends:
        s.close()


def _receive_dataplane(cfg: dict) -> None:
    from bench import transport_dataplane
    transport_dataplane.receive(cfg)


def _send_dataplane(cfg: dict) -> None:
    from bench import transport_dataplane
    transport_dataplane.send(cfg)


if __name__ == "__main__":
    config = json.loads(sys.stdin.readline())
    (receive if sys.argv[1] == "recv" else send)(config)
