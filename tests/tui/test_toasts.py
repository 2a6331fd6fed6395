"""One toast per operator action (SPEC T-5, T-8).

A cancel asked from this console used to toast twice: once when cancel-operation
succeeded, and again when the migration this console had started returned "was
cancelled". Now the cancel's own toast is the only one; a migration this console started
that someone else cancelled still gets its one toast.
"""

from __future__ import annotations

import asyncio

import pytest

from ldtui.screens.dialogs import ConfirmDialog, MessageDialog
from tests.tui.fakes import Result, job
from tests.tui.scenario import console, seed_hosts, settle

CANCELLED = Result(stderr="Migration of LDom ldg1 was cancelled\nDomain Migration of LDom ldg1 failed\n", exit_code=1)


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


def record_toasts(app) -> list[str]:
    """Every toast the console raises, in order (Textual reaps expired ones from its own list)."""
    shown: list[str] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        shown.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = recording
    return shown


def exited(app, command: str):
    return lambda: any(f"ldm {command}" in e.text and "→ exit" in e.text for e in app.events)


async def start_migration_of_ldg1(pilot, app, a) -> None:
    """m on ldg1 and enter (the lab password is filled in); migrate-domain is held on the host."""
    a.holds["migrate-domain"] = asyncio.Event()
    a.replies["migrate-domain"] = CANCELLED
    await settle(pilot, loaded(app))
    assert app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
    await pilot.pause()
    await pilot.press("m")
    await settle(pilot, lambda: getattr(app.screen, "armed", False))
    await pilot.press("enter")
    await settle(pilot, lambda: any(argv[0] == "migrate-domain" for argv, _ in a.calls))
    src = job("ldg1", "source", "t5440-sys-2")
    a.set("ldg1", state="suspended", flags="-n---s", migration=src)
    a.jobs = [src]
    await settle(pilot, lambda: app.fleet.hosts["t5440-sys-1"].domain("ldg1").flags == "-n---s")


async def cancel_from_here(pilot, app) -> None:
    await pilot.press("c")
    await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen.armed)
    await pilot.press("y")


@pytest.mark.parametrize("first", ["cancel-operation", "migrate-domain"])
async def test_a_cancel_from_this_console_of_its_own_migration_toasts_once(first):
    """Either command may answer first: the source may end the migration before it answers
    cancel-operation, or after."""
    a, b = seed_hosts()
    app = console(a, b)
    app.lab_passwords["t5440-sys-2"] = "solaris"
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        toasts = record_toasts(app)
        await start_migration_of_ldg1(pilot, app, a)
        assert toasts == ["Migration of ldg1 from t5440-sys-1 to t5440-sys-2 started"]
        toasts.clear()
        a.holds["cancel-operation"] = asyncio.Event()
        await cancel_from_here(pilot, app)
        await settle(pilot, lambda: any(argv[0] == "cancel-operation" for argv, _ in a.calls))
        second = "migrate-domain" if first == "cancel-operation" else "cancel-operation"
        a.holds[first].set()
        await settle(pilot, exited(app, first))
        a.holds[second].set()
        await settle(pilot, exited(app, second))
        await pilot.pause(0.3)
        assert toasts == ["Migration of ldg1 on t5440-sys-1 cancelled"]
        assert sum("cancelled" in n.message for n in app._notifications) == 1
        assert not isinstance(app.screen, MessageDialog)


async def test_a_migration_this_console_started_and_someone_else_cancelled_toasts_once():
    a, b = seed_hosts()
    app = console(a, b)
    app.lab_passwords["t5440-sys-2"] = "solaris"
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        toasts = record_toasts(app)
        await start_migration_of_ldg1(pilot, app, a)
        toasts.clear()
        a.holds["migrate-domain"].set()          # ldm cancel-operation typed on the host itself
        await settle(pilot, exited(app, "migrate-domain"))
        await pilot.pause(0.3)
        assert toasts == ["Migration of ldg1 from t5440-sys-1 to t5440-sys-2 cancelled; ldg1 stays on t5440-sys-1"]


async def test_a_cancel_of_a_migration_started_elsewhere_toasts_once():
    a, b = seed_hosts()
    src = job("ldg1", "source", "t5440-sys-2")
    a.set("ldg1", state="suspended", flags="-n---s", migration=src)
    a.jobs = [src]
    app = console(a, b)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        toasts = record_toasts(app)
        await settle(pilot, loaded(app))
        assert app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.pause()
        await cancel_from_here(pilot, app)
        await settle(pilot, exited(app, "cancel-operation"))
        await pilot.pause(0.3)
        assert toasts == ["Migration of ldg1 on t5440-sys-1 cancelled"]


async def test_a_refused_cancel_leaves_the_migrations_own_end_to_be_told():
    """The manager refused the cancel (the handoff had begun): its dialog says so, no toast;
    when someone cancels the migration later after all, that end gets its toast."""
    a, b = seed_hosts()
    app = console(a, b)
    app.lab_passwords["t5440-sys-2"] = "solaris"
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        toasts = record_toasts(app)
        await start_migration_of_ldg1(pilot, app, a)
        toasts.clear()
        a.replies["cancel-operation"] = Result(stderr="Migration of ldg1 is past its handoff; it cannot be "
                                                      "cancelled\n", exit_code=1)
        await cancel_from_here(pilot, app)
        await settle(pilot, lambda: isinstance(app.screen, MessageDialog))
        assert toasts == []
        await pilot.press("escape")
        a.holds["migrate-domain"].set()
        await settle(pilot, exited(app, "migrate-domain"))
        await pilot.pause(0.3)
        assert toasts == ["Migration of ldg1 from t5440-sys-1 to t5440-sys-2 cancelled; ldg1 stays on t5440-sys-1"]
