"""Frames over the direct data streams (SPEC B-5, S-6): they arrive whole and in order on
each stream, and every way a stream can break — reset, truncation, tampering, a failing
consumer, a cancel — ends both sides promptly with one error."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from dataplanekit import WAIT, Relay, closed_by_peer, connected_pair, open_listener, wait_until
from ldtui.net.dataplane import (
    AES_GCM, CHACHA20_POLY1305, DataConnectError, DataOffer, DataStreamError, RecordError, StreamReceiver,
    StreamSender, connect_streams, open_streams,
)
from ldtui.net.dataplane.records import RecordType, new_master_secret

pytestmark = pytest.mark.timeout(120)
SEQ = struct.Struct(">II")  # stream, sequence number: the test's own frame header


class Sink:
    """What a target would do with the frames: here, digest them and check their order."""

    def __init__(self) -> None:
        self.digests: dict[int, hashlib._Hash] = {}
        self.last: dict[int, int] = {}
        self.lock = threading.Lock()

    def __call__(self, stream: int, payload: memoryview) -> None:
        sent_on, seq = SEQ.unpack_from(payload)
        assert sent_on == stream and seq == self.last.get(stream, -1) + 1, "out of order"
        self.last[stream] = seq
        with self.lock:
            self.digests.setdefault(stream, hashlib.sha256()).update(payload[SEQ.size:])


def pages(n: int) -> bytes:
    return os.urandom(n)


@pytest.mark.parametrize("cipher", [AES_GCM, CHACHA20_POLY1305])
@pytest.mark.parametrize("streams", [1, 2, 3])
def test_a_few_megabytes_arrive_intact_on_one_to_three_streams(streams, cipher):
    _, source, target = connected_pair(streams, cipher=cipher)
    sink, sent, released = Sink(), {}, []
    seq = [0] * streams
    with StreamReceiver(target, sink) as rx, StreamSender(source, depth=2) as tx:
        for k in range(48):
            stream = k % streams
            data = pages(8192 * (1 + k % 16))
            head = SEQ.pack(stream, seq[stream])
            seq[stream] += 1
            sent.setdefault(stream, hashlib.sha256()).update(data)
            tx.send([head, data], stream=stream, release=lambda k=k: released.append(k))
        tx.finish()
        sent_report, got_report = tx.join(WAIT), rx.join(WAIT)
    assert {i: d.digest() for i, d in sink.digests.items()} == {i: d.digest() for i, d in sent.items()}
    assert sent_report.streams == got_report.streams and got_report.records == 48
    assert got_report.bytes == sum(8192 * (1 + k % 16) + SEQ.size for k in range(48)) > 3_000_000
    assert sorted(released) == list(range(48))


def test_frames_without_a_stream_named_spread_over_the_least_busy_streams():
    _, source, target = connected_pair(3)
    count = [0, 0, 0]
    lock = threading.Lock()

    def on_data(stream, payload):
        with lock:
            count[stream] += 1

    with StreamReceiver(target, on_data) as rx, StreamSender(source) as tx:
        for _ in range(30):
            tx.send(bytes(4096))
        tx.finish()
        tx.join(WAIT)
        rx.join(WAIT)
    assert sum(count) == 30 and min(count) > 0


def test_a_reset_of_one_stream_fails_both_ends_promptly():
    listener = open_listener(3)
    relay = Relay(listener.port)
    try:
        source = connect_streams(relay.offer(listener.offer), timeout=WAIT)
        rx = StreamReceiver(listener.accepted(WAIT), lambda i, p: None)
        tx = StreamSender(source)
        for k in range(6):
            tx.send(bytes(100_000), stream=k % 3)
        wait_until(lambda: rx.bytes_received >= 600_000, what="the first frames")
        t0 = time.monotonic()
        relay.reset(1)
        with pytest.raises(DataStreamError) as got:
            rx.join(WAIT)
        with pytest.raises(DataStreamError) as sent:
            tx.join(WAIT)
        assert time.monotonic() - t0 < 2.0
        assert got.value.code in {"reset", "truncated"} and sent.value.code in {"reset", "stopped"}
        with pytest.raises(DataStreamError):
            tx.send(b"more")  # the group's one error, to every caller
        tx.close()
        rx.close()
    finally:
        relay.close()


def test_a_stream_that_stops_before_its_end_is_truncated():
    _, source, target = connected_pair(1)
    with StreamReceiver(target, lambda i, p: None) as rx:
        source[0].send_record(RecordType.DATA, b"some pages")
        source[0].sock.close()  # no END: the source died or an attacker cut the stream
        with pytest.raises(DataStreamError, match=r"ended without its END record \(truncated\)") as e:
            rx.join(WAIT)
    assert e.value.code == "truncated" and e.value.stream == 0


def test_a_stream_cut_inside_a_record_is_truncated():
    _, source, target = connected_pair(1)
    with StreamReceiver(target, lambda i, p: None) as rx:
        out = bytearray(1000)
        n = source[0].sealer.seal_into(RecordType.DATA, bytes(500), out)
        source[0].sock.sendall(out[:n - 100])
        source[0].sock.close()
        with pytest.raises(DataStreamError, match="in the middle of a record"):
            rx.join(WAIT)


def test_a_byte_changed_in_flight_fails_the_stream_and_nothing_of_it_is_used():
    listener = open_listener(1)
    hello_and_accept = 8 + 5 + 5 + 16
    relay = Relay(listener.port, flip_at=hello_and_accept + 8 + 30)  # inside the first DATA record
    try:
        source = connect_streams(relay.offer(listener.offer), timeout=WAIT)
        used = []
        with StreamReceiver(listener.accepted(WAIT), lambda i, p: used.append(bytes(p))) as rx, \
                StreamSender(source) as tx:
            tx.send(b"pages that must not be written" * 10)
            with pytest.raises(DataStreamError, match="does not authenticate") as e:
                rx.join(WAIT)
            assert e.value.code == "tampered" and used == []
            with pytest.raises(DataStreamError):
                tx.join(WAIT)
    finally:
        relay.close()


def test_a_failing_consumer_fails_the_stream_with_its_error():
    _, source, target = connected_pair(2)

    def on_data(stream, payload):
        raise OSError(28, "No space left on device")

    with StreamReceiver(target, on_data) as rx, StreamSender(source) as tx:
        tx.send(b"x" * 100, stream=1)
        with pytest.raises(DataStreamError, match="could not be taken in: .*No space left on device") as e:
            rx.join(WAIT)
        assert e.value.code == "consumer-failed" and e.value.stream == 1 and isinstance(e.value.__cause__, OSError)
        with pytest.raises(DataStreamError):
            tx.join(WAIT)


def test_an_idle_sender_notices_the_target_going_away():
    _, source, target = connected_pair(2)
    with StreamSender(source) as tx:
        for ch in target:
            ch.close()
        with pytest.raises(DataStreamError, match="the target closed data stream") as e:
            tx.join(WAIT)
    assert e.value.code == "reset"


def test_a_sender_idle_for_a_while_still_sends_at_once():
    _, source, target = connected_pair(2)
    with StreamReceiver(target, lambda i, p: None) as rx, StreamSender(source, send_timeout=WAIT * 3) as tx:
        time.sleep(3 * 0.25)  # several checks of the idle streams
        t0 = time.monotonic()
        for k in range(8):
            tx.send(bytes(100_000), stream=k % 2)
        tx.finish()
        assert tx.join(WAIT).records == rx.join(WAIT).records == 8
        assert time.monotonic() - t0 < 2.0


def test_abort_stops_blocked_senders_and_receivers_within_a_second():
    _, source, target = connected_pair(2)
    tx = StreamSender(source, depth=1)
    big = bytes(4 << 20)
    failures = []

    def producer():
        try:
            while True:
                tx.send(big, stream=0)  # nobody reads: the socket, then the queue, fill up
        except DataStreamError as e:
            failures.append(e)

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    time.sleep(0.3)
    rx_idle = StreamReceiver(target, lambda i, p: None, idle_timeout=None)
    t0 = time.monotonic()
    tx.abort()
    rx_idle.abort()
    tx.close(timeout=1.0)
    rx_idle.close(timeout=1.0)
    t.join(1.0)
    assert time.monotonic() - t0 < 1.0
    assert not t.is_alive() and failures[0].code == "stopped"
    assert all(not th.is_alive() for th in tx._threads + rx_idle._threads)
    with pytest.raises(DataStreamError, match="stopped"):
        tx.join(0)


def test_a_frame_over_the_offered_limit_is_refused_and_the_streams_go_on():
    _, source, target = connected_pair(1, max_record=64 << 10)
    sink = Sink()
    with StreamReceiver(target, sink) as rx, StreamSender(source) as tx:
        with pytest.raises(RecordError, match="exceeds the data stream's record limit"):
            tx.send(bytes(65 << 10))
        tx.send(SEQ.pack(0, 0) + b"fits")
        tx.finish()
        with pytest.raises(DataStreamError, match="no frame may follow the end"):
            tx.send(b"late")
        assert tx.join(WAIT).records == rx.join(WAIT).records == 1


async def test_from_a_coroutine_frames_flow_and_the_wait_ends_with_the_report():
    listener = open_listener(2)
    source, target = await asyncio.gather(open_streams(listener.offer, timeout=WAIT), listener.wait_accepted())
    sink = Sink()
    with StreamReceiver(target, sink) as rx, StreamSender(source, depth=1) as tx:
        for k in range(20):
            await tx.send_async(SEQ.pack(k % 2, k // 2) + bytes(200_000), stream=k % 2)
        tx.finish()
        sent, got = await asyncio.wait_for(asyncio.gather(tx.wait(), rx.wait()), WAIT)
    assert sent.records == got.records == 20 and got.bytes == 20 * (200_000 + SEQ.size)


async def test_cancelling_the_wait_stops_every_stream_within_a_second():
    _, source, target = connected_pair(3)
    rx = StreamReceiver(target, lambda i, p: None)
    tx = StreamSender(source)
    waiter = asyncio.ensure_future(rx.wait())
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(asyncio.to_thread(rx.close, 1.0), WAIT)
    assert all(not th.is_alive() for th in rx._threads)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(DataStreamError, match="cancelled"):
        rx.join(0)
    with pytest.raises(DataStreamError):
        await asyncio.wait_for(tx.wait(), WAIT)  # the source sees its streams go
    tx.close()


def test_nothing_listening_is_a_connect_error_for_the_fallback():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    offer = DataOffer(address="127.0.0.1", port=port, cipher=AES_GCM, streams=2, migration_id="m",
                      secret=new_master_secret())
    with pytest.raises(DataConnectError, match=f"cannot open a data stream to 127.0.0.1 port {port}") as e:
        connect_streams(offer, timeout=WAIT)
    assert e.value.code == "unreachable"


def test_a_listener_that_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as mute:
        offer = DataOffer(address="127.0.0.1", port=mute.getsockname()[1], cipher=AES_GCM, streams=1,
                          migration_id="m", secret=new_master_secret())
        t0 = time.monotonic()
        with pytest.raises(DataConnectError, match="timed out") as e:
            connect_streams(offer, timeout=0.5)
        assert e.value.code == "timeout" and time.monotonic() - t0 < 2.0


async def test_a_listener_that_is_not_the_offering_target_is_found_out():
    impostor = socket.create_server(("127.0.0.1", 0))
    offer = DataOffer(address="127.0.0.1", port=impostor.getsockname()[1], cipher=AES_GCM, streams=1,
                      migration_id="m", secret=new_master_secret())

    def answer():
        conn, _ = impostor.accept()
        conn.recv(1000)
        conn.sendall(bytes([RecordType.ACCEPT, 0, 0, 0, 0, 0, 0, 3]) + os.urandom(19))
        closed_by_peer(conn)
        conn.close()

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        with pytest.raises(DataConnectError, match="not the target that made the offer") as e:
            await open_streams(offer, timeout=WAIT)
        assert e.value.code == "bad-accept"
    finally:
        t.join(WAIT)
        impostor.close()
