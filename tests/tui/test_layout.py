"""The main screen on a narrow terminal and across a resize (SPEC T-2, T-8).

Below 120 columns the console switches to its narrow layout: FLAGS as one six-letter
column, the hosts panel one line per host, PROGRESS always on screen.
"""

from __future__ import annotations

from ldtui.screens.help import HelpScreen
from ldtui.widgets.layout import layout_for
from ldtui.widgets.tables import KeyedTable
from tests.tui.fakes import domain, job
from tests.tui.scenario import console, screen_text, seed_hosts, settle

WIDE = ["host", "name", "state", "f1", "f2", "f3", "f4", "f5", "f6", "cons", "vcpu", "memory", "util", "uptime",
        "progress"]
AT_80 = ["host", "name", "state", "flags", "vcpu", "memory", "progress"]


def loaded(app):
    return lambda: all(v.snapshot is not None for v in app.fleet.hosts.values())


def columns(table: KeyedTable) -> list[str]:
    return [column.key.value for column in table.ordered_columns]


def migrating(a, b) -> None:
    src = job("ldg-src", "source", "t5440-sys-2", peer_domain="ldg-tgt", phase=4, progress=100)
    a.set("ldg-src", state="suspended", flags="-n---s", vcpus=1, migration=src)
    tgt = job("ldg-tgt", "target", "t5440-sys-1", peer_domain="ldg-src", phase=4, progress=100)
    b.domains.append(domain("ldg-tgt", state="bound", flags="-----t", vcpus=1, migration=tgt))


def test_the_columns_that_fit_are_chosen_by_width_alone():
    assert [key for key, _ in layout_for(80).domain_columns] == AT_80
    assert "util" in dict(layout_for(85).domain_columns) and "uptime" not in dict(layout_for(85).domain_columns)
    assert [key for key, _ in layout_for(100).domain_columns] == [
        "host", "name", "state", "flags", "vcpu", "memory", "util", "uptime", "progress"]
    assert "cons" in dict(layout_for(119).domain_columns) and layout_for(119).compact
    assert [key for key, _ in layout_for(120).domain_columns] == WIDE and not layout_for(120).compact


async def test_at_80_columns_flags_are_one_column_and_progress_stays_on_screen():
    a, b = seed_hosts()
    migrating(a, b)
    app = console(a, b)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: "t5440-sys-2/ldg-tgt" in app.main_screen().domains_table.keys())
        screen = app.main_screen()
        table = screen.domains_table
        assert columns(table) == AT_80
        flags = table.get_cell("t5440-sys-1/ldg-src", "flags")
        assert flags.plain == "-n---s"                              # as ldm list prints it
        assert [(span.start, span.end) for span in flags.spans] == [(5, 6)]   # column 6 highlighted
        assert str(flags.spans[0].style) != ""
        assert table.get_cell("t5440-sys-1/primary", "flags").plain == "-n-cv-"
        assert table.get_cell("t5440-sys-1/ldg-src", "progress").plain == "4 handoff 100%"
        assert table.get_cell("t5440-sys-2/ldg-tgt", "progress").plain == "4 handoff 100%"
        await pilot.pause(0.1)
        assert table.virtual_size.width <= table.size.width         # nothing off screen to the right
        hosts = screen.query_one("#hosts", KeyedTable)
        assert not hosts.show_header and hosts.size.height == 2     # one line per host, no border
        assert hosts.get_cell("t5440-sys-1", "strands").plain == "200/256 strands"
        assert hosts.get_cell("t5440-sys-2", "maus").plain == "30/32 MAUs"
        shown = screen_text(app).splitlines()
        assert shown[0].split() == ["t5440-sys-1", "connected", "200/256", "strands", "40G/64G", "30/32", "MAUs"]
        assert any(line.split() == ["t5440-sys-1", "ldg-src", "suspended", "-n---s", "1", "2G", "4", "handoff",
                                    "100%"] for line in shown)


