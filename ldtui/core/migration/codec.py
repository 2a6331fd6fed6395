"""Migration messages as bytes: one frame per message, versioned.

A frame is ``b"LDMG"``, one version byte, the header length (4 bytes, big-endian), a JSON
header naming the message type and its fields, then an optional binary payload. Memory
pages travel in the payload, a batch of them as one zstd frame or as they are (the
sender's choice: compressed only when that pays, see ``compression``); their page numbers as
runs of consecutive pages in the header; register files in the payload too. zstd
releases the GIL, so encoding and decoding run in worker threads beside the event loop;
each thread has its own (de)compressor. Anything that is
not a frame of a version we speak raises :class:`CodecError` with one clear line — the
peer is then told and the migration undone, never half-understood.
"""

from __future__ import annotations

import json
import struct
import threading

import cattrs
import zstandard

from ldtui.core.migration.messages import MESSAGE_TYPES, PageBatch, RuntimeImage
from ldtui.core.migration.pageruns import page_runs
from ldtui.core.store import converter
from ldtui.hv.guest import GuestSettings
from ldtui.hv.machine import PAGE_SIZE

MAGIC = b"LDMG"
VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
_HEAD = struct.Struct(">4sBI")
_PAGE_NO = struct.Struct(">Q")
_MAX_HEADER = 1 << 20

ZSTD_LEVEL = 1
"""Measured here (docs/PERFORMANCE.md) on text-like pages: level 1 keeps 42 % at ~300 MB/s;
negative levels are barely faster and keep 67–94 %; lz4 keeps 81 % at ~530 MB/s. Random
pages pass at ~5 GB/s whatever the level. When a batch is compressed at all, level 1's
ratio is what makes it worth the CPU."""

_local = threading.local()


def _zc() -> zstandard.ZstdCompressor:
    c = getattr(_local, "zc", None)
    if c is None:
        c = _local.zc = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return c


def _zd() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "zd", None)
    if d is None:
        d = _local.zd = zstandard.ZstdDecompressor()
    return d


class CodecError(Exception):
    """Bytes that are not a migration message this manager understands."""


def encode(msg) -> bytes:
    head, payload = encode_parts(msg)
    return head + payload if payload else head


def encode_parts(msg) -> tuple[bytes, bytes]:
    """A frame as (everything before the payload, the payload): the transport writes the
    two one after the other, so a batch's pages are never copied to join them."""
    name = type(msg).__name__
    if MESSAGE_TYPES.get(name) is not type(msg):
        raise CodecError(f"not a migration message: {name}")
    payload = b""
    if isinstance(msg, PageBatch):
        if len(msg.data) != len(msg.numbers) * PAGE_SIZE:
            raise CodecError(f"PageBatch of {len(msg.numbers)} pages carries {len(msg.data)} bytes")
        packed, compressed = (msg.packed, msg.compressed) if msg.packed is not None else pack_pages(msg.data)
        fields = {"runs": _runs(msg.numbers), "zeros": _runs(msg.zeros), "sent": msg.sent, "total": msg.total,
                  "round": msg.round, "z": int(compressed)}
        payload = packed if msg.numbers else b""
    elif isinstance(msg, RuntimeImage):
        fields = {k: v for k, v in converter.unstructure(msg).items() if k != "regs"}
        fields["guest"] = converter.unstructure(msg.guest)
        payload = msg.regs
    else:
        fields = converter.unstructure(msg)
    header = json.dumps({"type": name, "fields": fields}, separators=(",", ":")).encode()
    return _HEAD.pack(MAGIC, VERSION, len(header)) + header, payload


def decode(frame):
    """One frame (``bytes``, or a ``memoryview`` of a buffer the caller reuses: page data of
    an uncompressed batch is then a view into it, valid as long as the buffer is)."""
    if len(frame) < _HEAD.size:
        raise CodecError(f"truncated migration frame ({len(frame)} bytes)")
    magic, version, hlen = _HEAD.unpack_from(frame)
    if magic != MAGIC:
        raise CodecError("not a migration frame (bad magic)")
    if version not in SUPPORTED_VERSIONS:
        raise CodecError(f"unsupported migration protocol version {version}")
    if hlen > _MAX_HEADER or _HEAD.size + hlen > len(frame):
        raise CodecError("migration frame header is truncated or too long")
    try:
        header = json.loads(bytes(frame[_HEAD.size:_HEAD.size + hlen]))
        name, fields = header["type"], header["fields"]
    except (ValueError, KeyError, TypeError):
        raise CodecError("migration frame header is not valid JSON") from None
    cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown migration message type {name!r}")
    if not isinstance(fields, dict):
        raise CodecError(f"malformed {name} message: fields are not an object")
    payload = memoryview(frame)[_HEAD.size + hlen:]  # page data is not copied again
    try:
        if cls is PageBatch:
            return _decode_pages(fields, payload)
        if cls is RuntimeImage:
            fields = dict(fields, regs=bytes(payload), guest=converter.structure(fields["guest"], GuestSettings))
            return RuntimeImage(**fields)
        return converter.structure(fields, cls)
    except CodecError:
        raise
    except (cattrs.BaseValidationError, ValueError, KeyError, TypeError) as e:
        raise CodecError(f"malformed {name} message: {type(e).__name__}") from None


def pack_pages(data, *, compress: bool = True) -> tuple[bytes, bool]:
    """The wire form of a batch's page contents: a zstd frame, or the bytes as they are."""
    if not data:
        return b"", False
    if compress:
        return _zc().compress(data), True
    # As they are: a view of the sender's buffer stays a view (it is sealed where it lies).
    return (data if isinstance(data, (bytes, memoryview)) else bytes(data)), False


def _runs(numbers) -> list[list[int]]:
    """Page numbers as [first, count] runs: a batch of consecutive pages is one pair."""
    return [[first, count] for first, count in page_runs(numbers)]


def _unruns(runs, what: str) -> tuple[int, ...]:
    if not isinstance(runs, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) and x >= 0 for x in r) for r in runs):
        raise CodecError(f"malformed PageBatch message: bad {what}")
    if sum(r[1] for r in runs) > _MAX_PAGES:
        raise CodecError(f"malformed PageBatch message: too many {what}")
    return tuple(n for first, count in runs for n in range(first, first + count))


_MAX_PAGES = 1 << 16
"""More pages than one frame may carry (16 MiB frames, 8 KiB pages): garbage or an attack."""


def _decode_pages(fields: dict, payload: bytes) -> PageBatch:
    numbers = _unruns(fields["runs"], "page numbers")
    zeros = _unruns(fields.get("zeros", []), "zero pages")
    if not fields.get("z", 1):
        raw = payload
    else:
        try:
            raw = _zd().decompress(payload, max_output_size=len(numbers) * PAGE_SIZE) if payload else b""
        except zstandard.ZstdError:
            raise CodecError("PageBatch payload does not decompress") from None
    if len(raw) != len(numbers) * PAGE_SIZE:
        raise CodecError(f"PageBatch carries {len(raw)} bytes for {len(numbers)} pages")
    return PageBatch(numbers=numbers, data=raw, zeros=zeros, sent=int(fields["sent"]), total=int(fields["total"]),
                     round=int(fields.get("round", 0)))
