"""The console on protocol ``ldm``: the embedded lab's ldmd's reached only through
``ssh host ldm …``, as a real Oracle VM Server for SPARC control domain would be (issue 13;
S-3, T-1, T-6, G-13). The same scenarios as the default protocol's: every main-screen
column, a migration followed on both hosts, a cancel, and the recovery wizard of an ``e``
domain."""

from __future__ import annotations

import asyncio

from textual.widgets import Input

from ldtui.app import LdtuiApp
from ldtui.net.hostlink import HostLink
from ldtui.net.ldmexec import LdmExecLink
from ldtui.screens.dialogs import ConfirmDialog
from ldtui.console.jobtext import progress_text
from ldtui.widgets.cells import domain_cells, host_cells
from tests.tui.labkit import DST, SRC, lab, row  # noqa: F401  (lab: shared fixture)
from tests.tui.test_lab_migration import open_form
from tests.tui.test_lab_rehearsal import _write_pages
from tests.tui.test_recovery_after_the_fact import fresh_console, recover_in_console, snapshot
from tests.tui.scenario import screen_text, settle
from tests.tui.test_toasts import record_toasts


def console_on(lab, kind=LdmExecLink) -> LdtuiApp:
    return fresh_console(lab, kind)


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values()) and len(app.fleet.hosts) == 3


VARYING = {"uptime", "util", "progress"}
"""Columns that change between two looks at the same lab."""


async def main_screen_of(lab, kind) -> tuple[dict, dict, str]:
    app = console_on(lab, kind)
    async with app.run_test(size=(170, 45)) as pilot:
        await settle(pilot, loaded(app), timeout=30)
        hosts = {v.name: {k: c.plain for k, c in host_cells(v, None).items()} for v in app.fleet.hosts.values()}
        domains = {(v.name, r.name): {k: c.plain for k, c in domain_cells(v, r).items() if k not in VARYING}
                   for v in app.fleet.hosts.values() for r in v.snapshot.domains}
        return hosts, domains, screen_text(app)


async def test_every_main_screen_column_matches_the_default_protocol_or_says_what_ldm_does_not_report(lab):
    rpc_hosts, rpc_domains, _ = await main_screen_of(lab, HostLink)
    ldm_hosts, ldm_domains, text = await main_screen_of(lab, LdmExecLink)
    assert ldm_domains == rpc_domains
    assert len(ldm_domains) >= 10
    for name, cells in ldm_hosts.items():
        theirs = rpc_hosts[name]
        assert {k: v for k, v in cells.items() if k not in ("processor", "incoming", "path")} == {
            k: v for k, v in theirs.items() if k not in ("processor", "incoming", "path")}
        assert (cells["processor"], cells["incoming"], cells["path"]) == ("not reported by ldm", "unknown",
                                                                           "direct · ldm")
        assert "MHz" in theirs["processor"]
    assert "not reported by ldm" in text and "direct · ldm" in text


async def start_slow_migration(pilot, app, lab, pages: int) -> list[str]:
    """The form filled in and submitted for ldg1, slowed so that it can be watched; returns
    the toasts seen from then on."""
    lab.slow_migrations()
    lab.call(_write_pages(lab.ldmds[SRC].manager, "ldg1", pages))
    toasts = record_toasts(app)
    await open_form(pilot, app)
    await pilot.click("#go")
    return toasts


async def test_a_migration_from_the_console_is_followed_on_both_hosts_to_its_end(lab):
    app = console_on(lab)
    async with app.run_test(size=(170, 45)) as pilot:
        await settle(pilot, loaded(app), timeout=30)
        toasts = await start_slow_migration(pilot, app, lab, 300)
        source_side = lambda: (r := app.fleet.by_hostname(SRC).domain("ldg1")) is not None and (  # noqa: E731
            r.flags[5] == "s" and r.migration is not None and r.migration.progress > 0)
        await settle(pilot, source_side, timeout=30)
        target_row = lambda: app.fleet.by_hostname(DST).domain("ldg1")  # noqa: E731
        await settle(pilot, lambda: (r := target_row()) is not None and r.flags[5] == "t", timeout=20)
        src_job = app.fleet.by_hostname(SRC).domain("ldg1").migration
        assert (src_job.role, src_job.peer_host, src_job.state) == ("source", DST, "running")
        assert progress_text(src_job).endswith("%")
        lab.full_speed_migrations()
        done = f"Migration of ldg1 from {SRC} to {DST} completed"
        await settle(pilot, lambda: done in toasts, timeout=60)
        await settle(pilot, lambda: (r := target_row()) is not None and r.flags == "-n----", timeout=20)
        await settle(pilot, lambda: any(j.state == "completed" and j.domain == "ldg1" for j in app.fleet.jobs.values()),
                     timeout=20)
        ours = [j for j in app.fleet.jobs.values() if j.domain == "ldg1"]
        assert len(ours) == 1 and ours[0].role == "source"       # one migration, seen from both hosts
        assert any(e.text == f"ldm migrate-domain ldg1 root@{DST} → exit 0" for e in app.events)
        assert not any("solaris" in e.text for e in app.events)
        await pilot.press("J")
        await pilot.pause(0.3)
        line = next(x for x in screen_text(app).splitlines() if f"{SRC}:ldg1 → {DST}:ldg1" in x)
        assert "completed" in line and "100%" in line


