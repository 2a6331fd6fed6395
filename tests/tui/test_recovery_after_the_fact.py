"""The recovery wizard in a console started after the failure, from what the hosts remember
(SPEC T-6, G-13, B-3; issue 15 items 1, 2, 6).

Each migration here is started with ``ldm`` (not by the console), its link broken at the
handoff by the lab's rehearsal; only then is a console opened on the lab's hosts, as an
operator arriving later would. The wizard must find the target from the source's own
record — also after the source's manager restarted — and settle the domain.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from ldtui.app import LdtuiApp
from ldtui.net.hostlink import HostLink
from ldtui.screens.recovery import RecoveryWizard
from tests.tui.labkit import DST, SRC, link_to, row, until
from tests.tui.scenario import settle

async def on_host(lab, name, argv, **kw):
    link = link_to(lab, name)
    await asyncio.wait_for(link.connect(), 10)
    try:
        return await link.run(argv, **kw)
    finally:
        await link.close()


async def snapshot(lab, name):
    link = link_to(lab, name)
    await asyncio.wait_for(link.connect(), 10)
    try:
        return await link.snapshot()
    finally:
        await link.close()


async def target_settled(lab, name="ldg1"):
    r = row(await snapshot(lab, DST), name)
    return r is None or r.flags[5] == "-"


def fresh_console(lab, kind=HostLink) -> LdtuiApp:
    """A console on the lab's hosts, each reached by a ``kind`` link (the protocol)."""
    sources = {ep.hostname: kind(ep.host, ep.port, ep.user, password=ep.password,
                                     known_hosts=ep.known_hosts_path, label=ep.hostname)
               for ep in lab.endpoints()}
    return LdtuiApp(sources, users={n: "root" for n in sources}, poll_interval=0.2, request_timeout=10)


async def recover_in_console(lab, expected_finding: str, kind=HostLink) -> RecoveryWizard:
    app = fresh_console(lab, kind)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot, lambda: (v := app.fleet.by_hostname(SRC)) is not None
                     and (r := v.domain("ldg1")) is not None and r.flags == "-n---e", timeout=30)
        row_now = app.fleet.by_hostname(SRC).domain("ldg1")
        # What the host remembers reaches the console: where it was going, and all of it was sent.
        assert (row_now.migration.peer_host, row_now.migration.progress, row_now.migration.state) == (
            DST, 100, "error")
        app.main_screen().domains_table.select_key(f"{SRC}/ldg1")
        await pilot.press("r")
        await settle(pilot, lambda: isinstance(app.screen, RecoveryWizard) and app.screen.plan is not None,
                     timeout=20)
        wizard = app.screen
        assert (wizard.target_host, wizard.plan.finding) == (DST, expected_finding)
        await pilot.click("#act")
        await settle(pilot, lambda: app.screen is not wizard, timeout=5)
        await pilot.pause(0.2)
        await pilot.press("y")
        await settle(pilot, lambda: wizard.outcome != "", timeout=20)
        assert wizard.outcome == "done"
        return wizard


async def test_a_console_opened_later_restores_a_source_whose_target_cleaned_up(lab):
    lab.cut_link_at_handoff(SRC, DST)
    out = await on_host(lab, SRC, ["migrate-domain", "ldg1", f"root@{DST}"], password="solaris", timeout=60)
    assert out.exit_code != 0
    await until(lambda: target_settled(lab), 40)
    await recover_in_console(lab, "absent")
    r = row(await snapshot(lab, SRC), "ldg1")
    assert (r.state, r.flags) == ("active", "-n----")
    assert row(await snapshot(lab, DST), "ldg1") is None


async def test_a_console_opened_later_destroys_the_source_when_the_target_runs_it(lab):
    lab.lose_confirmation_at_handoff(SRC, DST)
    out = await on_host(lab, SRC, ["migrate-domain", "ldg1", f"root@{DST}"], password="solaris", timeout=60)
    assert out.exit_code != 0
    await until(lambda: target_settled(lab), 40)
    await recover_in_console(lab, "running")
    assert row(await snapshot(lab, SRC), "ldg1") is None
    assert row(await snapshot(lab, DST), "ldg1").state == "active"


async def test_after_the_source_manager_restarted_the_wizard_still_finds_the_target(lab, tmp_path):
    """The migration is started with the ldm command itself; then the source's ldmd restarts."""
    lab.cut_link_at_handoff(SRC, DST)
    ep = next(e for e in lab.endpoints() if e.hostname == SRC)
    secret = tmp_path / "target-password"
    secret.write_text("solaris\n")
    secret.chmod(0o600)
    env = dict(os.environ, LDM_PASSWORD=ep.password, LDM_KNOWN_HOSTS=ep.known_hosts_path)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", "from ldtui.net.client import main; main()",
                         "-H", f"root@127.0.0.1:{ep.port}",
                         "migrate-domain", "-p", str(secret), "ldg1", f"root@{DST}"],
        env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode != 0 and done.stderr.strip().endswith("Domain Migration of LDom ldg1 failed")
    await until(lambda: target_settled(lab), 40)
    await asyncio.to_thread(lab.stop_host, SRC)
    await asyncio.to_thread(lab.start_host, SRC)
    status = await on_host(lab, SRC, ["list", "-o", "status", "ldg1"])
    assert status.stdout.splitlines()[5].split() == ["migration", "100%", DST]
    await recover_in_console(lab, "absent")
    assert row(await snapshot(lab, SRC), "ldg1").state == "active"
