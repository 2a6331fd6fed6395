"""How one host, domain or migration is spelled in the console's tables.

Every cell is a ``Cell``: rich ``Text`` that also carries the value it sorts by, so a
column sorts by what it means (``1536M`` after ``1G``) and not by its spelling.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from rich.text import Span, Text

from ldtui.core.snapshot import DomainRow, MigrationProgress
from ldtui.core.units import format_size, format_uptime
from ldtui.console.fleet import HostView, clock_text
from ldtui.console.jobtext import (bar, downtime_text, eta_text, format_bytes, format_rate, job_route,
                                  progress_text)

FLAG_LEGEND = (
    "FLAGS  1 s start/stop · 2 n normal t transition · 3 d delayed reconf · "
    "4 c control · 5 v vio service · 6 s source t target e error"
)
"""The six one-letter FLAGS columns explained once, above the table."""

COMPACT_FLAG_LEGEND = "FLAGS 1 start 2 normal/transition 3 delayed 4 control 5 vio 6 src/tgt/error"
"""The same in 80 columns, for the one FLAGS column of the narrow layout: each letter is
the first of its word (``-n---s``: normal, source)."""

MIGRATION_STYLE = {"s": "bold $warning", "t": "bold $accent", "e": "bold reverse $error"}
"""Column 6 colours; ``$`` names are theme colours, resolved by ``themed`` when drawn."""

_VARIABLE = re.compile(r"\$([a-z][a-z0-9-]*)")


def themed(cell: Text, variables: dict[str, str]) -> Text:
    """Replace ``$name`` in the cell's style (and its spans') with the active theme's colour
    of that name."""
    style = cell.style
    if isinstance(style, str) and "$" in style:
        cell.style = _resolve(style, variables)
    spans = cell.spans
    if spans and any(isinstance(span.style, str) and "$" in span.style for span in spans):
        cell.spans = [Span(span.start, span.end, _resolve(span.style, variables))
                      if isinstance(span.style, str) else span for span in spans]
    return cell


def _resolve(style: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1), ""), style).strip() or ""


class Cell(Text):
    """Text that sorts by ``sort`` (a number, or the plain text if not given)."""

    def __init__(self, text: str = "", style: str = "", *, sort: Any = None, justify: str | None = None) -> None:
        super().__init__(text, style=style, justify=justify)  # type: ignore[arg-type]
        self.sort = text if sort is None else sort


def sort_value(cell: Any) -> Any:
    return getattr(cell, "sort", str(cell))


DOMAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "HOST"),
    ("name", "NAME"),
    ("state", "STATE"),
    ("f1", "1"),
    ("f2", "2"),
    ("f3", "3"),
    ("f4", "4"),
    ("f5", "5"),
    ("f6", "6"),
    ("cons", "CONS"),
    ("vcpu", "VCPU"),
    ("memory", "MEMORY"),
    ("util", "UTIL"),
    ("uptime", "UPTIME"),
    ("progress", "PROGRESS"),
)

COMPACT_DOMAIN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "HOST"),
    ("name", "NAME"),
    ("state", "STATE"),
    ("flags", "FLAGS"),
    ("cons", "CONS"),
    ("vcpu", "VCPU"),
    ("memory", "MEMORY"),
    ("util", "UTIL"),
    ("uptime", "UPTIME"),
    ("progress", "PROGRESS"),
)
"""The narrow layout's columns, before those that do not fit are left out: FLAGS is one
column, spelled as ``ldm list`` prints it."""


FLAG_COLUMNS = ("f1", "f2", "f3", "f4", "f5", "f6")


def _flag(i: int) -> Any:
    def build(row: DomainRow, dim: str) -> Cell:
        letter = (row.flags + "------")[i - 1]
        style = MIGRATION_STYLE[letter] if i == 6 and letter in MIGRATION_STYLE else dim
        return Cell(letter, style)
    return build


def _flags(row: DomainRow, dim: str) -> Cell:
    flags = (row.flags + "------")[:6]
    cell = Cell(flags[:5], dim, sort=flags)
    role = row.migration_role.value
    cell.append(role, MIGRATION_STYLE.get(role))
    return cell


_DOMAIN_CELL = {
    "name": (("name",), lambda row, dim: Cell(row.name, dim, sort=(row.name != "primary", row.name))),
    "state": (("state",), lambda row, dim: Cell(row.state, dim)),
    **{column: (("flags",), _flag(i)) for i, column in enumerate(FLAG_COLUMNS, 1)},
    "cons": (("cons",), lambda row, dim: Cell(row.cons, dim)),
    "vcpu": (("vcpus",), lambda row, dim: Cell(str(row.vcpus), dim, sort=row.vcpus, justify="right")),
    "memory": (("memory",), lambda row, dim: Cell(format_size(row.memory) if row.memory else "", dim,
                                                  sort=row.memory, justify="right")),
    "util": (("util",), lambda row, dim: Cell(f"{row.util:.1f}%" if row.util is not None else "", dim,
                                              sort=row.util or 0.0, justify="right")),
    "uptime": (("uptime",), lambda row, dim: Cell(format_uptime(row.uptime) if row.uptime is not None else "",
                                                  dim, sort=row.uptime or 0)),
    "progress": (("migration",), lambda row, dim: Cell(progress_text(row.migration), dim,
                                                       sort=row.migration.progress if row.migration else -1)),
}
"""Column → (the DomainRow fields it shows, how to draw it)."""

_COMPACT_DOMAIN_CELL = {
    **{column: spec for column, spec in _DOMAIN_CELL.items() if column not in FLAG_COLUMNS},
    "flags": (("flags",), _flags),
    "progress": (("migration",), lambda row, dim: Cell(progress_text(row.migration, bar_width=0), dim,
                                                       sort=row.migration.progress if row.migration else -1)),
}
"""The same for the narrow layout: one FLAGS column, progress without the bar."""


def _host_cell(view: HostView, dim: str) -> Cell:
    host = view.hostname
    if view.stale_since is not None:
        host = f"{host} · stale since {clock_text(view.stale_since)}"
    return Cell(host, dim, sort=(view.position, view.hostname))


def _compact_host_cell(view: HostView, dim: str) -> Cell:
    # No room for "stale since …" in the narrow layout: the hosts panel's line says it,
    # and the rows are dimmed.
    host = view.hostname + (" ✗" if view.stale_since is not None else "")
    return Cell(host, dim, sort=(view.position, view.hostname))


def domain_cells(view: HostView, row: DomainRow,
                 previous: tuple[DomainRow, dict[str, Cell]] | None = None, *,
                 compact: bool = False) -> dict[str, Cell]:
    """One domain row; a stale host's rows are dimmed and say since when.

    ``previous`` (the row as last drawn, for the same host state and layout, and its
    cells) lets cells whose fields did not change be reused as they are, so redrawing
    thousands of rows where only UTIL and UPTIME move builds only those cells.
    ``compact``: the cells of the narrow layout (``COMPACT_DOMAIN_COLUMNS``).
    """
    dim = "dim" if view.stale else ""
    if previous is None:
        builders = _COMPACT_DOMAIN_CELL if compact else _DOMAIN_CELL
        cells = {"host": (_compact_host_cell if compact else _host_cell)(view, dim)}
        cells.update((column, build(row, dim)) for column, (_, build) in builders.items())
        return cells
    old_row, old_cells = previous
    cells = dict(old_cells)
    field_columns = _COMPACT_FIELD_COLUMNS if compact else _FIELD_COLUMNS
    for columns, value, was in zip(field_columns, _FIELD_VALUES(row), _FIELD_VALUES(old_row)):
        if value == was:
            continue
        for column, build in columns:
            old = old_cells[column]
            new = build(row, dim)
            if new.plain != old.plain or new.sort != old.sort or new.style != old.style:
                cells[column] = new
    return cells


_FIELDS = ("name", "state", "flags", "cons", "vcpus", "memory", "util", "uptime", "migration")
_FIELD_VALUES = operator.attrgetter(*_FIELDS)


def _field_columns(builders: dict) -> tuple[tuple[tuple[str, Any], ...], ...]:
    return tuple(tuple((column, build) for column, (fields, build) in builders.items() if field in fields)
                 for field in _FIELDS)


_FIELD_COLUMNS = _field_columns(_DOMAIN_CELL)
"""For each DomainRow field, the columns drawn from it: a change redraws only those."""
_COMPACT_FIELD_COLUMNS = _field_columns(_COMPACT_DOMAIN_CELL)


DOMAIN_WIDTHS = {"util": 6, "uptime": 12, "progress": 26}
COMPACT_DOMAIN_WIDTHS = {"util": 6, "uptime": 11, "progress": 15}


HOST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "HOST"),
    ("conn", "CONNECTION"),
    ("path", "PATH"),
    ("processor", "PROCESSOR"),
    ("strands", "FREE STRANDS"),
    ("memory", "FREE MEMORY"),
    ("maus", "FREE MAUS"),
    ("incoming", "INCOMING"),
)


def host_cells(view: HostView, selected_filter: str | None) -> dict[str, Cell]:
    snap = view.snapshot
    marker = "▶ " if selected_filter == view.name else "  "
    if view.stale_since is not None:
        conn = Cell(f"{view.down_reason or 'down'} · stale since {clock_text(view.stale_since)}", "bold $error")
    elif view.down_since is not None:
        conn = Cell(f"{view.down_reason} since {clock_text(view.down_since)}", "bold $error")
    elif view.state == "connected":
        conn = Cell("connected", "$success")
    else:
        conn = Cell(view.state, "$warning")
    path = Cell(view.path or "direct", "dim" if view.stale else "")
    if snap is None:
        blank = Cell("")
        return {"host": Cell(marker + view.hostname, sort=view.name), "conn": conn, "path": path,
                "processor": blank, "strands": blank, "memory": blank, "maus": blank, "incoming": blank}
    dim = "dim" if view.stale else ""
    return {
        "host": Cell(marker + view.hostname, dim, sort=view.name),
        "conn": conn,
        "path": path,
        "processor": (Cell("not reported by ldm", "dim") if "processor" in snap.unreported
                      else Cell(f"{snap.processor} {snap.clock_mhz} MHz", dim)),
        "strands": Cell(f"{snap.strands_free}/{snap.strands_total}", dim, sort=snap.strands_free, justify="right"),
        "memory": Cell(f"{format_size(snap.memory_free) or '0'}/{format_size(snap.memory_total)}", dim,
                       sort=snap.memory_free, justify="right"),
        "maus": Cell(f"{snap.maus_free}/{snap.maus_total}", dim, sort=snap.maus_free, justify="right"),
        "incoming": (Cell("unknown", "dim") if "incoming" in snap.unreported
                     else Cell("yes" if snap.incoming_migration_enabled else "no", dim)),
    }


HOST_WIDTHS = {"strands": 12, "memory": 13, "maus": 9}

COMPACT_HOST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "HOST"),
    ("conn", "LINK"),
    ("strands", "STRANDS"),
    ("memory", "MEMORY"),
    ("maus", "MAUS"),
    ("incoming", ""),
)
"""The hosts panel of the narrow layout: one line per host and no header, so each figure
says what it counts (short labels: they only size the columns and name a sort)."""


def compact_host_cells(view: HostView, selected_filter: str | None) -> dict[str, Cell]:
    """``host_cells`` for a line without a header: ``226/256 strands``, ``30/32 MAUs``, the
    path after the link's state only when it is not direct, and INCOMING only when the host
    refuses incoming migrations."""
    cells = host_cells(view, selected_filter)
    path = cells.pop("path")
    if view.path and view.path != "direct":
        cells["conn"].append(f" {path.plain}", path.style or None)
    snap = view.snapshot
    if snap is None:
        return cells
    dim = "dim" if view.stale else ""
    cells["strands"] = Cell(f"{snap.strands_free}/{snap.strands_total} strands", dim, sort=snap.strands_free,
                            justify="right")
    cells["maus"] = Cell(f"{snap.maus_free}/{snap.maus_total} MAUs", dim, sort=snap.maus_free, justify="right")
    known = "incoming" not in snap.unreported
    cells["incoming"] = Cell("" if snap.incoming_migration_enabled or not known else "no incoming", dim or "$warning",
                             sort=snap.incoming_migration_enabled)
    return cells

JOB_COLUMNS: tuple[tuple[str, str], ...] = (
    ("domain", "DOMAIN"),
    ("route", "FROM → TO"),
    ("state", "STATE"),
    ("phase", "PHASE"),
    ("progress", "PROGRESS"),
    ("bytes", "SENT / TOTAL"),
    ("rate", "RATE"),
    ("eta", "ETA"),
    ("downtime", "DOWNTIME"),
    ("reason", "REASON"),
)

JOB_WIDTHS = {"state": 9, "phase": 10, "progress": 25, "bytes": 17, "rate": 10, "eta": 8, "downtime": 9}

JOB_STATE_STYLE = {"running": "$accent", "completed": "$success", "failed": "bold $error",
                   "cancelled": "$warning", "error": "bold reverse $error"}


def job_cells(host: str, job: MigrationProgress) -> dict[str, Cell]:
    cells = {
        "domain": Cell(job.domain + (" (live)" if job.live and job.detail_reported else "")),
        "route": Cell(job_route(host, job)),
        "state": Cell(job.state, JOB_STATE_STYLE.get(job.state, "")),
        "progress": Cell(f"{bar(job.progress, 20)} {job.progress:>3}%", sort=job.progress),
        "reason": Cell(job.reason),
    }
    if not job.detail_reported:
        # A host whose ldm tells only the percent done: say so once, leave the rest empty.
        return cells | {
            "phase": Cell("n/a (ldm)", "dim", sort=-1),
            "bytes": Cell("", sort=0, justify="right"), "rate": Cell("", sort=0.0, justify="right"),
            "eta": Cell("", justify="right"), "downtime": Cell("", sort=0.0, justify="right"),
        }
    return cells | {
        "phase": Cell(f"{job.phase} {job.phase_name}" if job.phase else job.phase_name, sort=job.phase),
        "bytes": Cell(f"{format_bytes(job.bytes_sent)} / {format_bytes(job.bytes_total)}", sort=job.bytes_sent,
                      justify="right"),
        "rate": Cell(format_rate(job.rate) if job.state == "running" else "", sort=job.rate, justify="right"),
        "eta": Cell(eta_text(job), justify="right"),
        "downtime": Cell(downtime_text(job), sort=job.downtime_ms, justify="right"),
    }
