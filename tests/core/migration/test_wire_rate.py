"""The status tells guest memory a second and bytes on the wire a second apart, with the
``-b`` cap beside the wire's rate (SPEC B-2, B-4, L-4): a cap of 1M with RATE 28.0M/s is
compression at work, not a cap that does not hold."""

from ldtui.core.migration.jobs import Jobs
from ldtui.core.migration.status import detail_fields, detail_rows

M = 1 << 20


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_wire_rate_is_measured_beside_the_memory_rate_and_the_cap_is_kept():
    clock = Clock()
    jobs = Jobs(clock)
    jobs.begin(mig_id="m1", role="source", domain="ldg1", peer_host="t5440-sys-2", peer_domain="ldg1")
    jobs.update("m1", bandwidth_cap=M, bytes_total=64 * M)
    clock.now += 1.0
    jobs.update("m1", bytes_sent=28 * M, wire=M)
    job = jobs.get("m1")
    assert (job.rate, job.wire_rate, job.bandwidth_cap) == (28 * M, M, M)
    assert "    RATE         28.0M/s, wire 1.0M/s (cap 1M)" in detail_rows(job)
    assert detail_fields(job).endswith(f"|wire-rate={M}|cap={M}")
    clock.now += 1.0
    jobs.update("m1", bytes_sent=64 * M, wire=M)
    jobs.finish("m1", "completed")
    done = jobs.get("m1")
    assert (done.rate, done.wire_rate) == (32 * M, M)      # averages once it is over


def test_without_a_cap_the_wire_rate_is_shown_alone():
    clock = Clock()
    jobs = Jobs(clock)
    jobs.begin(mig_id="m1", role="target", domain="ldg1", peer_host="t5440-sys-1", peer_domain="ldg1", live=True)
    clock.now += 0.5
    jobs.update("m1", bytes_sent=4 * M, bytes_total=8 * M, wire=3 * M, dirty_rate=M)
    job = jobs.get("m1")
    rate_row = next(r for r in detail_rows(job) if r.startswith("    RATE"))
    assert rate_row == "    RATE         8.0M/s, wire 6.0M/s, guest dirties 1.0M/s"
    assert detail_fields(job).endswith(f"|wire-rate={6 * M}|cap=")
