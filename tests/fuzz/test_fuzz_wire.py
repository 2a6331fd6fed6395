"""Garbage on the wire is refused cleanly: frames, RPC JSON, migration messages (SPEC S-3, S-4).

Every decoder either returns what it understood or raises its own error type with one
line; nothing else escapes, nothing is buffered beyond the frame limit, nothing hangs.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldtui.core.migration.codec import CodecError, decode, encode
from ldtui.core.migration.messages import Abort, Go, Ready, Resumed
from ldtui.net.framing import (MAX_FRAME, PROTOCOL, VERSION, Frame, FrameDecoder, FrameType, FramingError,
                               check_hello, encode_frame, encode_json, hello)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_stream() -> bytes:
    return (hello("client") + encode_json(FrameType.REQUEST, {"id": 1, "method": "ping", "params": {}})
            + encode_frame(FrameType.BINARY, b"\x00" * 100) + encode_json(FrameType.EVENT, {"x": 1}))


def _one_line(e: Exception) -> None:
    text = str(e)
    assert text and "\n" not in text


@FAST
@given(st.binary(max_size=4096), st.lists(st.integers(1, 64), max_size=20))
def test_random_bytes_in_any_chunking_give_frames_or_one_framing_error(data, cuts):
    dec = FrameDecoder(max_frame=1 << 16)
    pos = 0
    try:
        for n in [*cuts, len(data)]:
            for f in dec.feed(data[pos:pos + n]):
                assert isinstance(f, Frame) and isinstance(f.type, FrameType) and len(f.payload) <= 1 << 16
            pos += n
    except FramingError as e:
        _one_line(e)
    assert dec.pending <= 5 + (1 << 16)


@FAST
@given(st.integers(0, len(_valid_stream())), st.integers(0, 255), st.integers(0, len(_valid_stream()) - 1))
def test_a_truncated_or_bit_flipped_stream_never_crashes(cut, value, where):
    data = bytearray(_valid_stream())
    data[where] = value
    dec = FrameDecoder()
    try:
        frames = dec.feed(bytes(data[:cut]))
        for f in frames:
            if f.type is not FrameType.BINARY:
                try:
                    f.json()
                except FramingError as e:
                    _one_line(e)
    except FramingError as e:
        _one_line(e)


def test_a_huge_length_prefix_is_refused_at_the_header_without_buffering():
    dec = FrameDecoder()
    with pytest.raises(FramingError, match="exceeds the limit"):
        dec.feed(struct.pack(">IB", MAX_FRAME + 1, FrameType.BINARY))
    with pytest.raises(FramingError, match="exceeds the limit"):
        encode_frame(FrameType.BINARY, b"x" * 17, max_frame=16)


def test_truncated_frames_wait_for_more_and_deliver_once_whole():
    stream = _valid_stream()
    dec = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got += dec.feed(stream[i:i + 1])
    assert [f.type for f in got] == [FrameType.HELLO, FrameType.REQUEST, FrameType.BINARY, FrameType.EVENT]
    assert dec.pending == 0


@pytest.mark.parametrize("body, reason", [
    ({"protocol": PROTOCOL, "version": [VERSION[0] + 1, 0]}, "not compatible"),
    ({"protocol": PROTOCOL, "version": [0, 9]}, "not compatible"),
    ({"protocol": "http", "version": list(VERSION)}, "speaks 'http'"),
    ({"protocol": PROTOCOL, "version": "1.0"}, "malformed protocol version"),
    ({"protocol": PROTOCOL}, "malformed protocol version"),
])
def test_wrong_version_hellos_are_refused_with_the_reason(body, reason):
    frame = FrameDecoder().feed(encode_json(FrameType.HELLO, body))[0]
    with pytest.raises(FramingError, match=reason):
        check_hello(frame)


def test_non_json_and_non_object_payloads_are_framing_errors():
    for payload in (b"\xff\xfe", b"[1,2]", b"{", b"null"):
        with pytest.raises(FramingError):
            Frame(FrameType.REQUEST, payload).json()
    with pytest.raises(FramingError, match="expected HELLO"):
        check_hello(Frame(FrameType.REQUEST, b"{}"))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                       max_leaves=12)


@FAST
@given(JSONISH)
def test_any_json_in_a_frame_is_an_object_or_a_framing_error(value):
    frame = Frame(FrameType.REQUEST, json.dumps(value).encode())
    try:
        assert isinstance(frame.json(), dict)
    except FramingError as e:
        _one_line(e)


VALID_MESSAGES = [encode(m) for m in (Ready(), Go(), Resumed(), Abort(reason="operator cancelled"))]


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_are_never_half_understood_as_a_migration_message(data):
    try:
        decode(data)
    except CodecError as e:
        _one_line(e)


@FAST
@given(st.sampled_from(VALID_MESSAGES), st.integers(0, 4096), st.integers(0, 255), st.integers(0, 4096))
def test_truncated_or_flipped_migration_frames_decode_or_raise_codec_error(frame, cut, value, where):
    data = bytearray(frame)
    data[where % len(data)] = value
    try:
        decode(bytes(data[:cut]))
    except CodecError as e:
        _one_line(e)
