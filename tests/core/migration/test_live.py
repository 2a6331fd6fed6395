"""B-1, B-2: live migration in memory — pre-copy rounds over the dirty log, switchover,
auto-converge, zero pages — with the hosts' managers and the real codec."""

import pytest

from harness import G, Pair, guest_time, make_guest, rewrite_pages
from ldtui.core.migration import SourceState
from ldtui.core.migration.precopy import Convergence, RoundResult
from ldtui.hv.hypervisor import RunState
from ldtui.hv.machine import PAGE_SIZE

M = 1 << 20


def run_until(pair: Pair, predicate, limit: int = 100_000) -> None:
    for _ in range(limit):
        if predicate() or not pair.step():
            return
    raise AssertionError("condition never met")


def test_live_migration_copies_while_the_guest_runs_and_suspends_only_for_the_rest(hosts):
    """The guest writes 4 MB/s while its pages go; rounds resend what it dirtied; the
    target ends with exactly the memory the source held at the suspend."""
    a, b = hosts
    uuid = make_guest(a, memory=1 * G)
    a.m.set_guest("ldg1", write_rate=4 * M)
    p = Pair(a, b, between=guest_time(0.01))
    p.begin("ldg1", live=True, downtime_limit_ms=5)
    counter_before = a.m.guest_info("ldg1")["counter"]
    run_until(p, lambda: p.src.engine.state is SourceState.TRANSFERRING)
    # The guest ran during pre-copy; now it is suspended and its memory frozen.
    assert a.m.hv.get(uuid).run_state is RunState.SUSPENDED
    at_suspend = a.m.guest_info("ldg1")
    assert at_suspend["counter"] > counter_before
    p.run()
    assert p.src.outcome.status == "completed", p.src.outcome
    got = b.m.guest_info("ldg1")
    assert got["digest"] == at_suspend["digest"]
    assert got["run_state"] == "running" and got["counter"] >= at_suspend["counter"]
    job = p.src.jobs.get(p.src.mig_id)
    assert job.live and job.state == "completed" and job.iteration >= 2
    assert job.zero_pages > 0 and job.progress == 100
    # Round 0 sent every page that held data, later rounds only dirtied ones.
    rounds = [line for line in p.trace if line == "→ PageBatch"]
    assert len(rounds) > (a.m.hv.memory(uuid).pages if a.m.hv.has(uuid) else 0)
    assert not a.m.hv.has(uuid) and "ldg1" not in a.names()


def test_pages_that_become_zero_travel_as_markers_and_the_checksum_holds(hosts):
    a, b = hosts
    uuid = make_guest(a, memory=1 * G)
    p = Pair(a, b, between=rewrite_pages(2))
    p.begin("ldg1", live=True, downtime_limit_ms=1)
    # After round 0, zero a page that held data: the target must learn it reads as zeros.
    run_until(p, lambda: p.src.engine.round >= 1)
    mem = a.m.hv.memory(uuid)
    page = next(n for n, _ in mem.nonzero_pages())
    mem.write_page(page, bytes(PAGE_SIZE))
    digest = a.m.guest_info("ldg1")["digest"]
    p.run()
    assert p.src.outcome.status == "completed", p.src.outcome
    assert p.src.engine.zero_markers >= 1
    assert b.m.guest_info("ldg1")["digest"] == digest


def test_a_guest_that_dirties_faster_than_the_link_is_throttled_step_by_step_then_switched(hosts):
    a, b = hosts
    uuid = make_guest(a, memory=1 * G)
    a.m.set_guest("ldg1", write_rate=100 * M)   # 128 pages per 10 ms; a batch carries 64
    throttles = []

    def watch(pair):
        guest_time(0.01)(pair)
        if a.m.hv.has(uuid):
            t = a.m.hv.get(uuid).throttle
            if not throttles or throttles[-1] != t:
                throttles.append(t)
    p = Pair(a, b, between=watch)
    p.begin("ldg1", live=True, downtime_limit_ms=1)
    p.run()
    assert p.src.outcome.status == "completed", p.src.outcome
    assert throttles[:3] == [0, 20, 30] and throttles[-1] == 99
    job = p.src.jobs.get(p.src.mig_id)
    assert job.throttle == 99
    assert p.src.engine.forced_switchover or job.expected_downtime_ms <= 1
    # The throttle is the source host's: the domain runs at full speed on the target.
    assert b.m.hv.get(b.m.domain("ldg1").uuid).throttle == 0


