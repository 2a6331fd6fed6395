"""Jobs, detail/devices/services pages, help, palette and themes (SPEC T-4, T-7, T-8)."""

from __future__ import annotations

import tomllib

from textual.command import CommandPalette

from ldtui.screens.commands import palette_commands
from ldtui.screens.help import HelpScreen
from ldtui.screens.text import TextView
from ldtui.widgets.tables import KeyedTable
from tests.tui.fakes import Result, domain, job
from tests.tui.scenario import console, seed_hosts, settle


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


async def test_jobs_view_shows_phase_bytes_rate_eta_and_keeps_history():
    a, b = seed_hosts()
    running = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", progress=42, job_id="m-2",
                  started=1_700_000_100.0)
    failed = job("ldg1", "source", "t5440-sys-2", phase=1, progress=0, state="failed", job_id="m-1",
                 reason="Unable to bind 2G memory region at real address 0x8000000")
    a.jobs = [failed, running]
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        await pilot.press("J")
        jobs = app.main_screen().query_one("#jobs", KeyedTable)
        assert jobs.has_focus
        assert jobs.keys() == ["m-2", "m-1"]                     # running first
        assert jobs.get_cell("m-2", "phase").plain == "3 transfer"
        assert jobs.get_cell("m-2", "bytes").plain == "430.1M / 1.0G"
        assert jobs.get_cell("m-2", "rate").plain == "64.0M/s"
        assert jobs.get_cell("m-2", "eta").plain == "10s"
        assert jobs.get_cell("m-2", "route").plain == "t5440-sys-1:ldg-src → t5440-sys-2:ldg-tgt"
        assert jobs.get_cell("m-1", "reason").plain.startswith("Unable to bind 2G")
        # The host forgets its history; the console keeps it.
        a.jobs = [attrs_evolve(running, progress=100, state="completed", phase=4, phase_name="handoff")]
        await settle(pilot, lambda: jobs.get_cell("m-2", "state").plain == "completed")
        a.jobs = []
        await pilot.pause(0.3)
        assert set(jobs.keys()) == {"m-1", "m-2"}
        assert any("migration of ldg-src: completed" in e.text for e in app.events)


def attrs_evolve(value, **changes):
    import attrs
    return attrs.evolve(value, **changes)


async def test_enter_shows_list_l_of_the_domain_in_a_scrollable_page():
    a, b = seed_hosts()
    a.replies["list -l ldg1"] = Result(stdout="NAME       STATE      FLAGS\nldg1       active     -n----\n")
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        app.main_screen().domains_table.select_key("t5440-sys-1/ldg1")
        await pilot.press("enter")
        page = app.screen
        assert isinstance(page, TextView)
        await settle(pilot, lambda: page.text)
        assert page.text.splitlines()[1] == "ldg1       active     -n----"
        assert a.calls[-1][0] == ["list", "-l", "ldg1"]
        await pilot.press("escape")
        assert not isinstance(app.screen, TextView)


async def test_devices_and_services_of_the_selected_host():
    a, b = seed_hosts()
    b.replies["list-devices -a"] = Result(stdout="MEMORY\n    PA                   SIZE            BOUND\n")
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        app.main_screen().domains_table.select_key("t5440-sys-2/ldg2")
        await pilot.press("d")
        await settle(pilot, lambda: isinstance(app.screen, TextView) and app.screen.text)
        assert app.screen.text.startswith("MEMORY")
        assert app.screen.page_title == "t5440-sys-2: ldm list-devices -a"
        await pilot.press("escape", "v")
        await settle(pilot, lambda: isinstance(app.screen, TextView) and app.screen.text)
        assert b.calls[-1][0] == ["list-services"]


async def test_a_page_from_a_dead_host_says_so():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        app.main_screen().domains_table.select_key("t5440-sys-2/ldg2")
        b.down = True
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, TextView) and app.screen.text)
        assert app.screen.text.startswith("host unreachable")


