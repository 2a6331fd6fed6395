"""The ldtui-rpc frame format, sans-IO (SPEC S-3)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from ldtui.net.framing import (MAX_FRAME, Frame, FrameDecoder, FrameType, FramingError, check_hello, encode_frame,
                               encode_json, hello)


def test_a_frame_is_length_type_payload():
    assert encode_frame(FrameType.BINARY, b"abc") == b"\x00\x00\x00\x03\x05abc"
    assert encode_json(FrameType.REQUEST, {"id": 1}) == b"\x00\x00\x00\x08\x02" + b'{"id":1}'


@given(st.lists(st.tuples(st.sampled_from(list(FrameType)), st.binary(max_size=300)), max_size=8),
       st.integers(min_value=1, max_value=64))
def test_frames_survive_any_split_of_the_stream(frames, chunk):
    stream = b"".join(encode_frame(t, p) for t, p in frames)
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    assert got == [Frame(t, p) for t, p in frames]
    assert dec.pending == 0


def test_an_oversized_length_is_refused_before_the_body_arrives():
    dec = FrameDecoder(max_frame=1024)
    with pytest.raises(FramingError, match="frame length 1025 exceeds the limit of 1024"):
        dec.feed(struct.pack(">IB", 1025, 5))


def test_an_unknown_frame_type_is_refused():
    with pytest.raises(FramingError, match="unknown frame type 99"):
        FrameDecoder().feed(struct.pack(">IB", 0, 99))


def test_sending_more_than_the_limit_is_refused():
    with pytest.raises(FramingError):
        encode_frame(FrameType.BINARY, b"x" * (MAX_FRAME + 1))


def test_json_frames_must_hold_an_object():
    (f,) = FrameDecoder().feed(encode_frame(FrameType.REQUEST, b"[1, 2]"))
    with pytest.raises(FramingError, match="must hold a JSON object"):
        f.json()
    (g,) = FrameDecoder().feed(encode_frame(FrameType.REQUEST, b"\xff{"))
    with pytest.raises(FramingError, match="not valid JSON"):
        g.json()


def test_hello_names_protocol_and_version():
    (f,) = FrameDecoder().feed(hello("client"))
    assert check_hello(f)["protocol"] == "ldtui-rpc"
    (other,) = FrameDecoder().feed(encode_json(FrameType.HELLO, {"protocol": "xmpp", "version": [1, 0]}))
    with pytest.raises(FramingError, match="peer speaks 'xmpp', not 'ldtui-rpc'"):
        check_hello(other)
    (newer,) = FrameDecoder().feed(encode_json(FrameType.HELLO, {"protocol": "ldtui-rpc", "version": [1, 7]}))
    assert check_hello(newer)["version"] == [1, 7]          # same major: compatible
    (req,) = FrameDecoder().feed(encode_json(FrameType.REQUEST, {}))
    with pytest.raises(FramingError, match="expected HELLO, got REQUEST"):
        check_hello(req)
