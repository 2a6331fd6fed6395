"""What operators see while a migration runs and after it failed (SPEC G-11, G-12, G-13, L-4, B-3)."""

import pytest

from harness import Pair, make_guest, run_until_frame as run_until
from ldtui.core.commands import execute
from ldtui.core.errors import LdmError
from ldtui.core.migration import (
    ErrorAction, TargetReport, assess_error, cancel_migration, recover, resolve_error, target_report,
)
from ldtui.core.migration.messages import Go


def ldm(host, line):
    return execute(host.m, "root", line.split())




def test_progress_rises_on_both_hosts_and_the_listings_show_the_roles(hosts):
    a, b = hosts
    make_guest(a, vcpus=4, seconds=4)
    p = Pair(a, b)
    p.begin("ldg1", batch_pages=16)
    seen_a, seen_b, looked = [], [], False
    while p.step():
        da = next((d for d in a.m.domains() if d.name == "ldg1"), None)
        db = next((d for d in b.m.domains() if d.name == "ldg1"), None)
        if da is not None and da.migration is not None and db is not None and db.migration is not None:
            seen_a.append(da.migration.progress)
            seen_b.append(db.migration.progress)
            if da.state.value == "suspended" and not looked:
                looked = True
                # Seed 8-1 / 8-5 layouts: the source suspended with one vCPU, the target bound.
                row = ldm(a, "list ldg1").stdout.splitlines()[1]
                assert (row[11:22], row[22:30], row[38:44]) == ("suspended  ", "-n---s  ", "1     ")
                assert ldm(b, "list ldg1").stdout.splitlines()[1].split()[:3] == ["ldg1", "bound", "-----t"]
                status = ldm(b, "list -o status ldg1").stdout.splitlines()
                assert status[4] == "    OPERATION    PROGRESS    SOURCE"
                assert status[5].split()[2] == "t5440-sys-1"
    assert looked
    assert seen_a == sorted(seen_a) and seen_b == sorted(seen_b)
    assert len(set(seen_a)) > 3 and seen_b[-1] == 100
    (job,) = [j for j in a.m.snapshot().jobs if j.domain == "ldg1"]
    assert (job.state, job.progress, job.role) == ("completed", 100, "source")
    assert job.bytes_total > 0 and job.bytes_sent > 0 and job.phase == 4
    (tjob,) = [j for j in b.m.snapshot().jobs if j.domain == "ldg1"]
    assert (tjob.state, tjob.progress, tjob.peer_host) == ("completed", 100, "t5440-sys-1")


def test_a_lost_link_after_go_leaves_the_source_in_error_until_the_operator_decides(hosts):
    a, b = hosts
    make_guest(a)
    digest = a.m.guest_info("ldg1")["digest"]
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, "Go")
    p.drop_link()  # GO is lost on the way: the target never resumes, the source must not either
    assert "ldg1" not in [d.name for d in b.m.domains()]
    row = ldm(a, "list ldg1").stdout.splitlines()[1].split()
    assert row[1:3] == ["suspended", "-n---e"]
    assert "error=yes" in ldm(a, "list -o status -p ldg1").stdout
    with pytest.raises(LdmError, match="migration error state"):
        a.m.stop_domain("ldg1")
    # A restart changes nothing: still e, journal kept, never resumed by itself.
    a.restart()
    assert a.m.domain("ldg1").migration.error and a.m.guest_info("ldg1")["run_state"] == "suspended"
    # The target has no copy: the wizard says restore, and cancel-operation does it (G-13).
    rec = assess_error(a.m.domain("ldg1"), target_report(b.m, "ldg1"))
    assert rec.action is ErrorAction.RESTORE_SOURCE
    cancel_migration(a.m, "ldg1")
    info = a.m.guest_info("ldg1")
    assert (info["run_state"], info["digest"]) == ("running", digest)
    assert ldm(a, "list ldg1").stdout.splitlines()[1].split()[1:3] == ["active", "-n----"]
    assert a.m.store.journal_entries() == []


