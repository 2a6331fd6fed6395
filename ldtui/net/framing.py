"""The ``ldtui-rpc`` wire format: length-prefixed, typed, versioned frames.

A frame is ``LENGTH (4 bytes, big-endian) | TYPE (1 byte) | PAYLOAD (LENGTH bytes)``.
JSON frames carry UTF-8 JSON objects; ``BINARY`` frames carry raw bytes (bulk data) and are
never parsed here. Both ends open with a ``HELLO`` naming the protocol and its version; a
peer speaking anything else is refused before a single request is read.

This module is sans-IO: :class:`FrameDecoder` is fed bytes and returns frames, the encode
functions return bytes. The async code that moves them lives in ``net.rpc``.
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any

import attrs

PROTOCOL = "ldtui-rpc"
VERSION = (1, 0)
"""(major, minor): peers with the same major version understand each other."""
MAX_FRAME = 16 << 20
"""The largest payload accepted; a bigger length prefix is garbage or an attack."""
_HEADER = struct.Struct(">IB")


class FrameType(enum.IntEnum):
    HELLO = 1
    REQUEST = 2
    REPLY = 3
    ERROR = 4
    BINARY = 5
    EVENT = 6
    """Unsolicited news from the server (progress, notices); carries JSON."""


class FramingError(Exception):
    """The byte stream is not ``ldtui-rpc``; the connection must be dropped."""


@attrs.frozen
class Frame:
    type: FrameType
    payload: bytes

    def json(self) -> dict[str, Any]:
        if self.type is FrameType.BINARY:
            raise FramingError("a binary frame carries no JSON")
        try:
            value = json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FramingError(f"{self.type.name} frame is not valid JSON: {e}") from None
        if not isinstance(value, dict):
            raise FramingError(f"{self.type.name} frame must hold a JSON object")
        return value


def encode_frame(ftype: FrameType, payload: bytes, *, max_frame: int = MAX_FRAME) -> bytes:
    return frame_header(ftype, len(payload), max_frame=max_frame) + payload


def frame_header(ftype: FrameType, length: int, *, max_frame: int = MAX_FRAME) -> bytes:
    """The bytes that precede a payload of ``length`` bytes: a large payload can then be
    written after them as it is, never copied to join it to its header."""
    if length > max_frame:
        raise FramingError(f"frame of {length} bytes exceeds the limit of {max_frame}")
    return _HEADER.pack(length, int(ftype))


def encode_json(ftype: FrameType, obj: dict[str, Any], *, max_frame: int = MAX_FRAME) -> bytes:
    return encode_frame(ftype, json.dumps(obj, separators=(",", ":")).encode("utf-8"), max_frame=max_frame)


def hello(role: str) -> bytes:
    return encode_json(FrameType.HELLO, {"protocol": PROTOCOL, "version": list(VERSION), "role": role})


class IncompatiblePeer(FramingError):
    """The peer speaks another protocol, or a version of ours we cannot talk to."""


def check_hello(frame: Frame) -> dict[str, Any]:
    """Validate the peer's HELLO; returns it. Raises :class:`FramingError` with the reason."""
    if frame.type is not FrameType.HELLO:
        raise FramingError(f"expected HELLO, got {frame.type.name}")
    body = frame.json()
    if body.get("protocol") != PROTOCOL:
        raise IncompatiblePeer(f"peer speaks {body.get('protocol')!r}, not {PROTOCOL!r}")
    version = body.get("version")
    if not (isinstance(version, list) and len(version) == 2 and all(isinstance(v, int) for v in version)):
        raise FramingError(f"malformed protocol version {version!r}")
    if version[0] != VERSION[0]:
        raise IncompatiblePeer(f"protocol version {version[0]}.{version[1]} is not compatible with "
                           f"{VERSION[0]}.{VERSION[1]}")
    return body


class FrameDecoder:
    """Turns a byte stream into frames, refusing garbage as early as it shows.

    Headers and small frames are parsed from one buffer; the body of a large frame
    (bulk data) is kept as the pieces it arrives in and joined once when complete — each
    byte is copied once, not appended, sliced and copied again (which made the decoder, not
    the link, the limit of a bulk transfer; docs/PERFORMANCE.md).
    """

    _COLLECT = 64 << 10
    """Frames at least this long are collected piecewise."""

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._parts: list = []
        self._kind: FrameType | None = None
        self._need = 0
        self._have = 0

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        if self._kind is not None:
            data = self._collect(data, frames)
            if not data:
                return frames
        self._buf += data
        while len(self._buf) >= _HEADER.size:
            length, ftype = _HEADER.unpack_from(self._buf)
            # Check the header before waiting for the body: a garbage length must not
            # make us buffer gigabytes.
            if length > self.max_frame:
                raise FramingError(f"frame length {length} exceeds the limit of {self.max_frame}")
            try:
                kind = FrameType(ftype)
            except ValueError:
                raise FramingError(f"unknown frame type {ftype}") from None
            end = _HEADER.size + length
            if len(self._buf) < end:
                if length >= self._COLLECT:
                    # The rest of this body arrives piecewise: keep the pieces as they come.
                    self._kind, self._need = kind, length
                    self._parts, self._have = [bytes(self._buf[_HEADER.size:])], len(self._buf) - _HEADER.size
                    self._buf.clear()
                break
            with memoryview(self._buf) as view:  # one copy of the payload, not two
                payload = bytes(view[_HEADER.size:end])
            frames.append(Frame(kind, payload))
            del self._buf[:end]
        return frames

    def _collect(self, data, frames: list[Frame]):
        """Adds to the large frame being collected; returns what follows it in ``data``."""
        take = min(self._need - self._have, len(data))
        self._parts.append(data if take == len(data) else memoryview(data)[:take])
        self._have += take
        if self._have < self._need:
            return b""
        frames.append(Frame(self._kind, b"".join(self._parts)))
        self._kind, self._parts, self._need, self._have = None, [], 0, 0
        return memoryview(data)[take:] if take < len(data) else b""

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buf) + (self._have + _HEADER.size if self._kind is not None else 0)
