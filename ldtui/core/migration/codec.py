"""Migration messages as bytes: one frame per message, versioned.

A frame is ``b"LDMG"``, one version byte, the header length (4 bytes, big-endian), a JSON
header naming the message type and its fields, then an optional binary payload. Memory
pages travel in the payload, zstd-compressed (B-2); register files too. Anything that is
not a frame of a version we speak raises :class:`CodecError` with one clear line — the
peer is then told and the migration undone, never half-understood.
"""

from __future__ import annotations

import json
import struct

import cattrs
import zstandard

from ldtui.core.migration.messages import MESSAGE_TYPES, PageBatch, RuntimeImage
from ldtui.core.store import converter
from ldtui.hv.guest import GuestSettings
from ldtui.hv.machine import PAGE_SIZE

MAGIC = b"LDMG"
VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
_HEAD = struct.Struct(">4sBI")
_PAGE_NO = struct.Struct(">Q")
_MAX_HEADER = 1 << 20

# One compressor/decompressor pair per process is enough: zstd contexts are reusable and
# the level favours speed, as a migration is bound by the link, not the ratio.
_zc = zstandard.ZstdCompressor(level=3)
_zd = zstandard.ZstdDecompressor()


class CodecError(Exception):
    """Bytes that are not a migration message this manager understands."""


def encode(msg) -> bytes:
    name = type(msg).__name__
    if MESSAGE_TYPES.get(name) is not type(msg):
        raise CodecError(f"not a migration message: {name}")
    payload = b""
    if isinstance(msg, PageBatch):
        fields = {"pages": [p for p, _ in msg.pages], "sent": msg.sent, "total": msg.total}
        raw = b"".join(data for _, data in msg.pages)
        payload = _zc.compress(raw) if raw else b""
    elif isinstance(msg, RuntimeImage):
        fields = {k: v for k, v in converter.unstructure(msg).items() if k != "regs"}
        fields["guest"] = converter.unstructure(msg.guest)
        payload = msg.regs
    else:
        fields = converter.unstructure(msg)
    header = json.dumps({"type": name, "fields": fields}, separators=(",", ":")).encode()
    return _HEAD.pack(MAGIC, VERSION, len(header)) + header + payload


def decode(frame: bytes):
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
        header = json.loads(frame[_HEAD.size:_HEAD.size + hlen])
        name, fields = header["type"], header["fields"]
    except (ValueError, KeyError, TypeError):
        raise CodecError("migration frame header is not valid JSON") from None
    cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise CodecError(f"unknown migration message type {name!r}")
    if not isinstance(fields, dict):
        raise CodecError(f"malformed {name} message: fields are not an object")
    payload = frame[_HEAD.size + hlen:]
    try:
        if cls is PageBatch:
            return _decode_pages(fields, payload)
        if cls is RuntimeImage:
            fields = dict(fields, regs=payload, guest=converter.structure(fields["guest"], GuestSettings))
            return RuntimeImage(**fields)
        return converter.structure(fields, cls)
    except CodecError:
        raise
    except (cattrs.BaseValidationError, ValueError, KeyError, TypeError) as e:
        raise CodecError(f"malformed {name} message: {type(e).__name__}") from None


def _decode_pages(fields: dict, payload: bytes) -> PageBatch:
    numbers = fields["pages"]
    if not isinstance(numbers, list) or not all(isinstance(n, int) and n >= 0 for n in numbers):
        raise CodecError("malformed PageBatch message: bad page numbers")
    try:
        raw = _zd.decompress(payload, max_output_size=len(numbers) * PAGE_SIZE) if payload else b""
    except zstandard.ZstdError:
        raise CodecError("PageBatch payload does not decompress") from None
    if len(raw) != len(numbers) * PAGE_SIZE:
        raise CodecError(f"PageBatch carries {len(raw)} bytes for {len(numbers)} pages")
    pages = tuple((n, raw[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]) for i, n in enumerate(numbers))
    return PageBatch(pages=pages, sent=int(fields["sent"]), total=int(fields["total"]))