async def test_help_lists_every_binding_with_a_description():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from ldtui.screens.help import binding_rows
        rows = binding_rows(app, app.screen.sections)
        descriptions = {d for _, _, d in rows}
        assert {"Migrate", "Cancel migration", "Recover", "Jobs", "Filter", "Help", "Quit", "Sort"} <= descriptions
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_offers_only_what_makes_sense_for_the_selected_domain():
    a, b = seed_hosts()
    a.set("ldg-src", state="suspended", flags="-n---s",
          migration=job("ldg-src", "source", "t5440-sys-2"))
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        table.select_key("t5440-sys-1/ldg1")
        names = [name for name, _, _ in palette_commands(app)]
        assert "Migrate ldg1 on t5440-sys-1…" in names
        assert not any(n.startswith("Cancel migration") for n in names)
        assert not any(n.startswith("Cut link") for n in names)       # no lab: no rehearsal
        table.select_key("t5440-sys-1/ldg-src")
        names = [name for name, _, _ in palette_commands(app)]
        assert "Cancel migration of ldg-src on t5440-sys-1" in names
        assert not any(n.startswith("Migrate ldg-src") for n in names)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"cancel migration")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")


class FakeLab:
    can_cut_at_handoff = True
    slowed = False

    def __init__(self):
        self.done = []

    def slow_migrations(self):
        self.done.append(("slow",))
        self.slowed = True

    def full_speed_migrations(self):
        self.done.append(("full speed",))
        self.slowed = False

    def lose_confirmation_at_handoff(self, a, b):
        self.done.append(("lose-confirmation", a, b))

    def stop_host(self, name):
        self.done.append(("stop", name))

    def start_host(self, name):
        self.done.append(("start", name))

    def cut_link(self, a, b):
        self.done.append(("cut", a, b))

    def cut_link_at_handoff(self, a, b):
        self.done.append(("cut-at-handoff", a, b))


async def test_rehearsal_actions_exist_only_with_a_lab_and_use_its_controls():
    a, b = seed_hosts()
    lab = FakeLab()
    app = console(a, b, rehearsal=lab)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        commands = {name: cb for name, cb, _ in palette_commands(app)}
        assert "Cut link between t5440-sys-1 and t5440-sys-2 at next handoff" in commands
        commands["Cut link between t5440-sys-1 and t5440-sys-2 now"]()
        commands["Stop host t5440-sys-2"]()
        await settle(pilot, lambda: len(lab.done) == 2)
        assert sorted(lab.done) == [("cut", "t5440-sys-1", "t5440-sys-2"), ("stop", "t5440-sys-2")]
        b.down = True
        await settle(pilot, lambda: app.fleet.hosts["t5440-sys-2"].stale)
        names = [name for name, _, _ in palette_commands(app)]
        assert "Restart host t5440-sys-2" in names and "Stop host t5440-sys-2" not in names


async def test_the_chosen_theme_is_remembered(ldtui_home):
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        assert app.theme == "ldtui-dark"
        commands = {name: cb for name, cb, _ in palette_commands(app)}
        assert {"Theme: light", "Theme: high contrast"} <= commands.keys()
        commands["Theme: high contrast"]()
        await pilot.pause()
    settings = tomllib.loads((ldtui_home / "settings.toml").read_text())
    assert settings["theme"] == "ldtui-high-contrast"
    again = console(*seed_hosts())
    async with again.run_test(size=(140, 40)):
        assert again.theme == "ldtui-high-contrast"


async def test_a_new_domain_on_a_host_appears_without_disturbing_the_others():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        b.domains.append(domain("ldg9", state="inactive", flags="------", cons="", vcpus=1))
        await settle(pilot, lambda: "t5440-sys-2/ldg9" in app.main_screen().domains_table.keys())
        assert any(e.text == "ldg9: appeared (inactive, ------)" for e in app.events)
