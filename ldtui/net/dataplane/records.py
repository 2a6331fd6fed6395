"""The data plane's record layer: sealing and opening the records of one stream, no sockets.

A record on the wire is an 8-byte header, then the sealed payload and its 16-byte tag::

    type (1) | flags (1) | stream (2) | length (4, payload bytes) | ciphertext | tag (16)

The header is the associated data, so a changed type, stream or length fails to open.
Every stream and direction has its own key, derived with HKDF-SHA256 from the migration's
one-time master secret; the nonce is a direction bit and a 64-bit record counter that both
ends keep and never send. A record that is replayed, deleted, reordered or moved to
another stream or migration is therefore opened with the wrong nonce or key, and fails.

Records come in an order, and the order is a table (``_NEXT``): the source sends HELLO,
DATA…, END; the target answers ACCEPT after the HELLO and END (its own counts) after the
source's END. Truncation is a stream that stops before END; the END counts must match
what was opened. After any failure the stream opens and seals nothing more.
"""

from __future__ import annotations

import enum
import secrets
import struct
import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ldtui.net.dataplane.errors import RecordError

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">BBHI")
HEADER_SIZE = HEADER.size
TAG_SIZE = 16
SECRET_SIZE = 32
MAX_RECORD = 16 << 20
"""The hard limit on one record's payload, whatever a peer offers."""
DEFAULT_MAX_RECORD = (4 << 20) + (64 << 10)
"""Room for a 4 MiB page batch and its header; receive buffers are this big per stream."""
MAX_STREAMS = 64

AES_GCM = "aes-256-gcm"
CHACHA20_POLY1305 = "chacha20-poly1305"
CIPHERS = {AES_GCM: AESGCM, CHACHA20_POLY1305: ChaCha20Poly1305}


def cipher_for_host(crypto_units: bool) -> str:
    """AES-GCM when the source's control domain holds crypto units, ChaCha20-Poly1305
    otherwise (it is the faster of the two in software without AES instructions)."""
    return AES_GCM if crypto_units else CHACHA20_POLY1305


class RecordType(enum.IntEnum):
    HELLO = 1
    """Source → target, first record: protocol, stream index, stream count, migration id."""
    ACCEPT = 2
    """Target → source: the stream is this migration's and is taken."""
    DATA = 3
    """Source → target: one frame for the caller."""
    END = 4
    """Either way: the authenticated end of the stream, with the DATA record and byte counts."""


class Direction(enum.IntEnum):
    SOURCE_TO_TARGET = 0
    TARGET_TO_SOURCE = 1


class StreamState(enum.Enum):
    OPENING = "opening"
    OPEN = "open"
    ENDED = "ended"
    FAILED = "failed"


_NEXT = {
    Direction.SOURCE_TO_TARGET: {
        StreamState.OPENING: {RecordType.HELLO: StreamState.OPEN},
        StreamState.OPEN: {RecordType.DATA: StreamState.OPEN, RecordType.END: StreamState.ENDED},
    },
    Direction.TARGET_TO_SOURCE: {
        StreamState.OPENING: {RecordType.ACCEPT: StreamState.OPEN},
        StreamState.OPEN: {RecordType.END: StreamState.ENDED},
    },
}
"""Which record may come next in each direction, and the state it leads to."""


def new_master_secret() -> bytes:
    """A fresh 256-bit secret for one migration."""
    return secrets.token_bytes(SECRET_SIZE)


def derive_key(secret: bytes, *, cipher: str, migration_id: str, direction: Direction, stream: int) -> bytes:
    """The key of one direction of one stream. The cipher and the migration are part of the
    derivation, so no key is ever shared between two of them."""
    if len(secret) != SECRET_SIZE:
        raise RecordError("bad-secret", f"the data stream secret must be {SECRET_SIZE} bytes")
    info = b"|".join((b"ldtui-dataplane", str(PROTOCOL_VERSION).encode(), cipher.encode(),
                      direction.name.encode(), str(stream).encode(), migration_id.encode()))
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(secret)


@attrs.frozen
class RecordHeader:
    type: RecordType
    flags: int
    stream: int
    length: int

    @property
    def sealed_size(self) -> int:
        """Bytes that follow the header on the wire."""
        return self.length + TAG_SIZE

    def pack(self) -> bytes:
        return HEADER.pack(self.type, self.flags, self.stream, self.length)


def sealed_size(length: int) -> int:
    """Bytes on the wire for a record of ``length`` payload bytes, header included."""
    return HEADER_SIZE + length + TAG_SIZE


