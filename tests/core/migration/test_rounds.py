"""What each host records of a migration's rounds, for the jobs view's picture of them:
guest memory sent per round, and which round went with the domain suspended (SPEC T-4,
B-1, B-4). It travels in the snapshot's JSON and stays in the host's history across a
restart of its manager."""

import json

from harness import G, Pair, guest_time, make_guest
from ldtui.core.migration import SourceState
from ldtui.core.snapshot import HostSnapshot
from ldtui.core.store import converter
from ldtui.hv.machine import PAGE_SIZE

M = 1 << 20


def run_until(pair: Pair, predicate, limit: int = 100_000) -> None:
    for _ in range(limit):
        if predicate() or not pair.step():
            return
    raise AssertionError("condition never met")


def job_of(host, mig_id):
    return next(j for j in host.m.snapshot().jobs if j.id == mig_id)


def test_a_live_migration_records_every_round_on_both_hosts_and_marks_the_suspended_one(hosts):
    a, b = hosts
    make_guest(a, memory=1 * G)
    a.m.set_guest("ldg1", write_rate=4 * M)
    p = Pair(a, b, between=guest_time(0.01))
    p.begin("ldg1", live=True, downtime_limit_ms=5)
    run_until(p, lambda: p.src.engine.round >= 1 and p.src.engine.pages_sent > 0
              and p.src.engine.state is SourceState.PRECOPY)
    running = job_of(a, p.src.mig_id)
    assert running.state == "running" and running.suspended_round == -1
    assert len(running.round_bytes) == running.iteration + 1   # the round being sent is the last
    p.run()
    assert p.src.outcome.status == "completed", p.src.outcome
    src, tgt = job_of(a, p.src.mig_id), job_of(b, p.src.mig_id)
    rounds = src.round_bytes
    assert len(rounds) >= 3 and src.suspended_round == len(rounds) - 1
    assert sum(rounds) == src.bytes_sent and all(n % PAGE_SIZE == 0 for n in rounds)
    # The first full copy is the big one; what the suspend waited for is a small rest.
    assert rounds[0] == max(rounds) and rounds[-1] < rounds[0] // 10
    # The target counted what it received per round, and knows which came after the image.
    assert (tgt.round_bytes, tgt.suspended_round) == (rounds, src.suspended_round)


def test_a_suspended_copy_has_one_round_sent_with_the_domain_suspended(hosts):
    a, b = hosts
    make_guest(a, memory=1 * G)
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, lambda: p.src.engine.state is SourceState.TRANSFERRING and p.src.engine.pages_sent > 0)
    running = job_of(a, p.src.mig_id)
    assert len(running.round_bytes) == 1 and running.suspended_round == 0
    p.run()
    done = job_of(a, p.src.mig_id)
    assert done.round_bytes == (done.bytes_sent,) and done.suspended_round == 0
    assert job_of(b, p.src.mig_id).round_bytes == done.round_bytes


def test_rounds_travel_in_the_snapshot_json_and_survive_a_restart_of_either_manager(hosts):
    a, b = hosts
    make_guest(a, memory=1 * G)
    a.m.set_guest("ldg1", write_rate=4 * M)
    p = Pair(a, b, between=guest_time(0.01))
    p.begin("ldg1", live=True, downtime_limit_ms=5)
    run_until(p, lambda: p.src.engine.round >= 1)
    # Mid-migration, over the console's RPC: JSON of the converter's plain values.
    wire = json.loads(json.dumps(converter.unstructure(a.m.snapshot())))
    seen = converter.structure(wire, HostSnapshot)
    mine = job_of(a, p.src.mig_id)
    got = next(j for j in seen.jobs if j.id == mine.id)
    assert got == mine and isinstance(got.round_bytes, tuple) and len(got.round_bytes) >= 2
    p.run()
    before = {h: job_of(h, p.src.mig_id) for h in (a, b)}
    for host in (a, b):
        host.restart()
        after = job_of(host, p.src.mig_id)
        assert after == before[host]
        assert isinstance(after.round_bytes, tuple) and after.suspended_round == len(after.round_bytes) - 1


def test_a_record_from_before_rounds_were_kept_still_reads():
    from ldtui.core.snapshot import MigrationProgress
    old = {"id": "m-1", "role": "source", "domain": "ldg1", "peer_host": "t5440-sys-2", "peer_domain": "ldg1",
           "phase": 4, "phase_name": "handoff", "progress": 100, "state": "completed"}
    job = converter.structure(old, MigrationProgress)
    assert job.round_bytes == () and job.suspended_round == -1
