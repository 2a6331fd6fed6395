"""Dialogs are safe from their first frame (SPEC T-5, T-6, T-8).

A key typed before a dialog was drawn (``c`` then ``enter`` at once) was meant for the
screen the operator saw, not for the question: it must never answer yes. The safe answer
holds the focus from the first frame, and only a dialog already on screen can be
confirmed.
"""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Button

from ldtui.screens.dialogs import ConfirmDialog
from ldtui.screens.migrate import MigrateForm
from ldtui.screens.recovery import RecoveryWizard
from tests.tui.fakes import domain, job
from tests.tui.scenario import console, seed_hosts, settle

CHARS = {"enter": "\r", "tab": "\t", "escape": "\x1b"}


def type_now(app, *keys: str) -> None:
    """Keys as a terminal delivers them: queued at once, with nothing awaited in between."""
    for key in keys:
        event = events.Key(key, CHARS.get(key, key))
        event.set_sender(app)
        app.post_message(event)


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


def migrating(a, b) -> None:
    src = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt")
    a.set("ldg-src", state="suspended", flags="-n---s", vcpus=1, migration=src)
    a.jobs = [src]
    tgt = job("ldg-tgt", "target", "t5440-sys-1", peer_domain="ldg-src")
    b.domains.append(domain("ldg-tgt", state="bound", flags="-----t", vcpus=1, migration=tgt))
    b.jobs = [tgt]


def record_focus(screen) -> list[str]:
    """Every widget that gets the focus on ``screen``, by id, from before its first frame."""
    seen: list[str] = []
    original = screen.set_focus

    def set_focus(widget, *args, **kwargs):
        if widget is not None:
            seen.append(widget.id or type(widget).__name__)
        return original(widget, *args, **kwargs)

    screen.set_focus = set_focus
    return seen


@pytest.mark.parametrize("keys", [("enter",), ("y",), ("tab", "enter"), ("tab", "tab", "enter"), ("y", "y")])
async def test_keys_typed_as_the_confirmation_opens_never_answer_yes(keys):
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        dialog = ConfirmDialog("Cancel the migration of ldg-src on t5440-sys-1?", ["host:   t5440-sys-1"],
                               yes="Cancel migration")
        focused = record_focus(dialog)
        answers: list[bool | None] = []
        app.push_screen(dialog, answers.append)
        type_now(app, *keys)
        await settle(pilot, lambda: dialog.armed or answers)
        await pilot.pause(0.1)
        assert True not in answers
        assert "yes" not in focused[:1] and focused[:1] in ([], ["no"])   # No from the first frame


@pytest.mark.parametrize("keys", [("y",), ("tab", "enter")])
async def test_keys_typed_before_the_first_frame_but_handled_after_it_never_answer_yes(keys):
    """A loaded console may handle a key only once the dialog is drawn: when it was typed
    decides, not when it is handled (T-5)."""
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        dialog = ConfirmDialog("Cancel the migration of ldg-src on t5440-sys-1?", yes="Cancel migration")
        answers: list[bool | None] = []
        app.push_screen(dialog, answers.append)
        await settle(pilot, lambda: dialog.armed)
        for key in keys:
            event = events.Key(key, CHARS.get(key, key))
            event.time = dialog.armed_at - 0.05                   # typed while the frame was being drawn
            event.set_sender(app)
            app.post_message(event)
        await pilot.pause(0.2)
        assert answers == [] and app.screen is dialog and app.focused is dialog.query_one("#no", Button)
        await pilot.press("y")
        assert answers == [True]


async def test_once_drawn_the_confirmation_answers_yes_to_y():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        dialog = ConfirmDialog("Destroy ldg-src on t5440-sys-1?", ["ldm remove-domain ldg-src"])
        focused = record_focus(dialog)
        answers: list[bool | None] = []
        app.push_screen(dialog, answers.append)
        await settle(pilot, lambda: dialog.armed)
        assert app.focused is dialog.query_one("#no", Button)
        assert "yes" not in focused                                  # the focus never passed by Yes
        await pilot.press("y")
        assert answers == [True]
        dialog = ConfirmDialog("Destroy ldg-src on t5440-sys-1?")
        app.push_screen(dialog, answers.append)
        await settle(pilot, lambda: dialog.armed)
        await pilot.press("tab", "enter")                            # Yes by the keyboard, on purpose
        assert answers == [True, True]


async def test_c_then_enter_at_once_does_not_cancel_the_migration():
    a, b = seed_hosts()
    migrating(a, b)
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        assert app.main_screen().domains_table.select_key("t5440-sys-1/ldg-src")
        await pilot.pause()
        for keys in (("c", "enter"), ("c", "y"), ("c", "tab", "enter")):
            type_now(app, *keys)
            await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.armed
                         or not isinstance(app.screen, ConfirmDialog))
            await pilot.pause(0.2)
            assert a.calls == []
            if isinstance(app.screen, ConfirmDialog):
                await pilot.press("escape")
        await pilot.press("c")                                       # asked and answered on screen
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.armed)
        await pilot.press("y")
        await settle(pilot, lambda: a.calls)
        assert a.calls == [(["cancel-operation", "migration", "ldg-src"], None)]


async def test_m_then_enter_at_once_does_not_migrate_even_with_the_lab_password_filled_in():
    a, b = seed_hosts()
    app = console(a, b)
    app.lab_passwords.update({"t5440-sys-1": "solaris", "t5440-sys-2": "solaris"})
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        assert app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.pause()
        type_now(app, "m", "enter")
        await settle(pilot, lambda: isinstance(app.screen, MigrateForm) and app.screen.armed)
        form = app.screen
        await pilot.pause(0.2)
        assert a.calls == [] and app.screen is form
        assert app.focused is form.query_one("#go")                 # where the first frame put it
        await pilot.press("enter")                                   # now, on purpose
        await settle(pilot, lambda: a.calls)
        assert a.calls[0] == (["migrate-domain", "ldg1", "root@t5440-sys-2"], "solaris")


async def test_the_recovery_wizard_opens_with_close_focused_and_its_confirmation_is_armed_late():
    a, b = seed_hosts()
    err = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", phase=4, progress=100, state="error")
    a.set("ldg-src", state="suspended", flags="-n---e", vcpus=1, migration=err)
    a.jobs = [err]
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        assert app.main_screen().domains_table.select_key("t5440-sys-1/ldg-src")
        await pilot.press("r")
        wizard = app.screen
        assert isinstance(wizard, RecoveryWizard)
        assert app.focused is wizard.query_one("#close")
        await settle(pilot, lambda: wizard.plan is not None)
        assert wizard.plan.action == "restore-source"
        wizard.query_one("#act", Button).press()
        type_now(app, "y")                                           # before the confirmation is drawn
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.armed)
        await pilot.pause(0.2)
        assert a.calls == []
        await pilot.press("y")
        await settle(pilot, lambda: wizard.outcome)
        assert a.calls == [(["cancel-operation", "migration", "ldg-src"], None)]
