"""The sessions around the engines: the data path, its order, its window (SPEC B-2, B-5).

The fault harness drives the same ``SourceSession``/``TargetSession`` as ``ldmd``. Here the
data frames cross out of order among themselves and overtake (or are overtaken by) the
control frames, as independent connections allow; the target still receives exactly the
memory that left, the window is never exceeded, and a data path that breaks before the
transfer is over ends like a lost link — never two copies.
"""

import random

import pytest

from harness import DataFrame, Pair, copies, make_guest, rewrite_pages, role_of
from ldtui.core.migration.codec import encode
from ldtui.core.migration.messages import DataPath, PageBatch
from ldtui.core.model import MigrationRole


def digest(host, name="ldg1"):
    return host.m.guest_info(name)["digest"]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("live", [False, True])
def test_data_out_of_order_arrives_whole(hosts, seed, live):
    a, b = hosts
    make_guest(a)
    before = digest(a)
    p = Pair(a, b, shuffle=random.Random(seed), window=6, between=rewrite_pages(2) if live else None)
    p.begin("ldg1", batch_pages=16, live=live, downtime_limit_ms=1)
    held = 0
    while p.step():
        assert p.ss.window.sent - p.ss.window.acked <= 6, "more data in flight than the window"
        held = max(held, p.ts._order.waiting)
    assert p.src.outcome.status == "completed", p.src.outcome
    assert digest(b) == before
    assert held > 0, "the shuffle never put a data message ahead of another"
    job = next(j for j in a.m.snapshot().jobs if j.domain == "ldg1")
    assert (job.transport, job.streams) == ("native", 1)
    tjob = next(j for j in b.m.snapshot().jobs if j.domain == "ldg1")
    assert (tjob.transport, tjob.streams) == ("native", 1)


def test_a_tunnelled_migration_carries_everything_on_the_control_link(hosts):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b, transport="tunnelled")
    p.begin("ldg1")
    data_frames = 0
    while True:
        data_frames += sum(isinstance(f, DataFrame) for f in p.to_target)
        if not p.step():
            break
    assert p.src.outcome.status == "completed" and data_frames == 0
    assert "→ DataPath" in p.trace
    assert next(j for j in b.m.snapshot().jobs if j.domain == "ldg1").transport == "tunnelled"


def test_a_data_message_seen_twice_ends_the_migration_cleanly(hosts):
    a, b = hosts
    uuid = make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1", batch_pages=16)
    while not any(isinstance(f, DataFrame) for f in p.to_target):
        assert p.step()
    first = next(f for f in p.to_target if isinstance(f, DataFrame))
    p.to_target.append(first)   # replayed
    p.run()
    assert p.src.outcome.status == "failed"
    assert "arrived twice" in " ".join(p.src.outcome.lines)
    assert copies(p, uuid) == 1 and role_of(b, "ldg1") is None


def test_transfer_done_waits_for_the_data_sent_before_it(hosts):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b, window=256)
    p.begin("ldg1", batch_pages=64)
    # Hold back every data frame until TransferDone has crossed on the control link.
    parked = []
    while True:
        frames = list(p.to_target)
        p.to_target.clear()
        parked += [f for f in frames if isinstance(f, DataFrame)]
        p.to_target.extend(f for f in frames if not isinstance(f, DataFrame))
        if any(b'"type":"TransferDone"' in f[:200] for f in p.to_target):
            break
        assert p.step()
    while p.to_target:
        p.step()
    assert p.ts._done_waiting is not None and p.tgt.engine.state.value == "receiving"
    p.to_target.extend(parked)
    p.run()
    assert p.src.outcome.status == "completed"


