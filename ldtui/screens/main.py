"""The main screen: hosts panel, one domain table across hosts, jobs, event log.

It draws only ``HostSnapshot`` values the app hands it (through ``app.fleet``) and turns
keys into the flows of ``screens.flows``. Tables are diffed, never refilled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

import attrs
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, RichLog, Static, TabbedContent, TabPane

from ldtui.core.snapshot import DomainRow, HostSnapshot, MigrationProgress
from ldtui.screens.flows import Flows
from ldtui.widgets.cells import (JOB_COLUMNS, JOB_WIDTHS, Cell, compact_host_cells, domain_cells, host_cells,
                                 job_cells, sort_value)
from ldtui.console.jobtext import job_detail_lines
from ldtui.console.fleet import Event, HostView, clock_text
from ldtui.widgets.job_picture import JobPicture
from ldtui.widgets.layout import SORT_STAND_INS, Layout, layout_for
from ldtui.widgets.tables import KeyedTable

if TYPE_CHECKING:
    from ldtui.screens.console_app import ConsoleApp


def _domain_order(cells: Mapping[str, Cell]) -> tuple:
    # The host cell sorts by (position in the hosts panel, name): hosts in the order they
    # were configured, primary first within each.
    return (sort_value(cells["host"]), sort_value(cells["name"]))


def _job_order(cells: Mapping[str, Cell]) -> tuple:
    # Running first, then newest first: ``started`` travels in the domain cell's sort value.
    return (sort_value(cells["state"]) != "running", -sort_value(cells["domain"])[0], sort_value(cells["domain"])[1])


@attrs.frozen
class _HostRows:
    """One host's rows as drawn: for the snapshot and the tag (host staleness, theme,
    narrow layout, text filter) they were drawn for, each row and its cells."""

    snapshot: HostSnapshot
    tag: tuple
    rows: dict[str, DomainRow]
    cells: dict[str, dict[str, Cell]]


def drawn_rows(view: HostView, snap: HostSnapshot, tag: tuple, before: _HostRows | None,
               matches: Callable[[HostView, DomainRow], bool]) -> _HostRows:
    """The rows of a host's new snapshot. A row equal to the one drawn last time (for the
    same host staleness, theme and layout) keeps its cells, and a changed one keeps the
    cells of its unchanged fields: the table then skips them without comparing. (A host
    whose snapshot did not change since the last redraw is not looked at at all.)"""
    same_tag = before is not None and before.tag[:3] == tag[:3]
    compact = bool(tag[2])
    old_rows = before.rows if same_tag else {}
    old_cells = before.cells if same_tag else {}
    rows: dict[str, DomainRow] = {}
    cells: dict[str, dict[str, Cell]] = {}
    prefix = f"{view.hostname}/"
    for row in snap.domains:
        if not matches(view, row):
            continue
        key = prefix + row.name
        old = old_rows.get(key)
        if old is None:
            drawn = domain_cells(view, row, compact=compact)
        elif old is row or old == row:
            drawn = old_cells[key]
        else:
            drawn = domain_cells(view, row, (old, old_cells[key]), compact=compact)
        rows[key] = row
        cells[key] = drawn
    return _HostRows(snap, tag, rows, cells)


class MainScreen(Flows, Screen[None]):
    BINDINGS = [
        Binding("m", "migrate", "Migrate", id="main.migrate"),
        Binding("c", "cancel_migration", "Cancel migration", id="main.cancel"),
        Binding("r", "recover", "Recover", id="main.recover"),
        Binding("J", "show_tab('jobs-tab')", "Jobs", id="main.jobs"),
        Binding("L", "show_tab('events-tab')", "Events", id="main.events"),
        Binding("D", "show_tab('domains-tab')", "Domains", show=False, id="main.domains"),
        Binding("d", "devices", "Devices", id="main.devices"),
        Binding("v", "services", "Services", show=False, id="main.services"),
        Binding("enter", "detail", "Detail", show=False, id="main.detail"),
        Binding("slash", "filter", "Filter", id="main.filter"),
        Binding("h", "toggle_hosts", "Hosts", tooltip="Hosts panel: show it and go to it, or hide it",
                id="main.hosts"),
        Binding("escape", "back", "Back", show=False, id="main.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.host_filter: str | None = None
        self.text_filter = ""
        self._drawn: dict[str, _HostRows] = {}
        """Host name → its rows as drawn last time (only hosts shown then)."""
        self._job_cells: dict[str, tuple[tuple[str, str], MigrationProgress, dict[str, Cell]]] = {}
        """Job key → ((host, theme), the job as drawn, its cells)."""
        self._shown: dict[str, Text] = {}
        self.table_layout: Layout | None = None
        """The tables' columns for the terminal's width (``widgets.layout``)."""

    @property
    def ldtui(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        # Laid out for the terminal's width from the first frame: no wide frame first.
        layout = self.table_layout = layout_for(self.app.size.width)
        self.set_class(layout.compact, "compact")
        hosts = KeyedTable(layout.host_columns, id="hosts", widths=layout.host_widths)
        hosts.border_title = "hosts"
        hosts.show_header = not layout.compact
        yield hosts
        yield Static("", id="scope")
        yield Input(placeholder="filter domains: host, name, state or flags…", id="filter")
        with TabbedContent(id="main-tabs", initial="domains-tab"):
            with TabPane("Domains", id="domains-tab"):
                yield Static(layout.legend, id="legend")
                yield KeyedTable(layout.domain_columns, id="domains", default_order=_domain_order,
                                 widths=layout.domain_widths)
            with TabPane("Jobs", id="jobs-tab"):
                with Vertical(id="jobs-pane"):
                    yield KeyedTable(JOB_COLUMNS, id="jobs", default_order=_job_order, widths=JOB_WIDTHS)
                    yield Static("", id="job-detail")
                    picture = JobPicture(id="job-picture")
                    picture.fit_to(self.app.size.height)
                    yield picture
                    yield ProgressBar(total=100, show_eta=False, id="job-bar")
            with TabPane("Events", id="events-tab"):
                yield RichLog(id="events", wrap=False, markup=False, max_lines=5000)
        yield Footer(compact=layout.compact)

    def on_mount(self) -> None:
        self.query_one("#domains", KeyedTable).focus()
        self.refresh_views()

    # -- layout --------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.fit_to(event.size.width)
        self.query_one("#job-picture", JobPicture).fit_to(event.size.height)

    def on_screen_resume(self) -> None:
        # A resize while a dialog was on top reached only the dialog.
        self.fit_to(self.app.size.width)
        self.query_one("#job-picture", JobPicture).fit_to(self.app.size.height)

    def fit_to(self, width: int) -> None:
        """Switch between the narrow and the wide layout (``widgets.layout``), keeping the
        selection, the sort, the filters and the tab."""
        layout = layout_for(width)
        if layout == self.table_layout:
            return
        self.table_layout = layout
        self.set_class(layout.compact, "compact")
        hosts = self.query_one("#hosts", KeyedTable)
        hosts.set_columns(layout.host_columns, layout.host_widths)
        hosts.show_header = not layout.compact
        self.domains_table.set_columns(layout.domain_columns, layout.domain_widths, stand_ins=SORT_STAND_INS)
        self.query_one("#legend", Static).update(layout.legend)
        self.query_one(Footer).compact = layout.compact
        self._drawn = {}          # cells are drawn for one layout
        self.refresh_views()

    # -- what is selected ----------------------------------------------------------------

    @property
    def domains_table(self) -> KeyedTable:
        return self.query_one("#domains", KeyedTable)

    def selected(self) -> tuple[HostView, DomainRow] | None:
        key = self.domains_table.selected_key
        if not key:
            return None
        hostname, _, name = key.partition("/")
        view = self.ldtui.fleet.by_hostname(hostname)
        row = view.domain(name) if view else None
        return (view, row) if view and row else None

    def selected_host(self) -> HostView | None:
        """The host under the hosts panel's cursor if it has focus, else the selected domain's."""
        hosts = self.query_one("#hosts", KeyedTable)
        if hosts.has_focus and hosts.selected_key:
            return self.ldtui.fleet.hosts.get(hosts.selected_key)
        chosen = self.selected()
        if chosen:
            return chosen[0]
        if self.host_filter:
            return self.ldtui.fleet.hosts.get(self.host_filter)
        return next(iter(self.ldtui.fleet.hosts.values()), None)

    # -- drawing -------------------------------------------------------------------------

    def refresh_views(self) -> None:
        fleet = self.ldtui.fleet
        compact = self.table_layout is not None and self.table_layout.compact
        cells_of = compact_host_cells if compact else host_cells
        self.query_one("#hosts", KeyedTable).sync(
            {name: cells_of(view, self.host_filter) for name, view in fleet.hosts.items()})
        rows: dict[str, dict[str, Cell]] = {}
        drawn: dict[str, _HostRows] = {}
        theme = self.app.theme
        for view in fleet.hosts.values():
            snap = view.snapshot
            if self.host_filter and view.name != self.host_filter or snap is None:
                continue
            tag = (view.stale_since, theme, compact, self.text_filter)
            before = self._drawn.get(view.name)
            if before is None or before.snapshot is not snap or before.tag != tag:
                before = drawn_rows(view, snap, tag, before, self._matches)
            drawn[view.name] = before
            rows.update(before.cells)
        self._drawn = drawn
        self.domains_table.sync(rows)
        self._draw_jobs()
        self._draw_scope()

    def _matches(self, view: HostView, row: DomainRow) -> bool:
        if not self.text_filter:
            return True
        hay = f"{view.hostname} {row.name} {row.state} {row.flags}".lower()
        return all(word in hay for word in self.text_filter.lower().split())

    def _draw_scope(self) -> None:
        parts = [f"showing {self.host_filter} only (enter on it in the hosts panel for all)"
                 if self.host_filter else "all hosts"]
        if self.text_filter:
            parts.append(f"filter “{self.text_filter}” (esc clears)")
        if not self.query_one("#hosts").display:
            parts.append("hosts panel hidden (h shows it)")
        table = self.domains_table
        if table.sort_column:
            parts.append(f"sorted by {dict(table.column_spec)[table.sort_column]}"
                         + (" descending" if table.sort_reverse else ""))
        self._show(self.query_one("#scope", Static), Text(" · ".join(parts)))

    def _job_rows(self) -> dict[str, tuple[str, MigrationProgress]]:
        fleet = self.ldtui.fleet
        return {key: (fleet.job_hosts.get(key, "?"), job) for key, job in fleet.jobs.items()}

    def _draw_jobs(self) -> None:
        # A job drawn before, unchanged, keeps its cells: the history grows with every
        # migration, and the table then skips those rows without comparing them.
        rows = {}
        drawn = {}
        theme = self.app.theme
        for key, (host, job) in self._job_rows().items():
            hit = self._job_cells.get(key)
            if hit is not None and hit[0] == (host, theme) and (hit[1] is job or hit[1] == job):
                cells = hit[2]
            else:
                cells = job_cells(host, job)
                cells["domain"].sort = (job.started, job.domain)
            drawn[key] = ((host, theme), job, cells)
            rows[key] = cells
        self._job_cells = drawn
        table = self.query_one("#jobs", KeyedTable)
        table.sync(rows)
        self._draw_job_detail()

    def _draw_job_detail(self) -> None:
        table = self.query_one("#jobs", KeyedTable)
        detail = self.query_one("#job-detail", Static)
        bar = self.query_one("#job-bar", ProgressBar)
        picture = self.query_one("#job-picture", JobPicture)
        key = table.selected_key
        pair = self._job_rows().get(key) if key else None
        if pair is None:
            self._show(detail, Text("no migrations yet — press m on a domain to start one", style="italic"))
            picture.show(None, ())
            if bar.progress != 0:
                bar.update(progress=0)
            return
        host, job = pair
        picture.show(job, self.ldtui.fleet.history.samples(job.id))
        lines = job_detail_lines(job)
        self._show(detail, Text("\n".join(lines)))
        if bar.progress != job.progress:
            bar.update(progress=job.progress)

    def _show(self, widget: Static, text: Text) -> None:
        """Update a fixed-height Static only when its text changes, and without a layout
        pass: a layout re-renders the whole screen, which once a second per host would
        cost the operator's keys their speed (bench/console_latency.py)."""
        shown = self._shown.get(widget.id or "")
        if shown is not None and shown.plain == text.plain and shown.style == text.style:
            return
        self._shown[widget.id or ""] = text
        widget.update(text, layout=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "jobs":
            self._draw_job_detail()

    def add_events(self, events: list[Event]) -> None:
        log = self.query_one("#events", RichLog)
        colours = {"error": "bold red", "warning": "yellow"}
        for event in events:
            line = Text(f"{clock_text(event.when)}  {event.host:<14} ")
            line.append(event.text, style=colours.get(event.level, ""))
            log.write(line)

    # -- keys ----------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "hosts":
            name = event.row_key.value
            self.set_host_filter(None if self.host_filter == name else name)
        elif event.data_table.id == "domains":
            self.action_detail()

    def set_host_filter(self, name: str | None) -> None:
        self.host_filter = name
        self.refresh_views()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#main-tabs", TabbedContent).active = tab
        target = {"domains-tab": "#domains", "jobs-tab": "#jobs", "events-tab": "#events"}[tab]
        self.query_one(target).focus()

    def action_toggle_hosts(self) -> None:
        """Hidden → shown and focused; focused → hidden; shown elsewhere → focused."""
        hosts = self.query_one("#hosts", KeyedTable)
        if not hosts.display:
            hosts.display = True
            hosts.focus()
        elif hosts.has_focus:
            hosts.display = False
            self._focus_tab()
        else:
            hosts.focus()
        self._draw_scope()

    def _focus_tab(self) -> None:
        tab = self.query_one("#main-tabs", TabbedContent).active
        target = {"domains-tab": "#domains", "jobs-tab": "#jobs", "events-tab": "#events"}.get(tab, "#domains")
        self.query_one(target).focus()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        self.action_show_tab("domains-tab")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.text_filter = event.value.strip()
            self.refresh_views()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            if not event.value.strip():
                event.input.remove_class("shown")
            self.domains_table.focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("shown") or self.text_filter:
            box.value = ""
            box.remove_class("shown")
            self.text_filter = ""
            self.refresh_views()
            self.domains_table.focus()
        elif self.host_filter:
            self.set_host_filter(None)
        else:
            self.action_show_tab("domains-tab")