class _StreamCrypto:
    """What sealing and opening share: one key, the nonce counter, the record order."""

    def __init__(self, cipher: str, key: bytes, *, direction: Direction, stream: int,
                 max_record: int = DEFAULT_MAX_RECORD) -> None:
        if cipher not in CIPHERS:
            raise RecordError("bad-cipher", f"unknown data stream cipher {cipher!r}")
        if not 0 <= stream < MAX_STREAMS:
            raise RecordError("bad-stream", f"stream index {stream} is outside 0..{MAX_STREAMS - 1}")
        if not 0 < max_record <= MAX_RECORD:
            raise RecordError("bad-limit", f"record limit {max_record} is outside 1..{MAX_RECORD}")
        self.cipher = cipher
        self.direction = Direction(direction)
        self.stream = stream
        self.max_record = max_record
        self.state = StreamState.OPENING
        self.data_records = 0
        self.data_bytes = 0
        self._key = key
        self._aead = CIPHERS[cipher](key)
        self._prefix = (int(self.direction) << 31).to_bytes(4, "big")
        self._counter = 0

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.cipher}, {self.direction.name}, stream {self.stream}, "
                f"{self.state.value}, {self.data_records} records)")

    def _next_nonce(self) -> bytes:
        if self._counter >= (1 << 64) - 1:
            self.state = StreamState.FAILED
            raise RecordError("counter-exhausted", "the data stream has used every record number")
        nonce = self._prefix + self._counter.to_bytes(8, "big")
        self._counter += 1
        return nonce

    def _next_state(self, rtype: RecordType) -> StreamState:
        if self.state is StreamState.FAILED:
            raise RecordError("stream-failed", f"data stream {self.stream} has already failed")
        nxt = _NEXT[self.direction].get(self.state, {}).get(rtype)
        if nxt is None:
            where = "after its end" if self.state is StreamState.ENDED else f"while {self.state.value}"
            raise self._fail("unexpected-record", f"data stream {self.stream} saw a {rtype.name} record {where}")
        return nxt

    def _fail(self, code: str, message: str) -> RecordError:
        self.state = StreamState.FAILED
        return RecordError(code, message)


_BUFFERS = (bytes, bytearray, memoryview)
_TYPES = frozenset(int(t) for t in RecordType)


