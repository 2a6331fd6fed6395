"""The offer the target sends the source over the control link (SPEC S-6, B-5): it carries
the one-time secret on the wire and nowhere else."""

from __future__ import annotations

import base64
import logging

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from ldtui.net.dataplane import AES_GCM, CHACHA20_POLY1305, DataOffer, OfferError
from ldtui.net.dataplane.records import Direction, RecordType, new_master_secret

SECRET = new_master_secret()


def offer(**kw) -> DataOffer:
    return DataOffer(**{"address": "192.0.2.10", "port": 49152, "cipher": AES_GCM, "streams": 2,
                        "migration_id": "ldg1-7f3a", "secret": SECRET, **kw})


def secret_forms(secret: bytes) -> list[str]:
    return [secret.hex(), base64.b64encode(secret).decode(), repr(secret)[2:-1]]


def test_an_offer_survives_the_wire():
    o = offer(cipher=CHACHA20_POLY1305, max_record=1 << 20)
    assert DataOffer.from_dict(o.to_dict()) == o
    assert DataOffer.from_dict({**o.to_dict(), "added_later": 1}) == o


def test_an_offers_repr_and_log_lines_never_show_the_secret(caplog):
    o = offer()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("ldtui.net.dataplane").info("offering %s / %r", o, o)
    assert "192.0.2.10" in repr(o) and "49152" in caplog.text
    for text in (repr(o), str(o), caplog.text, repr(attrs.evolve(o, port=1))):
        for form in secret_forms(SECRET):
            assert form not in text


def test_source_and_target_ends_share_keys_per_stream_and_direction():
    o = offer()
    src_seal, src_open = o.source_end(1)
    dst_seal, dst_open = o.target_end(1)
    assert (src_seal.direction, dst_open.direction) == (Direction.SOURCE_TO_TARGET,) * 2
    hello = src_seal.seal(RecordType.HELLO, b"\x01\x00\x01\x00\x02ldg1-7f3a")
    assert dst_open.open(hello)[0] is RecordType.HELLO
    assert src_open.open(dst_seal.seal(RecordType.ACCEPT, b"\x01\x00\x01"))[0] is RecordType.ACCEPT
    with pytest.raises(OfferError, match="streams 0..1, not 2"):
        o.source_end(2)


@pytest.mark.parametrize("change, message", [
    ({"address": "t5440-sys-2"}, "not an IP address"),
    ({"port": 0}, "port 0 is outside 1..65535"),
    ({"port": True}, "port True"),
    ({"cipher": "rc4"}, "cipher 'rc4'"),
    ({"streams": 0}, "stream count 0"),
    ({"migration_id": ""}, "migration id is empty"),
    ({"secret": "c2hvcnQ="}, "secret is not 32 bytes"),
    ({"secret": "not base64!"}, "secret is not base64"),
    ({"max_record": 1 << 30}, "record limit"),
])
def test_a_malformed_offer_is_refused_with_one_clear_line(change, message):
    with pytest.raises(OfferError, match=message) as e:
        DataOffer.from_dict({**offer().to_dict(), **change})
    assert e.value.code == "bad-offer"
    for form in secret_forms(SECRET):
        assert form not in e.value.message


def test_an_offer_missing_fields_names_them():
    with pytest.raises(OfferError, match="lacks port, secret"):
        DataOffer.from_dict({k: v for k, v in offer().to_dict().items() if k not in ("port", "secret")})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["address", "port", "cipher", "streams", "migration_id", "secret",
                                        "max_record"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=50), st.binary(max_size=40),
                                 st.booleans(), st.lists(st.integers(), max_size=3))))
def test_whatever_a_peer_sends_is_an_offer_or_an_offer_error(data):
    try:
        DataOffer.from_dict(data)
    except OfferError:
        pass
