"""The main screen: hosts panel, one domain table across hosts, jobs, event log (T-2, T-4).

It draws only ``HostSnapshot`` values the app hands it (through ``app.fleet``) and turns
keys into the flows of ``screens.flows``. Tables are diffed, never refilled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, RichLog, Static, TabbedContent, TabPane

from ldtui.core.snapshot import DomainRow, MigrationProgress
from ldtui.screens.flows import Flows
from ldtui.widgets.cells import (DOMAIN_COLUMNS, FLAG_LEGEND, HOST_COLUMNS, JOB_COLUMNS, Cell, domain_cells,
                                 format_bytes, format_rate, downtime_text, eta_text, host_cells, job_cells,
                                 sort_value)
from ldtui.widgets.fleet import Event, HostView, clock_text
from ldtui.widgets.tables import KeyedTable

if TYPE_CHECKING:
    from ldtui.app import LdtuiApp


def _domain_order(cells: Mapping[str, Cell]) -> tuple:
    return (sort_value(cells["host"]), sort_value(cells["name"]))


def _job_order(cells: Mapping[str, Cell]) -> tuple:
    # Running first, then newest first: ``started`` travels in the domain cell's sort value.
    return (sort_value(cells["state"]) != "running", -sort_value(cells["domain"])[0], sort_value(cells["domain"])[1])


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
        Binding("h", "focus_hosts", "Hosts panel", show=False, id="main.hosts"),
        Binding("escape", "back", "Back", show=False, id="main.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.host_filter: str | None = None
        self.text_filter = ""

    @property
    def ldtui(self) -> "LdtuiApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        hosts = KeyedTable(HOST_COLUMNS, id="hosts")
        hosts.border_title = "hosts"
        yield hosts
        yield Static("", id="scope")
        yield Input(placeholder="filter domains: host, name, state or flags…", id="filter")
        with TabbedContent(id="main-tabs", initial="domains-tab"):
            with TabPane("Domains", id="domains-tab"):
                yield Static(FLAG_LEGEND, id="legend")
                yield KeyedTable(DOMAIN_COLUMNS, id="domains", default_order=_domain_order)
            with TabPane("Jobs", id="jobs-tab"):
                with Vertical(id="jobs-pane"):
                    yield KeyedTable(JOB_COLUMNS, id="jobs", default_order=_job_order)
                    yield Static("", id="job-detail")
                    yield ProgressBar(total=100, show_eta=False, id="job-bar")
            with TabPane("Events", id="events-tab"):
                yield RichLog(id="events", wrap=False, markup=False, max_lines=5000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#domains", KeyedTable).focus()
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
        self.query_one("#hosts", KeyedTable).sync(
            {name: host_cells(view, self.host_filter) for name, view in fleet.hosts.items()})
        rows = {}
        for view in fleet.hosts.values():
            if self.host_filter and view.name != self.host_filter or view.snapshot is None:
                continue
            for row in view.snapshot.domains:
                if self._matches(view, row):
                    rows[f"{view.hostname}/{row.name}"] = domain_cells(view, row)
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
        table = self.domains_table
        if table.sort_column:
            parts.append(f"sorted by {dict(DOMAIN_COLUMNS)[table.sort_column]}"
                         + (" descending" if table.sort_reverse else ""))
        self.query_one("#scope", Static).update(Text(" · ".join(parts)))

    def _job_rows(self) -> dict[str, tuple[str, MigrationProgress]]:
        fleet = self.ldtui.fleet
        return {key: (fleet.job_hosts.get(key, "?"), job) for key, job in fleet.jobs.items()}

    def _draw_jobs(self) -> None:
        rows = {}
        for key, (host, job) in self._job_rows().items():
            cells = job_cells(host, job)
            cells["domain"].sort = (job.started, job.domain)
            rows[key] = cells
        table = self.query_one("#jobs", KeyedTable)
        table.sync(rows)
        self._draw_job_detail()

    def _draw_job_detail(self) -> None:
        table = self.query_one("#jobs", KeyedTable)
        detail = self.query_one("#job-detail", Static)
        bar = self.query_one("#job-bar", ProgressBar)
        key = table.selected_key
        pair = self._job_rows().get(key) if key else None
        if pair is None:
            detail.update(Text("no migrations yet — press m on a domain to start one", style="italic"))
            bar.update(progress=0)
            return
        host, job = pair
        lines = [
            f"{job.domain}: phase {job.phase} {job.phase_name} · {job.state}"
            + (f" · {job.reason}" if job.reason else ""),
            f"sent {format_bytes(job.bytes_sent)} of {format_bytes(job.bytes_total)}, "
            f"remaining {format_bytes(job.bytes_remaining)}, on the wire {format_bytes(job.bytes_on_wire)}",
            f"rate {format_rate(job.rate)} · dirty rate {format_rate(job.dirty_rate)} · iteration {job.iteration}"
            f" · ETA {eta_text(job) or '—'} · downtime {downtime_text(job) or '—'}",
        ]
        detail.update(Text("\n".join(lines)))
        bar.update(progress=job.progress)

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

    def action_focus_hosts(self) -> None:
        self.query_one("#hosts").focus()

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
