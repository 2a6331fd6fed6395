"""Migrate, dry run, cancel and recovery as an operator drives them (SPEC T-3, T-5, T-6)."""

from __future__ import annotations

from textual.widgets import Button, Input, Select

from ldtui.screens.dialogs import ConfirmDialog, MessageDialog
from ldtui.screens.migrate import LIVE_TOOLTIP, MigrateForm
from ldtui.screens.recovery import RecoveryWizard
from tests.tui.fakes import Result, domain, job
from tests.tui.scenario import console, seed_hosts, settle


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


async def start(pilot, app, key: str) -> None:
    await settle(pilot, loaded(app))
    assert app.main_screen().domains_table.select_key(key)
    await pilot.pause()


async def test_m_opens_the_form_and_runs_migrate_domain_on_the_source_host():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg-src")
        await pilot.press("m")
        form = app.screen
        assert isinstance(form, MigrateForm)
        # Only connected hosts other than the source are offered; with one, it is chosen.
        assert form.query_one("#target", Select).value == "t5440-sys-2"
        assert not form.query_one("#live").disabled                 # live (B-1) is on offer
        assert "lab password" not in str(form.query_one("#password-label").render())
        assert app.focused is form.query_one("#password", Input)
        assert form.query_one("#password", Input).password          # masked
        await pilot.press(*"secret")
        form.query_one("#new-name", Input).value = "ldg-tgt"
        await pilot.click("#go")
        await settle(pilot, lambda: a.calls)
        assert a.calls == [(["migrate-domain", "ldg-src", "root@t5440-sys-2:ldg-tgt"], "secret")]
        assert b.calls == []
        await settle(pilot, lambda: any("migrate-domain ldg-src" in e.text and "exit 0" in e.text
                                        for e in app.events))
        assert not any("secret" in e.text for e in app.events)     # passwords never logged (S-5)


async def test_a_typed_target_with_user_and_port_overrides_the_choice():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("m")
        form = app.screen
        form.query_one("#typed-target", Input).value = "admin@t5440-sys-9:2022"
        form.query_one("#password", Input).value = "pw"
        await pilot.click("#go")
        await settle(pilot, lambda: a.calls)
        assert a.calls[0] == (["migrate-domain", "-P", "2022", "ldg1", "admin@t5440-sys-9"], "pw")


async def test_live_is_not_offered_to_hosts_that_cannot_do_it():
    a, b = seed_hosts()
    app = console(a, b, live_supported=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("m")
        live = app.screen.query_one("#live")
        assert live.disabled and str(live.tooltip) == LIVE_TOOLTIP


async def test_the_lab_password_is_filled_in_and_the_form_says_so():
    a, b = seed_hosts()
    app = console(a, b)
    app.lab_passwords.update({"t5440-sys-1": "solaris", "t5440-sys-2": "solaris"})
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("m")
        form = app.screen
        assert form.query_one("#password", Input).value == "solaris"
        assert "(lab password filled in)" in str(form.query_one("#password-label").render())
        assert app.focused is form.query_one("#go")                  # enter migrates
        await pilot.press("enter")
        await settle(pilot, lambda: a.calls)
        assert a.calls[0] == (["migrate-domain", "ldg1", "root@t5440-sys-2"], "solaris")


async def test_live_is_offered_only_when_the_engine_supports_it():
    a, b = seed_hosts()
    app = console(a, b, live_supported=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("m")
        form = app.screen
        assert not form.query_one("#live").disabled
        form.query_one("#password", Input).value = "pw"
        await pilot.click("#live")
        await pilot.click("#go")
        await settle(pilot, lambda: a.calls)
        assert a.calls[0][0] == ["migrate-domain", "--live", "ldg1", "root@t5440-sys-2"]


async def test_a_typed_port_that_is_no_port_is_refused_in_the_form():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("m")
        form = app.screen
        form.query_one("#typed-target", Input).value = "root@t5440-sys-2:ssh"
        await pilot.click("#go")
        assert app.screen is form
        assert "Invalid port: ssh" in str(form.query_one("#form-error").render())
        assert a.calls == []


async def test_the_form_refuses_to_submit_without_a_target_and_esc_leaves_it():
    a, b = seed_hosts()
    b.down = True
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.fleet.hosts["t5440-sys-1"].snapshot is not None
                     and app.fleet.hosts["t5440-sys-2"].state == "down")
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.press("m")
        form = app.screen
        assert isinstance(form, MigrateForm) and form.targets == []
        await pilot.click("#go")
        assert app.screen is form
        assert "Choose a target host" in str(form.query_one("#form-error").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, MigrateForm)
        assert a.calls == []


async def test_dry_run_lists_every_unmet_requirement_one_per_line():
    a, b = seed_hosts()
    a.replies["migrate-domain -n"] = Result(
        stderr="Unable to bind 2G memory region at real address 0x8000000\n"
               "Target has no virtual switch named primary-vsw0\n"
               "Domain Migration of LDom ldg-src would fail if attempted\n", exit_code=1)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg-src")
        await pilot.press("m")
        app.screen.query_one("#password", Input).value = "pw"
        await pilot.click("#dry-run")
        await pilot.click("#go")
        await settle(pilot, lambda: isinstance(app.screen, MessageDialog))
        dialog = app.screen
        assert a.calls[0][0] == ["migrate-domain", "-n", "ldg-src", "root@t5440-sys-2"]
        assert dialog.failure
        assert dialog.lines == ("Unable to bind 2G memory region at real address 0x8000000",
                                "Target has no virtual switch named primary-vsw0",
                                "Domain Migration of LDom ldg-src would fail if attempted")
        assert dialog.title_text.startswith("Dry run: ldg-src from t5440-sys-1 to t5440-sys-2 would fail")
        await pilot.press("escape")
        assert not isinstance(app.screen, MessageDialog)


async def test_a_failed_migration_shows_its_reason():
    a, b = seed_hosts()
    a.replies["migrate-domain"] = Result(
        stderr="Failed to establish connection with ldmd(1m) on target: t5440-sys-2\n"
               "Domain Migration of LDom ldg1 failed\n", exit_code=1)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("m")
        app.screen.query_one("#password", Input).value = "pw"
        await pilot.click("#go")
        await settle(pilot, lambda: isinstance(app.screen, MessageDialog))
        assert app.screen.lines[-1] == "Domain Migration of LDom ldg1 failed"


def migrating(a, b):
    src = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt")
    a.set("ldg-src", state="suspended", flags="-n---s", vcpus=1, migration=src)
    a.jobs = [src]
    tgt = job("ldg-tgt", "target", "t5440-sys-1", peer_domain="ldg-src")
    b.domains.append(domain("ldg-tgt", state="bound", flags="-----t", vcpus=1, migration=tgt))
    b.jobs = [tgt]


async def test_cancel_asks_naming_host_and_domain_and_runs_cancel_operation_on_yes():
    a, b = seed_hosts()
    migrating(a, b)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg-src")
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.title_text == "Cancel the migration of ldg-src on t5440-sys-1?"
        assert "to:     t5440-sys-2 as ldg-tgt" in dialog.lines
        assert app.focused is dialog.query_one("#no", Button)        # the safe answer has focus
        await pilot.press("y")
        await settle(pilot, lambda: a.calls)
        assert a.calls == [(["cancel-operation", "migration", "ldg-src"], None)]


async def test_cancel_answered_with_escape_or_enter_on_no_does_nothing():
    a, b = seed_hosts()
    migrating(a, b)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg-src")
        await pilot.press("c")
        await pilot.press("escape")
        assert not isinstance(app.screen, ConfirmDialog)
        await pilot.press("c")
        await pilot.press("enter")        # focus is on No
        await pilot.press("c")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert a.calls == []


async def test_cancel_on_the_target_side_explains_that_only_the_source_can():
    a, b = seed_hosts()
    migrating(a, b)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-2/ldg-tgt")
        await pilot.press("c")
        dialog = app.screen
        assert isinstance(dialog, MessageDialog)
        assert dialog.title_text == "Only t5440-sys-1 can cancel this migration"
        assert dialog.lines[0] == "ldg-tgt on t5440-sys-2 is the target of a migration started by t5440-sys-1."
        await pilot.press("escape")
        assert a.calls == [] and b.calls == []


def in_error(a, target_state: str | None):
    """ldg-src on a in the error state; on b, ldg-tgt in ``target_state`` (None: absent)."""
    err = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", phase=4, progress=100, state="error",
              reason="connection lost after GO")
    a.set("ldg-src", state="suspended", flags="-n---e", vcpus=1, migration=err)
    a.jobs = [err]