async def test_a_migration_is_cancelled_from_the_console(lab):
    app = console_on(lab)
    async with app.run_test(size=(170, 45)) as pilot:
        await settle(pilot, loaded(app), timeout=30)
        toasts = await start_slow_migration(pilot, app, lab, 400)
        await settle(pilot, lambda: (r := app.fleet.by_hostname(SRC).domain("ldg1")) is not None
                     and r.flags[5] == "s", timeout=30)
        app.main_screen().domains_table.select_key(f"{SRC}/ldg1")
        await pilot.pause()
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog), timeout=10)
        assert app.screen.title_text == f"Cancel the migration of ldg1 on {SRC}?"
        await pilot.press("y")
        await settle(pilot, lambda: any("cancelled" in t for t in toasts), timeout=30)
        await settle(pilot, lambda: (r := app.fleet.by_hostname(SRC).domain("ldg1")) is not None
                     and r.flags == "-n----", timeout=30)
        await settle(pilot, lambda: app.fleet.by_hostname(DST).domain("ldg1") is None, timeout=30)
        assert any(e.text.startswith("ldm cancel-operation migration ldg1 → exit 0") for e in app.events)
        await settle(pilot, lambda: [j.state for j in app.fleet.jobs.values() if j.domain == "ldg1"] == ["cancelled"],
                     timeout=20)
    lab.full_speed_migrations()


async def test_the_recovery_wizard_settles_an_e_domain_through_ldm(lab):
    lab.lose_confirmation_at_handoff(SRC, DST)
    ep = next(e for e in lab.endpoints() if e.hostname == SRC)
    src = LdmExecLink(ep.host, ep.port, ep.user, password=ep.password, known_hosts=ep.known_hosts_path, label=SRC)
    await asyncio.wait_for(src.connect(), 10)
    try:
        out = await src.run(["migrate-domain", "ldg1", f"root@{DST}"], password="solaris", timeout=60)
        assert out.exit_code == 1
        assert row(await src.snapshot(), "ldg1").flags == "-n---e"
    finally:
        await src.close()
    wizard = await recover_in_console(lab, "running", kind=LdmExecLink)
    assert wizard.target_host == DST
    on_src, on_dst = row(await snapshot(lab, SRC), "ldg1"), row(await snapshot(lab, DST), "ldg1")
    assert on_src is None and on_dst.state == "active"


# -- choosing the protocol, and what the views say of a host that reports little ---------

def test_a_hosts_file_and_the_command_line_choose_the_protocol(tmp_path):
    import pytest

    from ldtui.cli import main
    from ldtui.console.hostspec import load_hosts_file
    from ldtui.console.opening import links_for
    from ldtui.core.errors import LdmError

    path = tmp_path / "hosts.toml"
    path.write_text('[[host]]\nname = "cd1"\naddress = "10.0.0.1"\nuser = "root"\nprotocol = "ldm"\n\n'
                    '[[host]]\nname = "lab1"\naddress = "10.0.0.2"\nuser = "root"\n')
    one, two = load_hosts_file(path)
    assert (one.protocol, two.protocol) == ("ldm", "ldtui")
    (tmp_path / "ssh_config").write_text("")
    links = links_for([one, two], str(tmp_path / "ssh_config"))
    assert type(links["cd1"]) is LdmExecLink and type(links["lab1"]) is HostLink
    path.write_text('[[host]]\naddress = "10.0.0.1"\nprotocol = "xml"\n')
    with pytest.raises(LdmError, match=r"host #1: protocol must be \"ldtui\" or \"ldm\", not 'xml'"):
        load_hosts_file(path)
    assert main(["--protocol", "ldm"]) == 2          # says why, on stderr, and opens nothing


def test_the_views_of_a_migration_whose_ldm_reports_only_the_percent():
    from ldtui.core.snapshot import MigrationProgress
    from ldtui.console.jobtext import job_detail_lines
    from ldtui.widgets.cells import job_cells

    job = MigrationProgress(id="ldm:a>b:ldg1", role="source", domain="ldg1", peer_host="t5440-sys-2",
                            peer_domain="ldg1", phase=0, phase_name="", progress=42, state="running")
    cells = {k: c.plain for k, c in job_cells("t5440-sys-1", job).items()}
    assert cells["phase"] == "n/a (ldm)" and cells["progress"].endswith(" 42%")
    assert cells["bytes"] == cells["rate"] == cells["eta"] == cells["downtime"] == ""
    assert progress_text(job).startswith("migration ") and progress_text(job).endswith("42%")
    assert job_detail_lines(job) == ["ldg1: 42% · running",
                                     "ldm reports only the percent done: no phase, bytes, rates or downtime"]


async def test_the_form_offers_only_what_oracles_migrate_domain_takes(lab):
    from ldtui.screens.migrate import PLAIN_LDM_LIVE
    from ldtui.widgets.tickbox import TickBox

    app = console_on(lab)
    async with app.run_test(size=(170, 45)) as pilot:
        await settle(pilot, loaded(app), timeout=30)
        form = await open_form(pilot, app)
        assert form.plain_ldm
        assert form.query_one("#live", TickBox).disabled and form.query_one("#live", TickBox).tooltip == PLAIN_LDM_LIVE
        assert form.query_one("#bandwidth", Input).disabled
        assert "Oracle's ldm" in str(form.query_one("#route").render())
        form.query_one("#typed-target", Input).value = f"root@{DST}:2201"
        assert form.request() is None
        assert "Oracle's ldm takes no port" in str(form.query_one("#form-error").render())
        form.query_one("#typed-target", Input).value = ""
        request = form.request()
        assert request.argv() == ["migrate-domain", "ldg1", f"root@{DST}"]
