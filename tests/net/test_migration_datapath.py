"""The migration data path's pieces, without timing (SPEC B-2): the compression policy's
decision, frames written in parts and reassembled from pieces, the page ledger."""

import hashlib
import os
import random

import pytest

from ldtui.core.migration import codec
from ldtui.core.migration.events import PagesRead
from ldtui.core.migration.ledger import PageLedger, page_value
from ldtui.core.migration.messages import PageBatch
from ldtui.hv.machine import PAGE_SIZE
from ldtui.net.framing import FrameDecoder, FrameType, encode_frame, frame_header
from ldtui.core.migration.compression import CompressionPolicy

M = 1_000_000


def text_pages(n: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("etaoinshrdlu") for _ in range(rng.randint(2, 9))) for _ in range(2000)]
    out = " ".join(rng.choices(vocab, k=n * PAGE_SIZE // 4)).encode()
    return out[:n * PAGE_SIZE]


def random_pages(n: int) -> bytes:
    return hashlib.shake_256(b"datapath").digest(n * PAGE_SIZE)


def policy(*, speed, ratio, link, spare=0.0, cap=None) -> CompressionPolicy:
    p = CompressionPolicy(cap=cap, idle=lambda: None)
    p.speed, p.ratio, p.link_rate, p.spare_cores = speed, ratio, link, spare
    return p


@pytest.mark.parametrize("link, spare, expected", [
    (600 * M, 0.0, False),   # loopback, both cores busy: zstd's CPU would slow the loop more than it saves
    (600 * M, 1.5, False),   # a spare core, but the compressor (300 MB/s) is slower than the link
    (250 * M, 0.0, False),   # saves 174 MB/s of link per second of CPU: less than the link moves
    (250 * M, 1.5, True),    # a spare core compresses the next batch while the loop sends: faster
    (100 * M, 0.0, True),    # a slow link: compressing pays even on the loop's core
])
def test_compression_pays_only_when_it_makes_the_transfer_faster(link, spare, expected):
    assert policy(speed=300 * M, ratio=0.42, link=link, spare=spare).should_compress() is expected


def test_incompressible_pages_and_unmeasured_links_go_as_they_are():
    assert not policy(speed=5000 * M, ratio=1.0, link=10 * M, spare=2).should_compress()
    assert not policy(speed=300 * M, ratio=0.42, link=0.0).should_compress()


def test_the_link_rate_never_exceeds_the_bandwidth_cap():
    p = CompressionPolicy(cap=10 * M, idle=lambda: None)
    p.link_sent(2 << 20, 0.001)         # the frame left at 2 GB/s; the cap says 10 MB/s
    assert p.link_rate == 10 * M


def test_behind_a_slow_link_text_pages_travel_compressed_and_random_ones_do_not():
    p = CompressionPolicy(cap=5 * M, idle=lambda: None)
    p.link_sent(2 << 20, 0.5)
    text, rand = text_pages(64), random_pages(64)
    t = p.pack(PagesRead(numbers=tuple(range(64)), data=text, last=False))
    r = p.pack(PagesRead(numbers=tuple(range(64, 128)), data=rand, last=False))
    assert t.compressed and len(t.packed) < len(text) // 2
    assert not r.compressed and r.packed == rand
    for event in (t, r):  # what the target decodes is what was read
        msg = PageBatch(numbers=event.numbers, data=event.data, sent=0, total=128, packed=event.packed,
                        compressed=event.compressed)
        assert bytes(codec.decode(codec.encode(msg)).data) == bytes(event.data)


def test_on_a_fast_link_probes_measure_a_sample_and_batches_go_as_they_are():
    p = CompressionPolicy(idle=lambda: None)
    p.link_sent(2 << 20, 1e-4)        # ~20 GB/s: nothing can beat that
    text = text_pages(256)
    out = [p.pack(PagesRead(numbers=tuple(range(256)), data=text, last=False)) for _ in range(p.PROBE_EVERY + 1)]
    assert not any(e.compressed for e in out) and all(e.packed is text for e in out)
    assert p.speed > 0 and 0.2 < p.ratio < 0.8 and p.compressed == 0


def test_the_spare_cores_come_from_the_hosts_idle_time():
    ticks = iter([(100, 1000), (100 + 150, 1000 + 200)])     # idle 150 of 200 ticks since the last probe
    p = CompressionPolicy(idle=lambda: next(ticks))
    p.pack(PagesRead(numbers=(0,), data=text_pages(1), last=False))
    assert p.spare_cores == pytest.approx(0.75 * (os.cpu_count() or 1))


def test_a_page_batch_goes_out_as_head_and_payload_and_decodes_the_same():
    data = text_pages(8)
    msg = PageBatch(numbers=(4, 5, 6, 9, 10, 11, 12, 13), data=data, zeros=(7,), sent=8, total=9, round=2,
                    packed=data, compressed=False)
    head, payload = codec.encode_parts(msg)
    assert payload is data                                  # the pages are not copied to build the frame
    assert codec.encode(msg) == head + payload
    back = codec.decode(head + payload)
    assert (back.numbers, back.zeros, back.round, bytes(back.data)) == (msg.numbers, (7,), 2, data)


def test_large_frames_reassemble_from_pieces_exactly_as_small_ones():
    rng = random.Random(11)
    for _ in range(60):
        frames = [(rng.choice(list(FrameType)), os.urandom(rng.choice([0, 3, 500, 70_000, 300_000, 2 << 20])))
                  for _ in range(rng.randint(1, 6))]
        # As the source writes them: the header, then the payload as it is.
        stream = b"".join(frame_header(t, len(p)) + p for t, p in frames)
        assert stream == b"".join(encode_frame(t, p) for t, p in frames)
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(0, 40))))
        dec, got, prev = FrameDecoder(), [], 0
        for c in [*cuts, len(stream)]:
            got += dec.feed(stream[prev:c])
            prev = c
        assert [(f.type, f.payload) for f in got] == frames
        assert dec.pending == 0