async def recovery_wizard(pilot, app) -> RecoveryWizard:
    await start(pilot, app, "t5440-sys-1/ldg-src")
    await pilot.press("r")
    wizard = app.screen
    assert isinstance(wizard, RecoveryWizard)
    await settle(pilot, lambda: wizard.plan is not None)
    return wizard


async def test_recovery_when_the_target_runs_destroys_the_source_after_confirmation():
    a, b = seed_hosts()
    in_error(a, "active")
    b.domains.append(domain("ldg-tgt", vcpus=1))
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await recovery_wizard(pilot, app)
        assert wizard.plan.finding == "running"
        act = wizard.query_one("#act", Button)
        assert act.display and str(act.label) == "Destroy ldg-src on t5440-sys-1"
        await pilot.click("#act")
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog) and "host: t5440-sys-1" in confirm.lines
        await pilot.press("y")
        await settle(pilot, lambda: wizard.outcome)
        assert [argv for argv, _ in a.calls] == [["remove-domain", "ldg-src"]]

        assert b.calls == []
        assert wizard.outcome == "done"


async def test_recovery_when_the_target_is_absent_restores_the_source():
    a, b = seed_hosts()
    in_error(a, None)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await recovery_wizard(pilot, app)
        assert wizard.plan.finding == "absent"
        await pilot.click("#act")
        await pilot.press("y")
        await settle(pilot, lambda: wizard.outcome)
        assert a.calls == [(["cancel-operation", "migration", "ldg-src"], None)]


async def test_recovery_confirmation_answered_no_changes_nothing():
    a, b = seed_hosts()
    in_error(a, None)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await recovery_wizard(pilot, app)
        await pilot.click("#act")
        await pilot.press("escape")
        assert app.screen is wizard and a.calls == []


async def test_recovery_with_the_target_unreachable_offers_nothing_destructive():
    a, b = seed_hosts()
    in_error(a, "active")
    b.domains.append(domain("ldg-tgt", vcpus=1))
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        b.down = True
        wizard = await recovery_wizard(pilot, app)
        assert wizard.plan.finding == "unreachable"
        assert not wizard.query_one("#act", Button).display
        assert "t5440-sys-2 is unreachable" in str(wizard.query_one("#finding").render())
        # Once the target answers again, asking again finds it running.
        b.down = False
        await pilot.click("#again")
        await settle(pilot, lambda: wizard.plan.finding == "running")
        assert a.calls == []


async def test_r_on_a_domain_without_the_error_flag_only_explains():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await start(pilot, app, "t5440-sys-1/ldg1")
        await pilot.press("r")
        assert not isinstance(app.screen, RecoveryWizard)
