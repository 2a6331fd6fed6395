"""The main screen (SPEC T-2): hosts, one domain table across hosts, flags, staleness."""

from __future__ import annotations

from textual.widgets import Input

from ldtui.widgets.tables import KeyedTable
from tests.tui.fakes import domain, job
from tests.tui.scenario import console, seed_hosts, settle


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


def cell(app, key: str, column: str) -> str:
    return app.main_screen().domains_table.get_cell(key, column).plain


async def test_every_domain_of_every_host_is_listed_with_host_and_flags():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        assert table.keys() == ["t5440-sys-1/primary", "t5440-sys-1/ldg-src", "t5440-sys-1/ldg1",
                                "t5440-sys-1/ldg3", "t5440-sys-2/primary", "t5440-sys-2/ldg2"]
        flags = "".join(cell(app, "t5440-sys-1/primary", f"f{i}") for i in range(1, 7))
        assert flags == "-n-cv-"
        assert cell(app, "t5440-sys-1/primary", "cons") == "SP"
        assert cell(app, "t5440-sys-1/primary", "memory") == "4G"
        assert cell(app, "t5440-sys-1/primary", "uptime") == "3d 21h 7m"
        assert cell(app, "t5440-sys-2/ldg2", "memory") == "512M"
        assert cell(app, "t5440-sys-2/ldg2", "util") == ""      # UTIL blank unless active (L-1)
        hosts = app.main_screen().query_one("#hosts", KeyedTable)
        assert hosts.get_cell("t5440-sys-2", "memory").plain == "2G/64G"
        assert hosts.get_cell("t5440-sys-1", "conn").plain == "connected"


async def test_migration_column_six_and_progress_show_on_both_hosts():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        src = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", progress=17)
        tgt = job("ldg-tgt", "target", "t5440-sys-1", peer_domain="ldg-src", progress=17)
        a.set("ldg-src", state="suspended", flags="-n---s", vcpus=1, migration=src)
        b.domains.append(domain("ldg-tgt", state="bound", flags="-----t", vcpus=1, migration=tgt))
        await settle(pilot, lambda: "t5440-sys-2/ldg-tgt" in app.main_screen().domains_table.keys())
        assert cell(app, "t5440-sys-1/ldg-src", "f6") == "s"
        assert cell(app, "t5440-sys-2/ldg-tgt", "f6") == "t"
        assert cell(app, "t5440-sys-1/ldg-src", "progress").endswith(" 17%")
        assert cell(app, "t5440-sys-2/ldg-tgt", "progress").startswith("3 transfer")
        # Column 6 is coloured; the other flag columns are not.
        table = app.main_screen().domains_table
        assert str(table.get_cell("t5440-sys-1/ldg-src", "f6").style) != ""
        assert str(table.get_cell("t5440-sys-1/ldg-src", "f2").style) == ""


async def test_selection_stays_on_the_same_domain_while_rows_come_and_go():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        table.select_key("t5440-sys-1/ldg3")
        await pilot.press("k")          # vim up: ldg1
        assert table.selected_key == "t5440-sys-1/ldg1"
        a.domains.insert(1, domain("aaa-first", state="bound", flags="------", cons="5009", vcpus=1))
        a.domains = [d for d in a.domains if d.name != "ldg-src"]
        await settle(pilot, lambda: "t5440-sys-1/aaa-first" in table.keys())
        assert "t5440-sys-1/ldg-src" not in table.keys()
        assert table.selected_key == "t5440-sys-1/ldg1"
        a.set("ldg1", util=99.0)
        await settle(pilot, lambda: cell(app, "t5440-sys-1/ldg1", "util") == "99.0%")
        assert table.selected_key == "t5440-sys-1/ldg1"


async def test_refresh_updates_cells_and_never_refills_the_table(monkeypatch):
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        cleared = []
        monkeypatch.setattr(table, "clear", lambda *args, **kw: cleared.append(args))
        added = []
        original_add = table.add_row
        monkeypatch.setattr(table, "add_row", lambda *c, **kw: added.append(kw["key"]) or original_add(*c, **kw))
        b.set("ldg2", state="active", flags="-n----", util=5.0, uptime=60)
        await settle(pilot, lambda: cell(app, "t5440-sys-2/ldg2", "state") == "active")
        assert cleared == [] and added == []


async def test_vim_keys_move_through_the_table():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        await pilot.press("G")
        assert table.selected_key == "t5440-sys-2/ldg2"
        await pilot.press("g")
        assert table.selected_key == "t5440-sys-1/primary"
        await pilot.press("j", "j")
        assert table.selected_key == "t5440-sys-1/ldg1"


async def test_slash_filters_rows_and_escape_clears_the_filter():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"bound")
        assert table.keys() == ["t5440-sys-2/ldg2"]
        await pilot.press("enter")
        assert table.has_focus and table.keys() == ["t5440-sys-2/ldg2"]
        await pilot.press("escape")
        assert len(table.keys()) == 6


async def test_selecting_a_host_shows_only_its_domains():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        screen = app.main_screen()
        await pilot.press("h")        # to the hosts panel
        await pilot.press("j", "enter")
        assert screen.host_filter == "t5440-sys-2"
        assert screen.domains_table.keys() == ["t5440-sys-2/primary", "t5440-sys-2/ldg2"]
        await pilot.press("enter")     # the same host again: every host
        assert len(screen.domains_table.keys()) == 6


async def test_sorting_by_a_column_keeps_the_selection():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        table.select_key("t5440-sys-1/ldg1")
        table.sort_by("memory", reverse=True)
        await pilot.pause()
        assert table.keys()[0] == "t5440-sys-1/primary"          # 4G first
        assert table.keys()[-1] == "t5440-sys-2/ldg2"            # 512M last
        assert table.selected_key == "t5440-sys-1/ldg1"
        await pilot.press("s")                                    # next column: host, then natural order
        assert table.sort_column is not None


async def test_a_host_going_down_keeps_its_rows_marked_stale_until_it_is_back():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        screen = app.main_screen()
        b.down = True
        await settle(pilot, lambda: app.fleet.hosts["t5440-sys-2"].stale)
        assert "t5440-sys-2/ldg2" in screen.domains_table.keys()
        host_cell = cell(app, "t5440-sys-2/ldg2", "host")
        assert host_cell == "t5440-sys-2 · stale since 01:38:27"
        assert "dim" in str(screen.domains_table.get_cell("t5440-sys-2/ldg2", "name").style)
        conn = screen.query_one("#hosts", KeyedTable).get_cell("t5440-sys-2", "conn").plain
        assert conn == "connection lost · stale since 01:38:27"
        assert any(e.host == "t5440-sys-2" and e.text.startswith("down (connection lost)") for e in app.events)
        b.down = False
        await settle(pilot, lambda: not app.fleet.hosts["t5440-sys-2"].stale)
        assert cell(app, "t5440-sys-2/ldg2", "host") == "t5440-sys-2"
        assert any(e.host == "t5440-sys-2" and e.text == "reachable again" for e in app.events)


async def test_state_changes_between_snapshots_reach_the_event_log():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        a.set("ldg3", state="bound", flags="------", cons="5002")
        await settle(pilot, lambda: any("ldg3: inactive → bound" in e.text for e in app.events))
        await pilot.press("L")
        assert app.main_screen().query_one("#main-tabs").active == "events-tab"
