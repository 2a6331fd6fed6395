"""The console migrating on real ldmd's: the form's request goes to the source's manager as a
value, and what the operator sees is what the console shows for the command line's answer."""

from __future__ import annotations

from textual.widgets import Checkbox, Input

from ldtui.app import LdtuiApp
from ldtui.core.cmd_migrate import MigrationResult
from ldtui.net.hostlink import HostLink
from ldtui.screens.dialogs import MessageDialog
from ldtui.screens.migrate import MigrateForm
from tests.tui.labkit import DST, SRC, lab  # noqa: F401  (lab: shared fixture)
from tests.tui.scenario import settle
from tests.tui.test_toasts import record_toasts


def console_on(lab) -> LdtuiApp:
    sources = {ep.hostname: HostLink(ep.host, ep.port, ep.user, password=ep.password,
                                     known_hosts=ep.known_hosts_path, label=ep.hostname)
               for ep in lab.endpoints()}
    return LdtuiApp(sources, users={n: "root" for n in sources}, poll_interval=0.2, request_timeout=20)


def typed_calls(app) -> list:
    """Every request value the console hands a host's link (the links are real)."""
    seen: list = []
    for link in app.sources.values():
        migrate = link.migrate

        async def recording(request, *, _migrate=migrate, **kwargs) -> MigrationResult:
            seen.append(request)
            return await _migrate(request, **kwargs)

        link.migrate = recording
    return seen


async def open_form(pilot, app):
    await settle(pilot, lambda: (v := app.fleet.by_hostname(SRC)) is not None and v.domain("ldg1") is not None
                 and app.fleet.by_hostname(DST) is not None and app.fleet.by_hostname(DST).snapshot is not None,
                 timeout=30)
    app.main_screen().domains_table.select_key(f"{SRC}/ldg1")
    await pilot.pause()
    await pilot.press("m")
    await settle(pilot, lambda: isinstance(app.screen, MigrateForm) and app.screen.armed, timeout=10)
    form = app.screen
    form.query_one("#target").value = DST
    form.query_one("#password", Input).value = "solaris"
    return form


async def test_a_dry_run_and_then_the_migration_from_the_console(lab):
    app = console_on(lab)
    async with app.run_test(size=(160, 45)) as pilot:
        toasts = record_toasts(app)
        calls = typed_calls(app)
        form = await open_form(pilot, app)
        form.query_one("#dry-run", Checkbox).value = True
        await pilot.click("#go")
        await settle(pilot, lambda: isinstance(app.screen, MessageDialog), timeout=30)
        dialog = app.screen
        assert dialog.title_text == f"Dry run: ldg1 from {SRC} to {DST} would succeed"
        assert list(dialog.lines) == ["every check passed"]
        assert [(r.source, r.host, r.user, r.dry_run) for r in calls] == [("ldg1", DST, "root", True)]
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, MessageDialog), timeout=5)

        form = await open_form(pilot, app)
        await pilot.click("#go")
        done = f"Migration of ldg1 from {SRC} to {DST} completed"
        await settle(pilot, lambda: done in toasts, timeout=60)
        assert toasts[0] == f"Dry run of ldg1 from {SRC} to {DST} started"
        assert f"Migration of ldg1 from {SRC} to {DST} started" in toasts
        assert any(e.text == f"ldm migrate-domain ldg1 root@{DST} → exit 0" for e in app.events)
        assert not any("solaris" in e.text for e in app.events)
        assert len(calls) == 2 and calls[1].password is None      # the password travels beside it


async def test_a_refusal_shows_the_lines_the_command_line_would(lab):
    app = console_on(lab)
    async with app.run_test(size=(160, 45)) as pilot:
        form = await open_form(pilot, app)
        form.query_one("#new-name", Input).value = "primary"
        await pilot.click("#go")
        await settle(pilot, lambda: isinstance(app.screen, MessageDialog), timeout=60)
        dialog = app.screen
        assert dialog.title_text == f"Migration of ldg1 from {SRC} to {DST} as primary failed"
        assert dialog.lines[-1] == "Domain Migration of LDom ldg1 failed"
        assert any(e.text.startswith(f"ldm migrate-domain ldg1 root@{DST}:primary → exit 1 — ")
                   for e in app.events)
