"""How one host, domain or migration is spelled in the console's tables.

Every cell is a ``Cell``: rich ``Text`` that also carries the value it sorts by, so a
column sorts by what it means (``1536M`` after ``1G``) and not by its spelling.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from ldtui.core.snapshot import DomainRow, MigrationProgress
from ldtui.core.units import format_size, format_uptime
from ldtui.widgets.fleet import HostView, clock_text

FLAG_LEGEND = (
    "FLAGS  1 s start/stop · 2 n normal t transition · 3 d delayed reconf · "
    "4 c control · 5 v vio service · 6 s source t target e error"
)
"""The six one-letter FLAGS columns explained once, above the table (SPEC L-2)."""

MIGRATION_STYLE = {"s": "bold $warning", "t": "bold $accent", "e": "bold reverse $error"}
"""Column 6 colours; ``$`` names are theme colours, resolved by ``themed`` when drawn."""

_VARIABLE = re.compile(r"\$([a-z][a-z0-9-]*)")


def themed(cell: Text, variables: dict[str, str]) -> Text:
    """Replace ``$name`` in the cell's style with the active theme's colour of that name."""
    style = cell.style
    if isinstance(style, str) and "$" in style:
        cell.style = _VARIABLE.sub(lambda m: variables.get(m.group(1), ""), style).strip() or ""
    return cell


class Cell(Text):
    """Text that sorts by ``sort`` (a number, or the plain text if not given)."""

    def __init__(self, text: str = "", style: str = "", *, sort: Any = None, justify: str | None = None) -> None:
        super().__init__(text, style=style, justify=justify)  # type: ignore[arg-type]
        self.sort = text if sort is None else sort


def sort_value(cell: Any) -> Any:
    return getattr(cell, "sort", str(cell))


def format_bytes(n: float) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}B"


def format_rate(rate: float) -> str:
    return f"{format_bytes(rate)}/s" if rate > 0 else "—"


def eta_text(job: MigrationProgress) -> str:
    if job.state != "running":
        return ""
    if job.rate <= 0 or job.bytes_remaining <= 0:
        return "—"
    seconds = int(job.bytes_remaining / job.rate + 0.999)
    return format_uptime(seconds)


def downtime_text(job: MigrationProgress) -> str:
    if job.downtime_ms:
        return f"{job.downtime_ms:.0f} ms"
    if job.expected_downtime_ms:
        return f"~{job.expected_downtime_ms:.0f} ms"
    return ""


def bar(percent: int, width: int = 10) -> str:
    percent = max(0, min(100, percent))
    filled = percent * width // 100
    return "█" * filled + "░" * (width - filled)


def progress_text(job: MigrationProgress | None) -> str:
    """``3 transfer ███░░ 42%`` while a migration runs; blank otherwise."""
    if job is None:
        return ""
    if job.state == "error":
        return "error — press r"
    head = f"{job.phase} {job.phase_name}".strip()
    return f"{head} {bar(job.progress)} {job.progress:>3}%"


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


def domain_cells(view: HostView, row: DomainRow) -> dict[str, Cell]:
    """One domain row; a stale host's rows are dimmed and say since when (SPEC T-2)."""
    dim = "dim" if view.stale else ""
    host = view.hostname
    if view.stale_since is not None:
        host = f"{host} · stale since {clock_text(view.stale_since)}"
    cells = {
        "host": Cell(host, dim, sort=view.hostname),
        "name": Cell(row.name, dim, sort=(row.name != "primary", row.name)),
        "state": Cell(row.state, dim),
    }
    flags = (row.flags + "------")[:6]
    for i, letter in enumerate(flags, start=1):
        style = dim
        if i == 6 and letter in MIGRATION_STYLE:
            style = MIGRATION_STYLE[letter]
        cells[f"f{i}"] = Cell(letter, style)
    active = row.util is not None
    cells["cons"] = Cell(row.cons, dim)
    cells["vcpu"] = Cell(str(row.vcpus), dim, sort=row.vcpus, justify="right")
    cells["memory"] = Cell(format_size(row.memory) if row.memory else "", dim, sort=row.memory, justify="right")
    cells["util"] = Cell(f"{row.util:.1f}%" if active else "", dim, sort=row.util or 0.0, justify="right")
    cells["uptime"] = Cell(format_uptime(row.uptime) if row.uptime is not None else "", dim, sort=row.uptime or 0)
    job = row.migration
    cells["progress"] = Cell(progress_text(job), dim, sort=job.progress if job else -1)
    return cells


HOST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("host", "HOST"),
    ("conn", "CONNECTION"),
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
        conn = Cell(f"down · stale since {clock_text(view.stale_since)}", "bold $error")
    elif view.state == "connected":
        conn = Cell("connected", "$success")
    else:
        conn = Cell(view.state, "$warning")
    if snap is None:
        blank = Cell("")
        return {"host": Cell(marker + view.hostname, sort=view.name), "conn": conn, "processor": blank,
                "strands": blank, "memory": blank, "maus": blank, "incoming": blank}
    dim = "dim" if view.stale else ""
    return {
        "host": Cell(marker + view.hostname, dim, sort=view.name),
        "conn": conn,
        "processor": Cell(f"{snap.processor} {snap.clock_mhz} MHz", dim),
        "strands": Cell(f"{snap.strands_free}/{snap.strands_total}", dim, sort=snap.strands_free, justify="right"),
        "memory": Cell(f"{format_size(snap.memory_free) or '0'}/{format_size(snap.memory_total)}", dim,
                       sort=snap.memory_free, justify="right"),
        "maus": Cell(f"{snap.maus_free}/{snap.maus_total}", dim, sort=snap.maus_free, justify="right"),
        "incoming": Cell("yes" if snap.incoming_migration_enabled else "no", dim),
    }


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

JOB_STATE_STYLE = {"running": "$accent", "completed": "$success", "failed": "bold $error",
                   "cancelled": "$warning", "error": "bold reverse $error"}


def job_route(host: str, job: MigrationProgress) -> str:
    target = job.peer_domain or job.domain
    if job.role == "source":
        return f"{host}:{job.domain} → {job.peer_host}:{target}"
    return f"{job.peer_host}:{job.peer_domain or job.domain} → {host}:{job.domain}"


def job_cells(host: str, job: MigrationProgress) -> dict[str, Cell]:
    phase = f"{job.phase} {job.phase_name}" if job.phase else job.phase_name
    mode = " (live)" if job.live else ""
    return {
        "domain": Cell(job.domain + mode),
        "route": Cell(job_route(host, job)),
        "state": Cell(job.state, JOB_STATE_STYLE.get(job.state, "")),
        "phase": Cell(phase, sort=job.phase),
        "progress": Cell(f"{bar(job.progress, 20)} {job.progress:>3}%", sort=job.progress),
        "bytes": Cell(f"{format_bytes(job.bytes_sent)} / {format_bytes(job.bytes_total)}", sort=job.bytes_sent,
                      justify="right"),
        "rate": Cell(format_rate(job.rate) if job.state == "running" else "", sort=job.rate, justify="right"),
        "eta": Cell(eta_text(job), justify="right"),
        "downtime": Cell(downtime_text(job), sort=job.downtime_ms, justify="right"),
        "reason": Cell(job.reason),
    }
