"""The console's plain models: events between snapshots, recovery decisions, host specs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ldtui.core.errors import LdmError
from ldtui.console.jobtext import format_bytes, progress_text
from ldtui.widgets.cells import Cell, domain_cells, host_cells, sort_value
from ldtui.console.fleet import DOWN_WORDS, Fleet, down_code
from ldtui.console.hostspec import load_hosts_file, parse_target
from ldtui.console.recovery import assess
from ldtui.widgets.themes import load_theme, shipped_themes
from tests.tui.fakes import FakeHost, domain, job, primary


def snap(host: FakeHost):
    import asyncio
    return asyncio.run(host.snapshot())


def test_events_name_every_change_between_two_snapshots():
    host = FakeHost("t5440-sys-1", [primary(), domain("ldg1"), domain("ldg2", state="bound", flags="------")])
    fleet = Fleet(["t5440-sys-1"])
    first = fleet.apply("t5440-sys-1", snap(host), 10.0)
    assert [e.text for e in first] == ["connected"]
    host.set("ldg1", state="suspended", flags="-n---s")
    host.domains = [d for d in host.domains if d.name != "ldg2"] + [domain("ldg9", state="inactive", flags="------")]
    texts = [e.text for e in fleet.apply("t5440-sys-1", snap(host), 11.0)]
    assert texts == ["ldg1: active → suspended", "ldg1: flags -n---- → -n---s",
                     "ldg9: appeared (inactive, ------)", "ldg2: removed"]


def test_a_host_down_is_stale_once_and_back_once():
    host = FakeHost("t5440-sys-2", [primary()])
    fleet = Fleet(["t5440-sys-2"])
    fleet.apply("t5440-sys-2", snap(host), 1.0)
    assert [e.text for e in fleet.mark_down("t5440-sys-2", 5.0, "connection lost", "lost")] == \
        ["down (connection lost): connection lost"]
    assert fleet.mark_down("t5440-sys-2", 6.0, "connection lost", "lost") == []
    assert fleet.hosts["t5440-sys-2"].stale_since == 5.0
    assert fleet.hosts["t5440-sys-2"].snapshot is not None         # rows kept
    assert [e.text for e in fleet.apply("t5440-sys-2", snap(host), 9.0)] == ["reachable again"]
    assert fleet.hosts["t5440-sys-2"].stale_since is None


def test_a_host_that_never_answered_is_down_with_its_reason_not_stale():
    """Issue 15 item 3: why a host is down, since when; stale only for one that had answered."""
    fleet = Fleet(["nosuchhost.invalid"])
    events = fleet.mark_down("nosuchhost.invalid", 5.0, "Cannot resolve nosuchhost.invalid: Name or service not known",
                             "unresolvable")
    assert [e.text for e in events] == [
        "down (unresolvable): Cannot resolve nosuchhost.invalid: Name or service not known"]
    view = fleet.hosts["nosuchhost.invalid"]
    assert (view.stale, view.down_since, view.down_reason) == (False, 5.0, "unresolvable")
    assert host_cells(view, None)["conn"].plain == "unresolvable since 00:00:05"
    # The same reason again is no news; another one is.
    assert fleet.mark_down("nosuchhost.invalid", 6.0, "again", "unresolvable") == []
    changed = fleet.mark_down("nosuchhost.invalid", 7.0, "Permission denied for root@x", "permission-denied")
    assert [e.text for e in changed] == ["down (now login refused): Permission denied for root@x"]
    assert host_cells(view, None)["conn"].plain == "login refused since 00:00:05"


@pytest.mark.parametrize("exc, word", [
    (ConnectionRefusedError(), "refused"), (socket.gaierror(-2, "Name or service not known"), "unresolvable"),
    (TimeoutError(), "no answer"), (OSError(113, "No route to host"), "unreachable"),
    (ConnectionResetError(), "connection lost"),
])
def test_failures_are_named_in_a_few_words(exc, word):
    assert DOWN_WORDS[down_code(exc)] == word


def test_a_job_seen_from_both_sides_is_one_job_and_the_source_view_wins():
    fleet = Fleet()
    a = FakeHost("t5440-sys-1", [primary()])
    b = FakeHost("t5440-sys-2", [primary()])
    a.jobs = [job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", progress=40)]
    b.jobs = [job("ldg-tgt", "target", "t5440-sys-1", peer_domain="ldg-src", progress=55)]
    fleet.apply("t5440-sys-1", snap(a), 1.0)
    fleet.apply("t5440-sys-2", snap(b), 1.0)
    assert list(fleet.jobs) == ["m-1"]
    assert fleet.jobs["m-1"].role == "source" and fleet.job_hosts["m-1"] == "t5440-sys-1"


@pytest.mark.parametrize("target_domains, expected, action", [
    ([domain("ldg-tgt")], "running", "destroy-source"),
    ([], "absent", "restore-source"),
    ([domain("ldg-tgt", state="bound", flags="-----t")], "unsettled", None),
    ([domain("ldg-tgt", state="bound", flags="------")], "unsettled", None),
])
def test_recovery_offers_exactly_one_safe_action(target_domains, expected, action):
    target = snap(FakeHost("t5440-sys-2", [primary(), *target_domains]))
    plan = assess("t5440-sys-1", "ldg-src", "t5440-sys-2", "ldg-tgt", target)
    assert (plan.finding, plan.action) == (expected, action)
    if action == "restore-source":
        assert plan.commands == (("cancel-operation", "migration", "ldg-src"),)
    if action is None:
        assert plan.commands == ()


def test_recovery_of_a_bound_domain_accepts_a_bound_target():
    target = snap(FakeHost("t5440-sys-2", [primary(), domain("ldg-tgt", state="bound", flags="------")]))
    plan = assess("t5440-sys-1", "ldg-src", "t5440-sys-2", "ldg-tgt", target, source_state="bound")
    assert plan.action == "destroy-source"


def test_recovery_with_no_answer_from_the_target_does_nothing():
    plan = assess("t5440-sys-1", "ldg-src", "t5440-sys-2", "ldg-tgt", None)
    assert plan.finding == "unreachable" and plan.action is None and plan.commands == ()
    assert plan.explanation[0] == "t5440-sys-2 did not answer."


def test_cells_sort_by_meaning_and_spell_like_ldm():
    view = Fleet(["h"]).hosts["h"]
    cells = domain_cells(view, domain("ldg1", memory=1536 << 20, util=23.0, uptime=7620))
    assert cells["memory"].plain == "1536M" and sort_value(cells["memory"]) == 1536 << 20
    assert cells["uptime"].plain == "2h 7m"
    assert sort_value(Cell("x")) == "x"
    assert format_bytes(3 << 30) == "3.0G"
    assert progress_text(job("ldg1", "source", "h2", progress=7)) == "3 transfer ░░░░░░░░░░   7%"
    assert progress_text(job("ldg1", "source", "h2", progress=42), bar_width=0) == "3 transfer 42%"
    assert progress_text(job("ldg1", "source", "h2", progress=42), bar_width=4) == "3 transfer █░░░  42%"
    assert progress_text(None) == "" and progress_text(None, bar_width=0) == ""


def test_targets_on_the_command_line():
    spec = parse_target("root@t5440-sys-1:2201")
    assert (spec.user, spec.address, spec.port, spec.name) == ("root", "t5440-sys-1", 2201, "t5440-sys-1:2201")
    alias = parse_target("t5440-sys-2")
    assert (alias.user, alias.address, alias.port, alias.name) == (None, "t5440-sys-2", None, "t5440-sys-2")
    with pytest.raises(LdmError) as err:
        parse_target("root@t5440-sys-1:http")
    assert err.value.code == "bad-host"


def test_a_hosts_file(tmp_path: Path):
    path = tmp_path / "hosts.toml"
    path.write_text('[[host]]\nname = "t5440-sys-1"\naddress = "127.0.0.1"\nport = 2201\nuser = "root"\n'
                    'password = "pw"\n\n[[host]]\naddress = "10.0.0.2"\nkey = "~/.ssh/id_ed25519"\n')
    one, two = load_hosts_file(path)
    assert (one.name, one.port, one.password) == ("t5440-sys-1", 2201, "pw")
    # S-3: what a hosts file leaves out (port, user) comes from ssh_config, else 22 and the login name.
    assert (two.name, two.port, two.user) == ("10.0.0.2", None, None) and two.key.endswith(".ssh/id_ed25519")
    (tmp_path / "empty.toml").write_text("")
    with pytest.raises(LdmError, match="no \\[\\[host\\]\\] entries"):
        load_hosts_file(tmp_path / "empty.toml")


def test_shipped_themes_are_dark_light_and_high_contrast(tmp_path: Path):
    themes = {t.name: t for t in shipped_themes()}
    assert set(themes) == {"ldtui-dark", "ldtui-light", "ldtui-high-contrast"}
    assert themes["ldtui-light"].dark is False and themes["ldtui-high-contrast"].background == "#000000"
    bad = tmp_path / "nothing.tcss"
    bad.write_text("$background: #000;\n")
    with pytest.raises(ValueError):
        load_theme(bad)


def test_host_specs_read_the_host_field_grammar():
    spec = parse_target("root@[::1]:2201")
    assert (spec.user, spec.address, spec.port, spec.name) == ("root", "::1", 2201, "[::1]:2201")
    bare = parse_target("fd00::2")
    assert (bare.address, bare.port, bare.name) == ("fd00::2", None, "fd00::2")
    assert parse_target("h:22").name == "h"
    for text in ("root@", "h:", "[::1]:ssh", ":2201", "h:1:2"):
        with pytest.raises(LdmError) as err:
            parse_target(text)
        assert (err.value.code, err.value.message) == ("bad-host", f"Invalid host: {text} (expected USER@HOST:PORT)")