def test_cancel_during_pre_copy_leaves_the_guest_running_unthrottled(hosts):
    a, b = hosts
    uuid = make_guest(a, memory=1 * G)
    a.m.set_guest("ldg1", write_rate=200 * M)
    p = Pair(a, b, between=guest_time(0.01))
    p.begin("ldg1", live=True, downtime_limit_ms=1)
    run_until(p, lambda: a.m.hv.get(uuid).throttle >= 30)
    assert p.cancel("ldg1") == "cancelled"
    p.run()
    assert p.src.outcome.status == "cancelled"
    rt = a.m.hv.get(uuid)
    assert rt.run_state is RunState.RUNNING and rt.throttle == 0
    assert a.m.domain("ldg1").state.value == "active" and a.m.domain("ldg1").migration is None
    assert "ldg1" not in b.names()


def test_a_live_request_for_a_bound_domain_is_an_ordinary_move(hosts):
    a, b = hosts
    make_guest(a, state="bound")
    p = Pair(a, b)
    p.begin("ldg1", live=True)
    p.run()
    assert p.src.outcome.status == "completed"
    assert not [t for t in p.trace if t == "→ PageBatch"]


@pytest.mark.parametrize("sent, seconds, dirty, limit, switch", [
    (1000 * M, 1.0, 600 * M, 700, True),     # 600 ms fits 700 ms; the guest dirties too fast for another round to halve it
    (1000 * M, 1.0, 100 * M, 300, False),    # 100 ms fits 300 ms, but one more round leaves ~10 ms: it pays
    (1000 * M, 1.0, 15 * M, 300, True),      # 15 ms left: not worth another round
    (1000 * M, 1.0, 400 * M, 300, False),    # 400 ms does not fit
    (0, 1.0, 0, 300, True),                  # nothing left
])
def test_the_switchover_rule(sent, seconds, dirty, limit, switch):
    c = Convergence(downtime_limit_ms=limit)
    d = c.after_round(RoundResult(round=0, sent_bytes=sent, seconds=seconds, dirty_bytes=dirty))
    assert d.switch_over is switch and not d.forced
    if sent:
        assert d.expected_downtime_ms == pytest.approx(dirty / sent * 1000)


def test_auto_converge_steps_twenty_then_ten_up_to_99_then_forces_the_switch():
    c = Convergence(downtime_limit_ms=1, max_rounds=100)
    steps = []
    for r in range(20):
        d = c.after_round(RoundResult(round=r, sent_bytes=10 * M, seconds=1.0, dirty_bytes=10 * M))
        if d.switch_over:
            assert d.forced
            break
        steps.append(d.throttle)
    assert steps == [20, 30, 40, 50, 60, 70, 80, 90, 99]


def test_a_guest_dirtying_slowly_is_never_throttled_and_rounds_are_capped():
    c = Convergence(downtime_limit_ms=1, max_rounds=5)
    for r in range(5):
        d = c.after_round(RoundResult(round=r, sent_bytes=10 * M, seconds=1.0, dirty_bytes=2 * M))
        assert d.throttle == 0
    assert d.switch_over and d.forced


def test_the_ledger_sums_the_latest_contents_of_every_page_in_any_order():
    from ldtui.core.migration.ledger import PageLedger
    a, b = PageLedger(16), PageLedger(16)
    one, two = b"\x01" * PAGE_SIZE, b"\x02" * PAGE_SIZE
    a.set_many((3, 4), one + two, PAGE_SIZE)
    a.set(3, two)          # sent again in a later round
    a.set(9, one)
    a.clear(9)             # and zeroed after that
    b.set(4, two)
    b.set_many((3,), two, PAGE_SIZE)
    assert (a.checksum, a.count) == (b.checksum, b.count) and a.count == 2
    b.set(5, one)
    assert a.checksum != b.checksum


def test_a_fast_first_round_is_followed_by_one_more_then_the_switch():
    # 4 GiB in 6 s while the guest writes 20 MB/s: the first round's dirty log (~126 MB)
    # would fit 300 ms, but one more round leaves ~5 MB (~8 ms of pause).
    c = Convergence(downtime_limit_ms=300)
    first = c.after_round(RoundResult(round=0, sent_bytes=3200 * M, seconds=6.0, dirty_bytes=126 * M))
    assert not first.switch_over and first.throttle == 0 and first.expected_downtime_ms < 300
    second = c.after_round(RoundResult(round=1, sent_bytes=126 * M, seconds=0.25, dirty_bytes=5 * M))
    assert second.switch_over and not second.forced and second.expected_downtime_ms < 20