def test_the_wizard_never_advises_anything_destructive_while_in_doubt(hosts):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, "Resumed")
    p.drop_link()  # the target runs it, the source never heard
    src = a.m.domain("ldg1")
    assert assess_error(src, TargetReport(reachable=False, detail="timed out")).action is ErrorAction.WAIT
    assert assess_error(src, TargetReport(reachable=True, exists=True, state="active", migrating=True)
                        ).action is ErrorAction.WAIT
    assert assess_error(src, TargetReport(reachable=True, exists=True, state="bound")).action is ErrorAction.WAIT
    with pytest.raises(LdmError, match="until the target can be checked"):
        resolve_error(a.m, "ldg1", ErrorAction.WAIT)
    rec = assess_error(src, target_report(b.m, "ldg1"))
    assert rec.action is ErrorAction.DESTROY_SOURCE and rec.title == "ldg1 runs on t5440-sys-2"
    resolve_error(a.m, "ldg1", rec.action)
    assert "ldg1" not in [d.name for d in a.m.domains()]
    assert b.m.guest_info("ldg1")["run_state"] == "running"


def test_cancel_needs_a_migration_and_recover_is_idempotent(hosts):
    a, b = hosts
    make_guest(a)
    with pytest.raises(LdmError, match="No migration of LDom ldg1 is in progress"):
        cancel_migration(a.m, "ldg1")
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, "PageBatch")
    p.crash_source()
    assert recover(a.m) == []  # already settled at the restart
    assert a.m.guest_info("ldg1")["run_state"] == "running"


def test_the_target_resumes_after_a_crash_between_go_and_its_resume(hosts):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, "Go")
    # Deliver GO by hand into a target that journals it and dies before resuming.
    tgt = p.tgt
    real_resume = tgt._do_ResumeReceived
    tgt._do_ResumeReceived = lambda action: (_ for _ in ()).throw(SystemExit("power cut"))
    with pytest.raises(SystemExit):
        tgt.receive(Go())
    tgt._do_ResumeReceived = real_resume
    assert [e["phase"] for e in b.m.store.journal_entries()] == ["go"]
    p.to_target.clear()
    p.src.feed(__import__("ldtui.core.migration", fromlist=["LinkLost"]).LinkLost())
    b.restart()
    assert b.m.guest_info("ldg1")["run_state"] == "running"
    assert b.m.store.journal_entries() == []
    rec = assess_error(a.m.domain("ldg1"), target_report(b.m, "ldg1"))
    assert rec.action is ErrorAction.DESTROY_SOURCE


def test_remove_domain_destroys_the_source_copy_in_error_only_when_named(hosts):
    """G-13: the target runs the domain, so the operator destroys the source copy with ldm."""
    a, b = hosts
    make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, "Resumed")
    p.drop_link()
    assert ldm(a, "list ldg1").stdout.splitlines()[1].split()[2] == "-n---e"
    r = ldm(a, "remove-domain -a")            # -a never touches a copy in e
    assert r.exit_code == 1 and "migration error state" in r.stderr
    assert a.m.domain("ldg1").migration.error
    r = ldm(a, "remove-domain ldg1")
    assert (r.exit_code, r.stdout) == (0, "Source copy of LDom ldg1 destroyed: the migration target now "
                                          "holds the only copy\n")
    assert "ldg1" not in [d.name for d in a.m.domains()] and a.m.store.journal_entries() == []
    assert b.m.guest_info("ldg1")["run_state"] == "running"


def test_a_second_migration_of_the_same_domain_is_refused_and_leaves_the_first_alone(hosts):
    """M-7: the first request holds the domain from the moment it is accepted."""
    from ldtui.core.migration import SourceRun
    a, b = hosts
    make_guest(a)
    first = SourceRun(a.m, "ldg1", target_host="t5440-sys-2", user="root")
    with pytest.raises(LdmError, match="being migrated"):
        SourceRun(a.m, "ldg1", target_host="t5440-sys-2", user="root")
    assert a.m.migrating() == {"ldg1": first.mig_id}
    r = ldm(a, "stop-domain ldg1")
    assert r.exit_code == 1 and "being migrated" in r.stderr
    first.abandon(("t5440-sys-2 cannot be reached",))
    assert a.m.migrating() == {} and a.m.guest_info("ldg1")["run_state"] == "running"
