"""The data plane's record layer, sans-IO (SPEC S-6, B-2, B-5): what a stream's two ends
seal and open, and every way a record on the wire can be wrong."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from ldtui.net.dataplane.errors import RecordError
from ldtui.net.dataplane.records import (
    AES_GCM, CHACHA20_POLY1305, CIPHERS, HEADER_SIZE, MAX_RECORD, Direction, EndCounts, Hello, Opener, RecordType,
    Sealer, StreamState, cipher_for_host, derive_key, new_master_secret, sealed_size,
)

S2T = Direction.SOURCE_TO_TARGET
SECRET = bytes(range(32))


def pair(cipher=AES_GCM, *, stream=0, secret=SECRET, migration="mig-1", max_record=1 << 20):
    key = derive_key(secret, cipher=cipher, migration_id=migration, direction=S2T, stream=stream)
    common = {"direction": S2T, "stream": stream, "max_record": max_record}
    return Sealer(cipher, key, **common), Opener(cipher, key, **common)


def opened_stream(cipher=AES_GCM, **kw):
    """A sealer and opener past the HELLO, as the listener hands them over."""
    sealer, opener = pair(cipher, **kw)
    opener.open(sealer.seal(RecordType.HELLO, Hello(stream=0, streams=1, migration_id="mig-1").pack()))
    return sealer, opener


def test_hosts_with_crypto_units_use_aes_gcm_and_others_chacha20():
    assert cipher_for_host(True) == AES_GCM
    assert cipher_for_host(False) == CHACHA20_POLY1305


def test_every_migration_gets_a_fresh_256_bit_secret():
    a, b = new_master_secret(), new_master_secret()
    assert len(a) == 32 and a != b


def test_keys_differ_by_direction_stream_migration_and_cipher():
    base = {"cipher": AES_GCM, "migration_id": "m", "direction": S2T, "stream": 0}
    keys = {derive_key(SECRET, **base),
            derive_key(SECRET, **{**base, "direction": Direction.TARGET_TO_SOURCE}),
            derive_key(SECRET, **{**base, "stream": 1}),
            derive_key(SECRET, **{**base, "migration_id": "n"}),
            derive_key(SECRET, **{**base, "cipher": CHACHA20_POLY1305})}
    assert len(keys) == 5


@pytest.mark.parametrize("cipher", sorted(CIPHERS))
def test_a_stream_round_trips_hello_data_and_end(cipher):
    sealer, opener = pair(cipher)
    kind, payload = opener.open(sealer.seal(RecordType.HELLO, Hello(stream=0, streams=2, migration_id="mig-1").pack()))
    assert kind is RecordType.HELLO and Hello.unpack(payload) == Hello(stream=0, streams=2, migration_id="mig-1")
    pages = os.urandom(3 * 8192)
    out = bytearray(sealed_size(6 + len(pages)))
    n = sealer.seal_into(RecordType.DATA, [b"header", memoryview(pages)], out)
    assert n == len(out) == HEADER_SIZE + 6 + len(pages) + 16
    assert pages not in out  # sealed, not in the clear
    assert opener.open(bytes(out)) == (RecordType.DATA, b"header" + pages)
    kind, payload = opener.open(sealer.seal(RecordType.END, EndCounts.of(sealer).pack()))
    assert kind is RecordType.END and EndCounts.unpack(payload) == EndCounts(1, 6 + len(pages)) == EndCounts.of(opener)
    assert sealer.state is opener.state is StreamState.ENDED


@pytest.mark.parametrize("cipher", sorted(CIPHERS))
@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=6))
def test_a_frame_in_pieces_seals_exactly_as_the_joined_frame(cipher, parts):
    a, _ = opened_stream(cipher)
    b, opener = opened_stream(cipher)
    joined = b"".join(parts)
    pieces, whole = bytearray(sealed_size(len(joined))), bytearray(sealed_size(len(joined)))
    a.seal_into(RecordType.DATA, parts, pieces)
    b.seal_into(RecordType.DATA, joined, whole)
    assert pieces == whole
    assert opener.open(bytes(pieces)) == (RecordType.DATA, joined)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=1, max_size=200), where=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_in_header_body_or_tag_is_refused(data, where, bit):
    sealer, opener = opened_stream(CHACHA20_POLY1305)
    record = bytearray(sealer.seal(RecordType.DATA, data))
    record[where % len(record)] ^= 1 << bit
    with pytest.raises(RecordError) as e:
        opener.open(bytes(record))
    assert e.value.code in {"tampered", "bad-header", "oversize", "unexpected-record"}
    assert opener.state is StreamState.FAILED


def test_replayed_reordered_and_deleted_records_do_not_authenticate():
    for attack in ("replay", "reorder", "delete"):
        sealer, opener = opened_stream()
        r1, r2, r3 = (sealer.seal(RecordType.DATA, b"page %d" % i) for i in range(3))
        opener.open(r1)
        wire = {"replay": [r1], "reorder": [r3], "delete": [r3]}[attack]
        with pytest.raises(RecordError, match="does not authenticate") as e:
            opener.open(wire[0])
        assert e.value.code == "tampered", attack


def test_a_record_of_another_stream_migration_or_direction_is_refused():
    sealer, _ = opened_stream(migration="mig-0")
    _, opener = opened_stream(migration="mig-1")
    with pytest.raises(RecordError, match="does not authenticate"):
        opener.open(sealer.seal(RecordType.DATA, b"x"))
    other, _ = pair(stream=1)
    _, opener = pair(stream=0)
    with pytest.raises(RecordError, match="stream 1 arrived on data stream 0"):
        opener.open(other.seal(RecordType.HELLO, Hello(stream=1, streams=2, migration_id="mig-1").pack()))


def test_a_failed_stream_opens_nothing_more():
    sealer, opener = opened_stream()
    good = sealer.seal(RecordType.DATA, b"ok")
    with pytest.raises(RecordError):
        opener.open(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(RecordError, match="already failed"):
        opener.open(good)


def test_records_out_of_protocol_order_are_refused():
    sealer, opener = pair()
    with pytest.raises(RecordError, match="DATA record while opening") as e:
        sealer.seal(RecordType.DATA, b"before hello")
    assert e.value.code == "unexpected-record"
    sealer, opener = opened_stream()
    sealer.seal(RecordType.END, EndCounts(0, 0).pack())
    with pytest.raises(RecordError, match="after its end"):
        sealer.seal(RecordType.DATA, b"after end")
    sealer, opener = opened_stream()
    with pytest.raises(RecordError, match="ACCEPT record"):
        sealer.seal(RecordType.ACCEPT, b"")  # the target's record, never the source's


def test_a_frame_over_the_limit_is_refused_before_sealing():
    sealer, _ = opened_stream(max_record=1000)
    with pytest.raises(RecordError, match="frame of 1001 bytes exceeds the data stream's record limit of 1000"):
        sealer.seal(RecordType.DATA, bytes(1001))
    assert sealer.state is StreamState.OPEN  # the caller's mistake, not the stream's


def test_an_oversized_length_is_refused_from_the_header_alone():
    _, opener = opened_stream(max_record=1000)
    header = bytes([RecordType.DATA, 0, 0, 0]) + (MAX_RECORD).to_bytes(4, "big")
    with pytest.raises(RecordError, match="announced a 16777216-byte record") as e:
        opener.header(header)
    assert e.value.code == "oversize"


def test_unknown_types_and_flags_are_refused():
    _, opener = opened_stream()
    with pytest.raises(RecordError, match="unknown type 9"):
        opener.header(bytes([9, 0, 0, 0, 0, 0, 0, 1]))
    _, opener = opened_stream()
    with pytest.raises(RecordError, match="unknown flags"):
        opener.header(bytes([RecordType.DATA, 4, 0, 0, 0, 0, 0, 1]))


def test_the_record_counter_never_wraps():
    sealer, _ = opened_stream()
    sealer._counter = (1 << 64) - 1
    with pytest.raises(RecordError) as e:
        sealer.seal(RecordType.DATA, b"x")
    assert e.value.code == "counter-exhausted"


def test_a_sealer_or_opener_repr_shows_no_key():
    sealer, opener = pair()
    key = derive_key(SECRET, cipher=AES_GCM, migration_id="mig-1", direction=S2T, stream=0)
    for text in (repr(sealer), repr(opener), str(sealer)):
        assert key.hex() not in text and repr(key) not in text and SECRET.hex() not in text


@settings(max_examples=100, deadline=None)
@given(kinds=st.lists(st.sampled_from(list(RecordType)), max_size=8))
def test_any_sequence_of_records_either_follows_the_protocol_or_fails_cleanly(kinds):
    sealer, opener = pair()
    allowed = {StreamState.OPENING: {RecordType.HELLO}, StreamState.OPEN: {RecordType.DATA, RecordType.END}}
    for kind in kinds:
        before = sealer.state
        payload = Hello(stream=0, streams=1, migration_id="mig-1").pack() if kind is RecordType.HELLO else b"p"
        if kind in allowed.get(before, set()):
            assert opener.open(sealer.seal(kind, payload))[0] is kind
        else:
            with pytest.raises(RecordError):
                sealer.seal(kind, payload)
            assert sealer.state is StreamState.FAILED
            break
