"""How a migration job is told in words: its progress, rates, times and route.

Plain text, shared by the tables (``ldtui.widgets.cells``), the job picture and the jobs
view's detail lines; nothing here draws.
"""

from __future__ import annotations

from ldtui.core.migration.status import transport_text
from ldtui.core.snapshot import MigrationProgress
from ldtui.core.units import format_uptime
from ldtui.console.fleet import clock_text


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


def progress_text(job: MigrationProgress | None, *, bar_width: int = 10) -> str:
    """``3 transfer ███░░ 42%`` while a migration runs; blank otherwise. With ``bar_width=0``
    the narrow layout's column, without the bar: ``3 transfer 42%``."""
    if job is None:
        return ""
    if job.state == "error":
        return "error — press r"
    head = f"{job.phase} {job.phase_name}".strip() if job.detail_reported else "migration"
    if not bar_width:
        return f"{head} {job.progress}%"
    return f"{head} {bar(job.progress, bar_width)} {job.progress:>3}%"


def job_detail_lines(job: MigrationProgress) -> list[str]:
    """The selected job under the jobs table: what ``virsh domjobinfo`` would say."""
    if not job.detail_reported:
        head = f"{job.domain}: {job.progress}% · {job.state}" + (f" · {job.reason}" if job.reason else "")
        if job.state == "error":
            return [head, _waiting_for_recovery(job, "")]
        return [head, "ldm reports only the percent done: no phase, bytes, rates or downtime"]
    mode = "live (pre-copy)" if job.live else "suspend and copy"
    head = f"{job.domain}: {mode} · phase {job.phase} {job.phase_name} · {job.state}"
    if job.reason:
        head += f" · {job.reason}"
    data = (f"data: {format_bytes(job.bytes_sent)} sent of {format_bytes(job.bytes_total)}, "
            f"{format_bytes(job.bytes_remaining)} remaining · {format_bytes(job.bytes_on_wire)} on the wire")
    if job.zero_pages:
        data += f" · {job.zero_pages} zero pages not sent"
    if job.transport:
        data += f" · {transport_text(job)}"
    speed = f"rate {format_rate(job.rate) if job.state == 'running' else '—'} · ETA {eta_text(job) or '—'}"
    if job.live:
        speed += (f" · iteration {job.iteration} · dirty rate {format_rate(job.dirty_rate)}"
                  + (f" · guest throttled {job.throttle}%" if job.throttle else ""))
    expected = f"~{job.expected_downtime_ms:.0f} ms" if job.expected_downtime_ms else "—"
    actual = f"{job.downtime_ms:.0f} ms" if job.downtime_ms else "—"
    speed += f" · downtime expected {expected}, actual {actual}"
    if job.state == "error":
        # What the operator must know to decide: everything left, nothing came back.
        speed = _waiting_for_recovery(job, f" since {clock_text(job.finished)}" if job.finished else "")
    return [head, data, speed]


def _waiting_for_recovery(job: MigrationProgress, since: str) -> str:
    return (f"all state sent · no confirmation from {job.peer_host}{since} · "
            f"select {job.domain} and press r to recover")


def job_route(host: str, job: MigrationProgress) -> str:
    """``src-host:name → dst-host:name``, from whichever side the job was read on."""
    peer = f"{job.peer_host}:{job.peer_domain or job.domain}"
    here = f"{host}:{job.domain}"
    return f"{here} → {peer}" if job.role == "source" else f"{peer} → {here}"
