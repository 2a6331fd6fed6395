"""The target's one-time data listener (SPEC S-6, B-5): it takes the streams of its own
migration and refuses, closes and logs once every other connection, without a word to the
peer and without touching the streams it took."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import socket

import attrs
import pytest

from dataplanekit import WAIT, Relay, closed_by_peer, connected_pair, open_listener, raw_connect, wait_until
from ldtui.net.dataplane import (
    DataConnectError, DataListener, ListenerError, StreamReceiver, StreamSender, connect_stream, connect_streams, open_streams,
)
from ldtui.net.dataplane import listener as listener_module
from ldtui.net.dataplane.records import Hello, RecordType, new_master_secret

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger="ldtui.net.dataplane")
    return caplog


def refusal_lines(caplog, sock: socket.socket) -> list[str]:
    """The log lines about the connection ``sock`` made (its own port names it)."""
    me = f"127.0.0.1:{sock.getsockname()[1]} "
    return [r.getMessage() for r in caplog.records if "refused a data connection" in r.getMessage()
            and me in r.getMessage()]


def assert_no_secret(text: str, *offers) -> None:
    for o in offers:
        for form in (o.secret.hex(), base64.b64encode(o.secret).decode(), repr(o.secret)[2:-1]):
            assert form not in text


def hello_bytes(offer, stream: int) -> bytes:
    sealer, _ = offer.source_end(stream)
    return sealer.seal(RecordType.HELLO, Hello(stream=stream, streams=offer.streams,
                                               migration_id=offer.migration_id).pack())


def move(source, target, frames: int = 8) -> bool:
    """Send a few frames over open streams; True if they all arrived intact."""
    got = hashlib.sha256()
    sent = hashlib.sha256()
    with StreamReceiver(target, lambda i, p: got.update(bytes(p))) as rx, StreamSender(source) as tx:
        for k in range(frames):
            frame = bytes([k]) * 10000
            sent.update(frame)
            tx.send(frame, stream=0)
        tx.finish()
        tx.join(WAIT)
        rx.join(WAIT)
    return got.digest() == sent.digest()


def test_the_source_holding_the_offer_gets_every_stream_and_the_port_closes(logs):
    listener, source, target = connected_pair(3)
    assert [ch.index for ch in target] == [0, 1, 2] == [ch.index for ch in source]
    wait_until(lambda: not listener.listening, what="the listener to close")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT)
    assert listener.refusals == ()
    assert sum("connected from 127.0.0.1" in r.getMessage() for r in logs.records) == 3
    assert move(source, target)
    assert_no_secret(logs.text + repr(listener) + repr(listener.offer) + repr(source) + repr(target), listener.offer)


def test_a_peer_that_says_nothing_is_refused_after_the_hello_timeout(logs):
    listener = open_listener(1, hello_timeout=0.3)
    silent = raw_connect(listener.port)
    assert closed_by_peer(silent)
    assert [r.code for r in listener.refusals] == ["no-hello"]
    assert refusal_lines(logs, silent) == [
        f"refused a data connection from 127.0.0.1:{silent.getsockname()[1]} for migration mig-1: "
        "no HELLO within 0.3 s"]
    source = connect_streams(listener.offer, timeout=WAIT)
    assert move(source, listener.accepted(WAIT))


def test_a_peer_without_the_secret_is_refused_and_logged_once(logs):
    listener = open_listener(2)
    stranger = raw_connect(listener.port)
    stranger.sendall(b"GET / HTTP/1.1\r\nHost: t5440-sys-2\r\n\r\n")
    assert closed_by_peer(stranger)
    assert [r.code for r in listener.refusals] == ["bad-hello"]
    assert len(refusal_lines(logs, stranger)) == 1
    assert move(connect_streams(listener.offer, timeout=WAIT), listener.accepted(WAIT))


def test_a_wrong_secret_is_refused_and_the_source_told_it_was_refused(logs):
    listener = open_listener(1)
    forged = attrs.evolve(listener.offer, secret=new_master_secret())
    with pytest.raises(DataConnectError, match="refused data stream 0") as e:
        connect_streams(forged, timeout=WAIT)
    assert e.value.code == "refused-by-target"
    wait_until(lambda: listener.refusals, what="the refusal")
    assert listener.refusals[0].code == "bad-hello"
    assert "does not authenticate" in listener.refusals[0].reason
    assert move(connect_streams(listener.offer, timeout=WAIT), listener.accepted(WAIT))
    assert_no_secret(logs.text, listener.offer, forged)


def test_a_recorded_stream_of_an_earlier_migration_replayed_is_refused(logs):
    earlier = open_listener(1)
    relay = Relay(earlier.port)
    try:
        assert move(connect_streams(relay.offer(earlier.offer), timeout=WAIT), earlier.accepted(WAIT))
    finally:
        relay.close()
    recorded = bytes(relay.recorded[0])
    assert len(recorded) > 80000  # HELLO, eight frames, END: the whole stream
    now = open_listener(1)  # the same migration id, a new secret: a retried migration
    replay = raw_connect(now.port)
    replay.sendall(recorded[:200])
    assert closed_by_peer(replay)
    assert [r.code for r in now.refusals] == ["bad-hello"]
    assert len(refusal_lines(logs, replay)) == 1
    assert move(connect_streams(now.offer, timeout=WAIT), now.accepted(WAIT))


def test_a_second_connection_for_a_taken_stream_is_refused(logs):
    listener = open_listener(2)
    first = connect_stream(listener.offer, 0, timeout=WAIT)
    replayed = raw_connect(listener.port)
    replayed.sendall(hello_bytes(listener.offer, 0))  # the first stream's HELLO, captured and replayed
    assert closed_by_peer(replayed)
    assert [(r.code, r.reason) for r in listener.refusals] == [("duplicate-stream", "stream 0 is already connected")]
    assert len(refusal_lines(logs, replayed)) == 1
    second = connect_stream(listener.offer, 1, timeout=WAIT)
    assert move([first, second], listener.accepted(WAIT))


def test_a_connection_beyond_the_expected_streams_is_refused(logs):
    listener = open_listener(2)
    first = connect_stream(listener.offer, 0, timeout=WAIT)
    extra = raw_connect(listener.port)
    second = connect_stream(listener.offer, 1, timeout=WAIT)
    target = listener.accepted(WAIT)
    assert closed_by_peer(extra)
    assert [(r.code, r.reason) for r in listener.refusals] == [
        ("extra", "all 2 data streams are already connected")]
    assert len(refusal_lines(logs, extra)) == 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT)
    assert move([first, second], target)


def test_a_connection_after_the_migration_ended_is_refused(logs):
    listener = open_listener(1)
    waiting = raw_connect(listener.port)
    wait_until(lambda: listener.listening, what="the listener")
    listener.close()
    assert closed_by_peer(waiting)
    with pytest.raises(ListenerError, match="closed") as e:
        listener.accepted(WAIT)
    assert e.value.code == "closed"
    assert [r.code for r in listener.refusals] == ["closed"]
    assert len(refusal_lines(logs, waiting)) == 1
    with pytest.raises(DataConnectError) as e:
        connect_streams(listener.offer, timeout=WAIT)
    assert e.value.code == "unreachable"


def test_streams_that_do_not_all_arrive_in_time_end_the_listener():
    listener = open_listener(2, accept_timeout=0.5)
    first = connect_stream(listener.offer, 0, timeout=WAIT)
    with pytest.raises(ListenerError, match="only 1 of 2 data streams connected within 0.5 s") as e:
        listener.accepted(WAIT)
    assert e.value.code == "accept-timeout"
    assert closed_by_peer(first.sock)


def test_silent_peers_filling_the_waiting_room_cannot_keep_the_source_out(logs):
    listener = open_listener(1, max_pending=2, hello_timeout=WAIT)
    a = raw_connect(listener.port)
    b = raw_connect(listener.port)
    c = raw_connect(listener.port)
    assert closed_by_peer(a, timeout=3.0)  # the one that waited longest makes room
    source = connect_streams(listener.offer, timeout=WAIT)
    assert closed_by_peer(b) and closed_by_peer(c)
    assert [r.code for r in listener.refusals] == ["busy", "busy", "extra"]
    assert move(source, listener.accepted(WAIT))


def test_a_flood_of_refusals_is_logged_one_by_one_only_up_to_a_cap(logs, monkeypatch):
    monkeypatch.setattr(listener_module, "MAX_LOGGED", 2)
    listener = open_listener(1)
    for _ in range(5):
        s = raw_connect(listener.port)
        s.sendall(b"x" * 8)
        assert closed_by_peer(s)
    listener.close()
    lines = [r.getMessage() for r in logs.records if "refused" in r.getMessage()]
    assert len(lines) == 3 and lines[-1].startswith("refused 3 more data connections")


def test_the_first_free_port_of_the_range_is_taken():
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        with pytest.raises(ListenerError, match=f"no free port in {port}..{port}") as e:
            DataListener.open(migration_id="m", ports=(port, port))
        assert e.value.code == "no-free-port"
        try:
            listener = DataListener.open(migration_id="m", ports=(port, port + 8))
        except ListenerError:
            pytest.skip("no free port near the held one")
        assert port < listener.port <= port + 8 and listener.offer.port == listener.port
        listener.close()


def test_an_unspecified_address_needs_one_to_offer():
    with pytest.raises(ListenerError, match="needs the address to offer"):
        DataListener.open(migration_id="m", address="0.0.0.0", ports=(0, 0))
    listener = DataListener.open(migration_id="m", address="0.0.0.0", advertise="127.0.0.1",
                                                 ports=(0, 0))
    assert listener.offer.address == "127.0.0.1"
    listener.close()


async def test_from_a_coroutine_streams_open_side_by_side_and_a_cancel_closes_the_listener():
    listener = open_listener(3)
    source, target = await asyncio.wait_for(asyncio.gather(open_streams(listener.offer, timeout=WAIT),
                                                           listener.wait_accepted()), WAIT)
    assert [ch.index for ch in source] == [0, 1, 2]
    for ch in source + target:
        ch.close()
    other = open_listener(1)
    waiter = asyncio.ensure_future(other.wait_accepted())
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    wait_until(lambda: not other.listening, what="the cancelled listener to close")
