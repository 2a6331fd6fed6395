"""A host's snapshot read from its ldm listings, and its migrations followed from poll to
poll when ldm shows them only while they run (protocol ``ldm``, issue 13)."""

from __future__ import annotations

from ldtui.core.ldm_output import read_devices, read_domains, read_status
from ldtui.core.ldm_snapshot import JOB_DETAIL, UNREPORTED, JobTracker, build_snapshot, job_id

LISTING = """VERSION 1.3
DOMAIN|name=primary|state=active|flags=-n-cv-|cons=SP|ncpu=8|mem=4294967296|util=0.3|uptime=335220
DOMAIN|name=ldg1|state=active|flags={flags}|cons=5000|ncpu=4|mem=1073741824|util=12.5|uptime=3600
DOMAIN|name=ldg2|state=bound|flags=------|cons=5001|ncpu=1|mem=536870912|util=|uptime=
"""
DEVICES = """VERSION 1.3
VCPU
|pid=0|free=0|pm=no
|pid=1|free=100|pm=
|pid=2|free=100|pm=
MAU
|cpuset=0,1|bound=primary
|cpuset=2,3|bound=
MEMORY
|pa=0x0|size=134217728|bound=_sys_
|pa=0x8000000|size=4294967296|bound=primary
|pa=0x108000000|size=2147483648|bound=
"""
STATUS_NONE = "VERSION 1.3\nDOMAIN|name=primary|\nSTATUS\nDOMAIN|name=ldg1|\nSTATUS\nDOMAIN|name=ldg2|\nSTATUS\n"
SOURCE = "VERSION 1.3\nDOMAIN|name=ldg1|\nSTATUS\n|op=migration|progress={p}|error={e}|target=t5440-sys-2\n"
TARGET = "VERSION 1.3\nDOMAIN|name=ldg1|\nSTATUS\n|op=migration|progress={p}|error=no|source=t5440-sys-1\n"


def poll(tracker, *, flags="-n----", status=STATUS_NONE, listing=LISTING, now=100.0, host="t5440-sys-1"):
    return build_snapshot(host, "3.4.0.3.6", read_domains(listing.format(flags=flags)), read_devices(DEVICES),
                          read_status(status), tracker, now)


def test_the_figures_of_the_hosts_panel_and_the_domain_rows():
    snap = poll(JobTracker())
    assert (snap.hostname, snap.manager_version) == ("t5440-sys-1", "3.4.0.3.6")
    assert (snap.strands_free, snap.strands_total, snap.maus_free, snap.maus_total) == (2, 3, 1, 2)
    assert (snap.memory_free, snap.memory_total) == (2 << 30, (4 << 30) + (2 << 30) + (128 << 20))
    assert [(d.name, d.state, d.flags, d.cons, d.vcpus, d.memory, d.util, d.uptime) for d in snap.domains] == [
        ("primary", "active", "-n-cv-", "SP", 8, 4 << 30, 0.3, 335220),
        ("ldg1", "active", "-n----", "5000", 4, 1 << 30, 12.5, 3600),
        ("ldg2", "bound", "------", "5001", 1, 512 << 20, None, None)]
    assert snap.jobs == ()
    assert set(snap.unreported) == {*UNREPORTED, JOB_DETAIL}
    assert snap.domains[0].is_control and not snap.domains[1].migrating


def test_a_running_migration_is_on_its_row_and_in_the_jobs_with_one_id_on_both_hosts():
    src, dst = JobTracker(), JobTracker()
    s = poll(src, flags="-n---s", status=SOURCE.format(p=42, e="no"))
    t = poll(dst, flags="-t---t", status=TARGET.format(p=41), host="t5440-sys-2")
    job = s.domains[1].migration
    assert (job.role, job.state, job.progress, job.peer_host, job.peer_domain) == (
        "source", "running", 42, "t5440-sys-2", "ldg1")
    assert not job.detail_reported and job.phase == 0
    assert t.domains[1].migration.role == "target" and t.domains[1].migration.peer_host == "t5440-sys-1"
    assert job.id == t.domains[1].migration.id == job_id("t5440-sys-1", "t5440-sys-2", "ldg1")
    assert [j.id for j in s.jobs] == [job.id]


