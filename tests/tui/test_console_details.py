"""Details of the finished console: diffed redraws at scale, live job detail, rehearsal
entries, a cancel pressed before the next poll, and the failure that leaves ``e``."""

from __future__ import annotations

import attrs

from ldtui.screens.commands import palette_commands
from ldtui.screens.dialogs import ConfirmDialog, MessageDialog
from ldtui.console.jobtext import job_detail_lines
from ldtui.widgets.cells import domain_cells
from ldtui.console.fleet import HostView
from tests.tui.fakes import G, M, Result, domain, job
from tests.tui.scenario import console, seed_hosts, settle
from tests.tui.test_views import FakeLab


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


def test_a_redrawn_row_keeps_the_cells_whose_fields_did_not_change():
    view = HostView("t5440-sys-1")
    before = domain("ldg1", util=10.0, uptime=120)
    cells = domain_cells(view, before)
    after = attrs.evolve(before, util=11.5, uptime=121)
    again = domain_cells(view, after, (before, cells))
    unchanged = {c for c in cells if again[c] is cells[c]}
    assert unchanged == set(cells) - {"util", "uptime"}
    assert again["util"].plain == "11.5%" and again["uptime"].plain == "2m"
    assert again["uptime"].sort == 121                       # what the column sorts by moved too


def test_live_job_detail_reads_like_domjobinfo():
    running = attrs.evolve(job("ldg1", "source", "t5440-sys-2"), live=True, iteration=3, dirty_rate=20 * M,
                           expected_downtime_ms=85.0, throttle=30, zero_pages=1000)
    head, data, speed = job_detail_lines(running)
    assert head == "ldg1: live (pre-copy) · phase 3 transfer · running"
    assert data.endswith("· 1000 zero pages not sent")
    assert "iteration 3 · dirty rate 20.0M/s · guest throttled 30%" in speed
    assert speed.endswith("downtime expected ~85 ms, actual —")
    done = attrs.evolve(job("ldg1", "source", "t5440-sys-2", phase=4, progress=100, state="completed"))
    assert job_detail_lines(done)[0] == "ldg1: suspend and copy · phase 4 handoff · completed"
    assert job_detail_lines(done)[2].endswith("actual 180 ms")


def test_an_error_job_says_what_is_known_and_what_to_do():
    """Issue 15 item 2: all state sent, the confirmation missing, since when."""
    err = attrs.evolve(job("ldg1", "source", "t5440-sys-2", phase=4, progress=100, state="error"),
                       finished=1_700_000_000.0 + 5, reason="Lost connection with t5440-sys-2")
    head, _, last = job_detail_lines(err)
    assert head.endswith("· error · Lost connection with t5440-sys-2")
    assert last == ("all state sent · no confirmation from t5440-sys-2 since 22:13:25 · "
                    "select ldg1 and press r to recover")


async def test_the_table_shrinks_a_column_when_its_widest_cell_goes():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        name = next(c for c in table.columns.values() if c.key.value == "name")
        narrow = name.content_width
        a.domains.append(domain("ldg-with-a-long-name", state="inactive", flags="------", cons=""))
        await settle(pilot, lambda: name.content_width == len("ldg-with-a-long-name"))
        a.domains.pop()
        await settle(pilot, lambda: name.content_width == narrow)


async def test_rehearsal_palette_toggles_the_slow_pace_and_offers_both_handoff_faults():
    a, b = seed_hosts()
    lab = FakeLab()
    app = console(a, b, rehearsal=lab)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        names = {n: cb for n, cb, _ in palette_commands(app)}
        assert "Lose the confirmation between t5440-sys-1 and t5440-sys-2 at next handoff" in names
        names["Slow migrations down (rehearsal)"]()
        await settle(pilot, lambda: ("slow",) in lab.done)
        names = {n: cb for n, cb, _ in palette_commands(app)}
        assert "Slow migrations down (rehearsal)" not in names
        names["Migrations at full speed (rehearsal)"]()
        await settle(pilot, lambda: ("full speed",) in lab.done)