@pytest.mark.parametrize("live", [False, True])
def test_losing_only_the_data_connections_at_any_point_is_safe(hosts, live):
    a, b = hosts
    uuid = make_guest(a)
    before = digest(a)
    probe = Pair(a, b, between=rewrite_pages(2) if live else None)
    probe.begin("ldg1", batch_pages=32, live=live, downtime_limit_ms=1)
    probe.run()
    total = probe.steps
    back = Pair(b, a)
    back.begin("ldg1")
    back.run()
    ends = set()
    for k in range(0, total + 1, 3):
        p = Pair(a, b, between=rewrite_pages(2) if live else None)
        p.begin("ldg1", batch_pages=32, live=live, downtime_limit_ms=1)
        for _ in range(k):
            p.step()
        p.drop_data()
        p.run()
        assert copies(p, uuid) == 1, "the domain must run exactly once"
        on_a, on_b = role_of(a, "ldg1"), role_of(b, "ldg1")
        assert on_a is not MigrationRole.ERROR, "a data path ends before GO: never the error state"
        assert (on_a is None) != (on_b is None)
        assert a.m.migrating() == {} and b.m.migrating() == {}
        home = a if on_a is not None else b
        assert digest(home) == before
        ends.add("source" if home is a else "target")
        if home is b:
            back = Pair(b, a)
            back.begin("ldg1")
            back.run()
    assert ends == {"source", "target"}


def test_a_data_path_message_from_the_target_or_pages_on_control_before_the_path_are_refused(hosts):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1")
    while p.tgt.engine.state.value != "receiving":
        assert p.step()
    # A page batch where a control frame belongs is taken as tunnelled data; a DataPath
    # after the path was set changes nothing the engine sees.
    p.to_target.append(encode(DataPath(transport="tunnelled")))
    p.run()
    assert p.src.outcome.status == "completed"
    assert isinstance(PageBatch, type)


def test_a_batch_never_holds_more_than_its_pages_whatever_the_runs(hosts):
    """Runs of every length are cut so no page batch exceeds the batch size: a data record
    has a bounded size (B-5)."""
    a, b = hosts
    make_guest(a, seconds=0)
    mem = a.m.hv.memory(a.m.domain("ldg1").uuid)
    page = 0
    for length in (3, 40, 17, 64, 1, 90, 33):      # runs of data with holes between them
        for k in range(length):
            mem.write_page(page + k, bytes([1 + k % 250]) * 8192)
        page += length + 5
    before = digest(a)
    p = Pair(a, b)
    p.begin("ldg1", batch_pages=32)
    biggest = 0
    while p.step():
        for f in p.to_target:
            if isinstance(f, DataFrame) and b'"type":"PageBatch"' in f[:200]:
                from ldtui.core.migration.codec import decode
                biggest = max(biggest, len(decode(f).numbers))
    assert p.src.outcome.status == "completed" and digest(b) == before
    assert biggest == 32


@pytest.mark.parametrize("live", [False, True])
def test_zero_pages_inside_data_are_left_out_of_pooled_buffers_and_arrive_as_zeros(hosts, live):
    """Pages read into a reused buffer are packed down over the zero pages between them
    (B-2); the target ends with exactly the source's memory, zero pages included."""
    a, b = hosts
    make_guest(a, seconds=0)
    mem = a.m.hv.memory(a.m.domain("ldg1").uuid)
    for page in range(300):
        mem.write_page(page, (bytes(8192) if page % 7 in (2, 3) else bytes([1 + page % 200]) * 8192))

    def zero_some(pair):   # live: pages are stored (as zeros) again while it runs: sent again
        pair.source.clock.advance(0.01)
        for page in (10, 11, 40):
            mem.write_page(page, bytes(8192))
    if live:
        for page in (10, 11, 40):
            mem.write_page(page, bytes(8192))
    before = digest(a)
    p = Pair(a, b, between=zero_some if live else None)
    p.begin("ldg1", batch_pages=16, live=live, downtime_limit_ms=1)
    p.run()
    assert p.src.outcome.status == "completed", p.src.outcome
    assert p.src.reuse_buffers and len(p.src._pool) > 0
    assert digest(b) == before
    target = b.m.hv.memory(b.m.domain("ldg1").uuid)
    assert target.read_page(10) == bytes(8192) and target.read_page(3) == bytes(8192)
    assert target.read_page(5) == bytes([6]) * 8192