def test_a_large_frame_half_received_counts_as_pending_and_the_length_is_checked_first():
    dec = FrameDecoder(max_frame=1 << 20)
    body = os.urandom(200_000)
    frame = encode_frame(FrameType.BINARY, body)
    assert dec.feed(frame[:100_000]) == [] and dec.pending == 100_000
    (f,) = dec.feed(frame[100_000:])
    assert f.payload == body and dec.pending == 0
    with pytest.raises(Exception, match="exceeds the limit"):
        FrameDecoder(max_frame=1 << 20).feed(frame_header(FrameType.BINARY, 2 << 20))


def test_the_ledger_of_a_batch_equals_the_ledger_of_its_pages():
    data = text_pages(16) + random_pages(16)
    numbers = tuple(range(100, 132))
    a, b = PageLedger(200), PageLedger(200)
    a.set_many(numbers, data, PAGE_SIZE)
    for i, page in enumerate(numbers):
        b.set(page, data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
    assert (a.checksum, a.count) == (b.checksum, b.count) and a.count == 32
    # A value depends on the page's number and on every byte of its contents.
    page = bytearray(data[:PAGE_SIZE])
    before = page_value(100, page)
    page[PAGE_SIZE - 1] ^= 1
    assert page_value(100, page) != before and page_value(101, data[:PAGE_SIZE]) != before


def test_a_peer_on_this_machine_never_counts_its_idle_core_as_spare():
    from ldtui.core.migration.compression import on_this_host as _on_this_host
    assert _on_this_host(("127.0.0.1", 2222)) and _on_this_host(("::1", 22)) and _on_this_host(("localhost", 22))
    assert not _on_this_host(("192.0.2.7", 22)) and not _on_this_host(None)
    p = CompressionPolicy(peer_on_this_host=True)
    p.pack(PagesRead(numbers=(0,), data=text_pages(1), last=False))
    assert p.spare_cores == 0.0


def test_text_after_random_pages_is_judged_as_text():
    """Each batch's own ratio decides (B-2): random pages before do not make text look incompressible."""
    p = CompressionPolicy(idle=lambda: None)
    for _ in range(8):
        p.link_sent(4 << 20, (4 << 20) / (119 * M))     # a 1 Gbit/s link, full
    rand, text = random_pages(64), text_pages(64)
    out = [p.pack(PagesRead(numbers=tuple(range(64)), data=d, last=False)) for d in (rand, rand, rand, text)]
    assert [e.compressed for e in out] == [False, False, False, True]


def test_the_link_rate_weighs_each_frame_by_the_time_it_took():
    """A frame that only filled free socket buffer left 'at' GB/s; it must not make a
    1 Gbit/s link look fast."""
    p = CompressionPolicy(idle=lambda: None)
    p.link_sent(4 << 20, 0.001)                          # into free buffer: 4 GB/s
    for _ in range(7):
        p.link_sent(4 << 20, (4 << 20) / (119 * M))      # then the link's own pace
    assert 110 * M < p.link_rate < 140 * M


def test_the_spare_cores_do_not_flip_on_one_idle_moment():
    ticks = iter([(0, 0), (0, 100), (0, 200), (100, 300)])     # busy, busy, then one idle interval
    p = CompressionPolicy(idle=lambda: next(ticks))
    for _ in range(3):
        p._probe(text_pages(1))
    assert p.spare_cores < (os.cpu_count() or 1) * 0.5