async def test_c_right_after_a_start_asks_the_host_before_saying_not_migrating():
    a, b = seed_hosts()
    app = console(a, b, poll=30.0)                # the table will not refresh by itself
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        src = job("ldg1", "source", "t5440-sys-2", progress=3)
        a.set("ldg1", state="suspended", flags="-n---s", migration=src)
        a.jobs = [src]
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert app.screen.title_text == "Cancel the migration of ldg1 on t5440-sys-1?"


async def test_a_failure_that_leaves_e_tells_the_operator_to_recover():
    a, b = seed_hosts()
    a.replies["migrate-domain"] = Result(stderr="Lost connection with t5440-sys-2 before it confirmed the resume "
                                                "of LDom ldg1\nDomain Migration of LDom ldg1 failed\n", exit_code=1)
    app = console(a, b)
    app.lab_passwords["t5440-sys-2"] = "solaris"
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.press("m")
        # The failed migration leaves ldg1 in e. Only once the form is open: a poll that
        # showed e before m was pressed would rightly refuse to migrate it.
        a.set("ldg1", state="suspended", flags="-n---e", vcpus=1, memory=G)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, MessageDialog))
        assert app.screen.lines[-1] == ("ldg1 on t5440-sys-1 is now in the migration error state (flag e): "
                                        "close this, select it and press r to recover.")


async def test_a_cancelled_migration_is_no_alarm():
    a, b = seed_hosts()
    a.replies["migrate-domain"] = Result(stderr="Migration of LDom ldg1 was cancelled\n"
                                                "Domain Migration of LDom ldg1 failed\n", exit_code=1)
    app = console(a, b)
    app.lab_passwords["t5440-sys-2"] = "solaris"
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await settle(pilot, loaded(app))
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.press("m")
        await pilot.press("enter")
        await settle(pilot, lambda: any("cancelled" in n.message for n in app._notifications))
        assert not isinstance(app.screen, MessageDialog)
        assert any(n.message == "Migration of ldg1 from t5440-sys-1 to t5440-sys-2 cancelled; "
                   "ldg1 stays on t5440-sys-1" for n in app._notifications)


async def test_a_changed_cell_reaches_the_screen_without_redrawing_every_row():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        await pilot.pause(0.2)
        assert "23.0%" in app.export_screenshot()
        before = table._update_count
        a.set("ldg1", util=42.5)                  # one cell of one row changes
        await settle(pilot, lambda: str(table.get_cell("t5440-sys-1/ldg1", "util")) == "42.5%")
        await pilot.pause(0.2)
        shot = app.export_screenshot()
        assert "42.5%" in shot and "23.0%" not in shot
        assert table._update_count == before      # only that row's renders were dropped


async def test_repainting_only_changed_rows_shows_what_a_full_repaint_shows():
    a, b = seed_hosts()
    a.domains += [domain(f"ldg{n:02d}", util=float(n), uptime=100 + n) for n in range(10, 70)]
    app = console(a, b)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        table.focus()
        table.select_key("t5440-sys-1/ldg45")          # scrolled: rows above and below are off screen
        await pilot.pause(0.2)

        async def full_repaint() -> str:
            table._update_count += 1
            table.refresh()
            await pilot.pause()
            return app.export_screenshot()

        before = table._update_count
        # The cursor's row is the last one on screen: ldg12 and ldg46 are off screen.
        for name in ("ldg12", "ldg30", "ldg44", "ldg45", "ldg46"):
            a.set(name, util=99.9, uptime=3 * 86400)
        a.set("ldg40", flags="-n---s")                  # a themed cell: column 6's source colour
        await settle(pilot, lambda: str(table.get_cell("t5440-sys-1/ldg40", "f6")) == "s")
        await pilot.pause(0.2)
        assert table._update_count == before           # the cells alone were redrawn
        shot = app.export_screenshot()
        assert shot.count("99.9%") == 3
        assert shot == await full_repaint()
        await pilot.press("g")                          # the rows that were off screen, drawn anew
        await pilot.pause(0.2)
        shot = app.export_screenshot()
        assert "99.9%" in shot
        assert shot == await full_repaint()