async def test_resizing_switches_the_layout_both_ways_keeping_selection_sort_and_filter(monkeypatch):
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot, loaded(app))
        screen = app.main_screen()
        table = screen.domains_table
        assert columns(table) == WIDE
        table.sort_by("memory", reverse=True)
        table.select_key("t5440-sys-1/ldg1")
        await pilot.press("slash", *"t5440-sys-1", "enter")
        order = table.keys()
        assert len(order) == 4 and table.selected_key == "t5440-sys-1/ldg1"

        await pilot.resize_terminal(80, 24)
        await settle(pilot, lambda: columns(table) == AT_80 and table.row_count == 4)
        assert screen.has_class("compact")
        assert table.keys() == order and table.selected_key == "t5440-sys-1/ldg1"
        assert (table.sort_column, table.sort_reverse) == ("memory", True)
        assert screen.text_filter == "t5440-sys-1"
        # The narrow table is diffed like the wide one: a refresh rewrites cells, no refill.
        cleared = []
        monkeypatch.setattr(table, "clear", lambda *args, **kw: cleared.append(args))
        a.set("ldg1", state="suspended", flags="-n---s", migration=job("ldg1", "source", "t5440-sys-2"))
        await settle(pilot, lambda: table.get_cell("t5440-sys-1/ldg1", "flags").plain == "-n---s")
        assert table.get_cell("t5440-sys-1/ldg1", "progress").plain == "3 transfer 42%"
        assert cleared == [] and table.selected_key == "t5440-sys-1/ldg1"
        monkeypatch.undo()
        await pilot.press("down")
        chosen = table.selected_key

        await pilot.resize_terminal(100, 30)                        # still narrow: room for UTIL, UPTIME
        await settle(pilot, lambda: "uptime" in columns(table) and table.row_count == 4)
        assert "flags" in columns(table) and table.selected_key == chosen

        await pilot.resize_terminal(160, 45)
        await settle(pilot, lambda: columns(table) == WIDE and table.row_count == 4)
        assert not screen.has_class("compact")
        assert table.selected_key == chosen and table.sort_column == "memory"
        assert "".join(table.get_cell("t5440-sys-1/ldg1", f"f{i}").plain for i in range(1, 7)) == "-n---s"
        assert table.get_cell("t5440-sys-1/ldg1", "progress").plain.startswith("3 transfer █")
        assert screen.query_one("#hosts", KeyedTable).show_header


async def test_a_sort_by_a_flag_column_goes_on_by_the_flags_column_and_comes_back():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        table.sort_by("f4", reverse=True)
        await pilot.resize_terminal(80, 24)
        await settle(pilot, lambda: "flags" in columns(table) and table.row_count == 6)
        assert table.sort_column == "flags"
        assert table.keys()[:2] == ["t5440-sys-1/primary", "t5440-sys-2/primary"]   # -n-cv- first
        await pilot.resize_terminal(160, 45)
        await settle(pilot, lambda: "f4" in columns(table) and table.row_count == 6)
        assert table.sort_column == "f4"


async def test_a_resize_under_a_dialog_applies_when_it_closes():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot, loaded(app))
        table = app.main_screen().domains_table
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.1)
        await pilot.press("escape")
        await settle(pilot, lambda: columns(table) == AT_80 and table.row_count == 6)


async def test_h_shows_and_focuses_the_hosts_panel_or_hides_it():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, loaded(app))
        screen = app.main_screen()
        hosts = screen.query_one("#hosts", KeyedTable)
        table = screen.domains_table
        assert hosts.display and table.has_focus
        height = table.size.height
        await pilot.press("h")                      # shown, not focused → focused
        assert hosts.display and hosts.has_focus
        await pilot.press("h")                      # focused → hidden; back to the domains
        await pilot.pause()
        assert not hosts.display and table.has_focus
        await pilot.pause(0.1)
        assert table.size.height == height + 2      # the hosts' two lines go to the domains
        assert "hosts panel hidden (h shows it)" in screen_text(app)
        await pilot.press("h")                      # hidden → shown and focused
        await pilot.pause()
        assert hosts.display and hosts.has_focus
        await pilot.press("j", "enter")             # and it still filters by host
        assert screen.host_filter == "t5440-sys-2"
        await pilot.press("J", "h")                 # from the jobs tab: focus it, then hide it
        assert hosts.has_focus
        await pilot.press("h")
        await pilot.pause()
        assert not hosts.display and screen.query_one("#jobs").has_focus


async def test_the_help_screen_says_what_h_does():
    a, b = seed_hosts()
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        await pilot.press("question_mark")
        await settle(pilot, lambda: "ldtui — keys" in screen_text(app))
        line = next(line for line in screen_text(app).splitlines() if "Hosts panel" in line)
        assert line.split("█")[1].split() == ["h", "Hosts", "panel:", "show", "it", "and", "go", "to", "it,", "or",
                                              "hide", "it"]


async def test_the_hosts_panel_shows_how_each_host_is_reached():
    """S-3, T-2: a PATH column in the wide layout; in the narrow one the path follows the
    link's state, only when it is not direct."""
    a, b = seed_hosts()
    b.path = "via ops@bastion"
    app = console(a, b)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, loaded(app))
        hosts = app.main_screen().query_one("#hosts", KeyedTable)
        assert "path" in columns(hosts)
        shown = screen_text(app)
        assert "PATH" in shown and "direct" in shown and "via ops@bastion" in shown
        await pilot.resize_terminal(80, 24)
        await settle(pilot, lambda: app.main_screen().table_layout.compact)
        shown = screen_text(app)
        assert "connected via ops@bastion" in shown and "direct" not in shown