def _as_view(part) -> memoryview:
    view = part if isinstance(part, memoryview) else memoryview(part)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class Sealer(_StreamCrypto):
    """Seals the records one end sends on one stream.

    Guarantees: no two records are ever sealed with the same nonce under one key; a record
    is never larger than ``max_record`` payload bytes; records leave only in the order the
    protocol allows. The payload may be several buffers (a frame header and its pages):
    they are sealed where they lie when the cipher allows it (AES-GCM), else gathered once
    into a buffer this sealer keeps."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stage: bytearray | None = None

    def seal_into(self, rtype: RecordType, parts, out) -> int:
        """Write the record (header, ciphertext, tag) at the start of ``out``; returns its
        size on the wire. ``parts`` is a buffer or a sequence of buffers."""
        rtype = RecordType(rtype)
        views = [_as_view(parts)] if isinstance(parts, _BUFFERS) else [_as_view(p) for p in parts]
        length = sum(v.nbytes for v in views)
        if length > self.max_record:
            raise RecordError("oversize", f"a frame of {length} bytes exceeds the data stream's record limit "
                                          f"of {self.max_record}")
        nxt = self._next_state(rtype)
        total = sealed_size(length)
        out = _as_view(out)
        if out.nbytes < total:
            raise RecordError("small-buffer", f"a {total}-byte record does not fit a {out.nbytes}-byte buffer")
        head = HEADER.pack(rtype, 0, self.stream, length)
        out[:HEADER_SIZE] = head
        nonce = self._next_nonce()
        body = out[HEADER_SIZE:total]
        if len(views) == 1:
            self._aead.encrypt_into(nonce, views[0], head, body)
        elif self.cipher == AES_GCM:
            # The GCM mode object takes the payload piece by piece, so nothing is copied.
            enc = Cipher(algorithms.AES(self._key), modes.GCM(nonce)).encryptor()
            enc.authenticate_additional_data(head)
            at = 0
            for v in views:
                at += enc.update_into(v, body[at:])
            enc.finalize()
            body[at:at + TAG_SIZE] = enc.tag
        else:
            if self._stage is None or len(self._stage) < length:
                self._stage = bytearray(max(length, min(self.max_record, 1 << 20)))
            stage = memoryview(self._stage)
            at = 0
            for v in views:
                stage[at:at + v.nbytes] = v
                at += v.nbytes
            self._aead.encrypt_into(nonce, stage[:length], head, body)
        self.state = nxt
        if rtype is RecordType.DATA:
            self.data_records += 1
            self.data_bytes += length
        return total

    def seal(self, rtype: RecordType, parts=b"") -> bytes:
        """The record as new bytes: for the small control records."""
        views = [parts] if isinstance(parts, _BUFFERS) else list(parts)
        out = bytearray(sealed_size(sum(_as_view(v).nbytes for v in views)))
        self.seal_into(rtype, views, out)
        return bytes(out)


class Opener(_StreamCrypto):
    """Opens the records one end receives on one stream.

    Guarantees: a payload is handed out only if it authenticates under this stream's key
    with the next record number and comes in the protocol's order; a header announcing
    more than ``max_record`` bytes is refused before its body is read. The first failure
    is final."""

    def header(self, raw) -> RecordHeader:
        """The header of the next record, checked before its body is read."""
        if self.state is StreamState.FAILED:
            raise RecordError("stream-failed", f"data stream {self.stream} has already failed")
        if len(raw) != HEADER_SIZE:
            raise self._fail("bad-header", f"a record header is {HEADER_SIZE} bytes, got {len(raw)}")
        rtype, flags, stream, length = HEADER.unpack(raw)
        if rtype not in _TYPES:
            raise self._fail("bad-header", f"data stream {self.stream} got a record of unknown type {rtype}")
        if flags:
            raise self._fail("bad-header", f"data stream {self.stream} got a record with unknown flags {flags:#x}")
        if stream != self.stream:
            raise self._fail("bad-header", f"a record of stream {stream} arrived on data stream {self.stream}")
        if length > self.max_record:
            raise self._fail("oversize", f"data stream {self.stream} announced a {length}-byte record, "
                                         f"over the limit of {self.max_record}")
        return RecordHeader(RecordType(rtype), flags, stream, length)

    def open_into(self, header: RecordHeader, sealed, out) -> memoryview:
        """Open ``sealed`` (ciphertext and tag, ``header.sealed_size`` bytes) into ``out``;
        returns the payload as a view of ``out``."""
        nxt = self._next_state(header.type)
        sealed, out = _as_view(sealed), _as_view(out)
        if sealed.nbytes != header.sealed_size:
            raise self._fail("bad-header", f"a {header.length}-byte record came with {sealed.nbytes} sealed bytes")
        if out.nbytes < header.length:
            raise self._fail("small-buffer", f"a {header.length}-byte record does not fit a {out.nbytes}-byte buffer")
        payload = out[:header.length]
        try:
            self._aead.decrypt_into(self._next_nonce(), sealed, header.pack(), payload)
        except InvalidTag:
            raise self._fail("tampered", f"a record on data stream {self.stream} does not authenticate "
                                         "(changed, replayed, reordered or not of this migration)") from None
        self.state = nxt
        if header.type is RecordType.DATA:
            self.data_records += 1
            self.data_bytes += header.length
        return payload

    def open(self, raw: bytes) -> tuple[RecordType, bytes]:
        """A whole small record (header and sealed body) opened at once."""
        header = self.header(raw[:HEADER_SIZE])
        out = bytearray(header.length)
        payload = self.open_into(header, memoryview(raw)[HEADER_SIZE:], out)
        return header.type, bytes(payload)


# -- the control records' payloads ----------------------------------------------------------

_HELLO = struct.Struct(">BHH")
_ACCEPT = struct.Struct(">BH")
_END = struct.Struct(">QQ")
MAX_MIGRATION_ID = 128


@attrs.frozen
class Hello:
    stream: int
    streams: int
    migration_id: str
    version: int = PROTOCOL_VERSION

    def pack(self) -> bytes:
        mid = self.migration_id.encode()
        if len(mid) > MAX_MIGRATION_ID:
            raise RecordError("bad-hello", f"a migration id is at most {MAX_MIGRATION_ID} bytes")
        return _HELLO.pack(self.version, self.stream, self.streams) + mid

    @classmethod
    def unpack(cls, payload) -> Hello:
        payload = bytes(payload)
        if not _HELLO.size <= len(payload) <= _HELLO.size + MAX_MIGRATION_ID:
            raise RecordError("bad-hello", "a HELLO record of the wrong size")
        version, stream, streams = _HELLO.unpack_from(payload)
        try:
            mid = payload[_HELLO.size:].decode()
        except UnicodeDecodeError:
            raise RecordError("bad-hello", "a HELLO record whose migration id is not text") from None
        return cls(stream=stream, streams=streams, migration_id=mid, version=version)


def accept_payload(stream: int) -> bytes:
    return _ACCEPT.pack(PROTOCOL_VERSION, stream)


def check_accept(payload, stream: int) -> None:
    if len(payload) != _ACCEPT.size or _ACCEPT.unpack(bytes(payload)) != (PROTOCOL_VERSION, stream):
        raise RecordError("bad-accept", f"the target's ACCEPT for data stream {stream} is malformed")


@attrs.frozen
class EndCounts:
    """What one end counted on a stream: DATA records and their payload bytes."""

    records: int
    bytes: int

    def pack(self) -> bytes:
        return _END.pack(self.records, self.bytes)

    @classmethod
    def unpack(cls, payload) -> EndCounts:
        if len(payload) != _END.size:
            raise RecordError("bad-end", "an END record of the wrong size")
        return cls(*_END.unpack(bytes(payload)))

    @classmethod
    def of(cls, crypto: _StreamCrypto) -> EndCounts:
        return cls(crypto.data_records, crypto.data_bytes)
