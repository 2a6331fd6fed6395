"""What each host remembers of a migration, whoever started it and however often its
manager restarted since (SPEC G-13, L-4, B-3, B-4, T-4, T-6; issue 15 items 1, 2, 5)."""

from harness import Pair, make_guest, run_until_frame as run_until
from ldtui.core.commands import execute
from ldtui.core.migration import cancel_migration


def ldm(host, line):
    return execute(host.m, "root", line.split())




def error_row(host, name="ldg1"):
    return next(d for d in host.m.snapshot().domains if d.name == name)


def test_an_error_domain_names_its_target_and_all_it_sent_after_a_restart(hosts, clock):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1", target_name="ldg-new")
    run_until(p, "Go")
    clock.advance(5)
    p.drop_link()
    when = clock()
    before = error_row(a).migration
    assert (before.state, before.peer_host, before.peer_domain, before.progress) == (
        "error", "t5440-sys-2", "ldg-new", 100)
    for _ in range(2):  # a restart, and another: nothing of what it knew is lost
        clock.advance(60)
        a.restart()
        row = error_row(a)
        assert row.flags == "-n---e"
        m = row.migration
        assert (m.state, m.role, m.peer_host, m.peer_domain, m.progress, m.phase) == (
            "error", "source", "t5440-sys-2", "ldg-new", 100, 4)
        assert m.bytes_sent == before.bytes_sent > 0 and m.finished == when
        # The jobs view after the restart still lists it, from the host's own record.
        (job,) = [j for j in a.m.snapshot().jobs if j.domain == "ldg1"]
        assert (job.state, job.peer_host) == ("error", "t5440-sys-2")


def test_status_of_an_error_domain_keeps_the_seed_lines_first_then_says_what_is_known(hosts, clock):
    a, b = hosts
    make_guest(a, name="ldg-src")
    p = Pair(a, b)
    p.begin("ldg-src")
    run_until(p, "Go")
    p.drop_link()
    a.restart()
    lines = ldm(a, "list -o status ldg-src").stdout.splitlines()
    assert lines[:6] == ["NAME", "ldg-src", "", "STATUS", "    OPERATION    PROGRESS    TARGET",
                         "    migration    100%        t5440-sys-2"]
    detail = {line.split()[0]: line[17:] for line in lines[6:]}
    assert detail["DATA"].startswith("all state sent, ")
    assert detail["CONFIRMATION"] == "none: t5440-sys-2 never confirmed that it runs ldg-src"
    assert detail["SINCE"].startswith("2023-11-14 ")
    assert "Lost connection" in detail["REASON"]
    assert "ldm remove-domain ldg-src" in detail["RECOVER"]
    assert "ldm cancel-operation migration ldg-src" in detail["RECOVER"]
    parseable = ldm(a, "list -o status -p ldg-src").stdout.splitlines()
    assert parseable[:3] == ["VERSION 1.3", "DOMAIN|name=ldg-src|", "STATUS"]
    assert parseable[3].startswith("|op=migration|progress=100|error=yes|target=t5440-sys-2|phase=handoff|sent=all")
    assert f"|since={int(clock())}|" in parseable[3] and "|confirmed=no|" in parseable[3]


def test_settling_an_error_is_written_into_the_history(hosts):
    a, b = hosts
    make_guest(a)
    p = Pair(a, b)
    p.begin("ldg1")
    run_until(p, "Go")
    p.drop_link()
    a.restart()
    cancel_migration(a.m, "ldg1")  # what ldm cancel-operation migration asks the manager to do
    a.restart()
    (job,) = [j for j in a.m.snapshot().jobs if j.domain == "ldg1"]
    assert job.state == "cancelled" and "Restored" in job.reason
    assert error_row(a).migration is None


def test_the_last_migration_is_readable_on_both_hosts_until_the_domain_migrates_again(hosts, clock):
    a, b = hosts
    make_guest(a, name="ldg-src")
    p = Pair(a, b)
    p.begin("ldg-src", target_name="ldg-tgt")
    while p.step():
        clock.advance(0.01)
    assert ldm(a, "list -o status ldg-src").exit_code != 0  # gone from the source: -o status alone fails
    for host in (a, b):
        host.restart()  # kept in the store, not only in memory
    src = ldm(a, "list -o status --completed ldg-src").stdout.splitlines()
    assert src[:6] == ["NAME", "ldg-src", "", "LAST MIGRATION", "    OPERATION    RESULT      TARGET",
                       "    migration    completed   t5440-sys-2"]
    fields = {line[4:17].strip(): line[17:] for line in src[6:]}
    assert fields["MODE"] == "suspended copy" and fields["NAME THERE"] == "ldg-tgt"
    assert float(fields["TOTAL TIME"].split()[0]) > 0 and fields["DOWNTIME"].endswith(" ms")
    tgt = ldm(b, "list -o status --completed ldg-tgt").stdout.splitlines()
    assert tgt[4:6] == ["    OPERATION    RESULT      SOURCE", "    migration    completed   t5440-sys-1"]
    down_src = int(_field(ldm(a, "list -o status --completed -p ldg-src").stdout, "downtime"))
    down_tgt = int(_field(ldm(b, "list -o status --completed -p ldg-tgt").stdout, "downtime"))
    assert down_src > 0 and down_tgt > 0
    # Back again: the target's record of ldg-tgt is now that newer migration.
    p2 = Pair(b, a)
    p2.begin("ldg-tgt")
    p2.run()
    again = ldm(b, "list -o status --completed -p ldg-tgt").stdout
    assert _field(again, "target") == "t5440-sys-1"


def test_completed_needs_status_and_a_known_name(hosts):
    a, _ = hosts
    out = ldm(a, "list -o memory --completed")
    assert out.exit_code != 0 and "--completed goes only with -o status" in out.stderr
    out = ldm(a, "list -o status --completed nosuch")
    assert out.exit_code != 0 and "nosuch" in out.stderr
    out = ldm(a, "list -o status --completed primary")
    assert "    none: LDom primary has not migrated to or from this host" in out.stdout


def _field(text: str, key: str) -> str:
    line = text.splitlines()[3]
    return dict(part.split("=", 1) for part in line.strip("|").split("|"))[key]


def test_the_last_live_migration_lists_its_rounds(hosts):
    from harness import rewrite_pages
    a, b = hosts
    make_guest(a)
    p = Pair(a, b, between=rewrite_pages(2))
    p.begin("ldg1", live=True, downtime_limit_ms=1, batch_pages=16)
    p.run()
    assert p.src.outcome.status == "completed"
    text = ldm(a, "list -o status --completed ldg1").stdout
    line = next(x for x in text.splitlines() if x.startswith("    ROUND BYTES  "))
    assert line.endswith(" suspended") and line.count(",") >= 1
    fields = _field(ldm(a, "list -o status --completed -p ldg1").stdout, "round-bytes").split(",")
    assert len(fields) >= 2 and all(f.isdigit() for f in fields)