def test_the_end_is_read_from_where_the_domain_is_afterwards():
    moved, stayed = JobTracker(), JobTracker()
    for tracker in (moved, stayed):
        poll(tracker, flags="-n---s", status=SOURCE.format(p=10, e="no"), now=100.0)
        poll(tracker, flags="-n---s", status=SOURCE.format(p=90, e="no"), now=101.0)
    gone = LISTING.replace("DOMAIN|name=ldg1|state=active|flags={flags}|cons=5000|ncpu=4|mem=1073741824|util=12.5|uptime=3600\n", "")
    done = poll(moved, listing=gone, now=102.0).jobs
    assert [(j.state, j.progress, j.started, j.finished) for j in done] == [("completed", 100, 100.0, 102.0)]
    failed = poll(stayed, now=102.0).jobs
    assert [j.state for j in failed] == ["failed"]
    assert failed[0].reason.startswith("ldg1 is still on the source; ldm does not say why")
    assert failed[0].progress == 90


def test_on_the_target_a_domain_that_stays_arrived_and_one_that_goes_did_not():
    arrived, dropped = JobTracker(), JobTracker()
    for tracker in (arrived, dropped):
        poll(tracker, flags="-t---t", status=TARGET.format(p=50), host="t5440-sys-2")
    assert poll(arrived, host="t5440-sys-2").jobs[0].state == "completed"
    gone = LISTING.replace("DOMAIN|name=ldg1|state=active|flags={flags}|cons=5000|ncpu=4|mem=1073741824|util=12.5|uptime=3600\n", "")
    assert poll(dropped, listing=gone, host="t5440-sys-2").jobs[0].state == "failed"


def test_the_error_state_and_its_resolution():
    tracker = JobTracker()
    snap = poll(tracker, flags="-n---e", status=SOURCE.format(p=100, e="yes"))
    job = snap.domains[1].migration
    assert (job.state, job.role, job.progress) == ("error", "source", 100)
    # Destroyed on the source (the target runs it): the migration did complete.
    gone = LISTING.replace("DOMAIN|name=ldg1|state=active|flags={flags}|cons=5000|ncpu=4|mem=1073741824|util=12.5|uptime=3600\n", "")
    assert poll(JobTracker(), listing=gone).jobs == ()
    assert poll(tracker, listing=gone).jobs[0].state == "completed"


def test_fields_our_own_ldm_adds_fill_the_detail():
    status = SOURCE.format(p=30, e="no").rstrip("\n") + (
        "|mode=live|phase=transfer|iteration=2|processed=1048576|remaining=2097152|total=3145728|rate=524288"
        "|dirty-rate=1024|throttle=5|zero-pages=7|expected-downtime=12|wire=999999|transport=native"
        "|streams=2|wire-rate=500000|cap=\n")
    snap = poll(JobTracker(), flags="-n---s", status=status)
    job = snap.domains[1].migration
    assert job.detail_reported and (job.phase, job.phase_name, job.live, job.iteration) == (3, "transfer", True, 2)
    assert (job.bytes_sent, job.bytes_remaining, job.bytes_total, job.rate, job.streams) == (
        1 << 20, 2 << 20, 3 << 20, 524288.0, 2)
    assert JOB_DETAIL not in snap.unreported


def test_history_is_bounded():
    tracker = JobTracker()
    gone = LISTING.replace("DOMAIN|name=ldg1|state=active|flags={flags}|cons=5000|ncpu=4|mem=1073741824|util=12.5|uptime=3600\n", "")
    for i in range(60):
        poll(tracker, flags="-n---s", status=SOURCE.format(p=1, e="no"), now=float(i))
        poll(tracker, listing=gone, now=i + 0.5)
    assert len(tracker.jobs) == 50


def test_what_the_console_was_told_names_the_end_instead_of_a_guess():
    cancelled, failed = JobTracker(), JobTracker()
    for tracker in (cancelled, failed):
        poll(tracker, flags="-n---s", status=SOURCE.format(p=10, e="no"), now=100.0)
    cancelled.note_outcome("ldg1", "cancelled", "cancelled from this console")
    assert [(j.state, j.reason) for j in poll(cancelled, now=101.0).jobs] == [
        ("cancelled", "cancelled from this console")]
    # Told after the poll that saw the end: the guess is corrected.
    assert poll(failed, now=101.0).jobs[0].state == "failed"
    failed.note_outcome("ldg1", "failed", "Unable to bind 1G memory region at real address 0x8000000")
    assert [(j.state, j.reason) for j in failed.jobs] == [
        ("failed", "Unable to bind 1G memory region at real address 0x8000000")]
    # Words about a migration this host never showed are forgotten at the next poll.
    fresh = JobTracker()
    fresh.note_outcome("ldg1", "failed", "refused")
    poll(fresh, flags="-n---s", status=SOURCE.format(p=10, e="no"))
    assert poll(fresh).jobs[0].reason.endswith("(see the migrate command's output)")

