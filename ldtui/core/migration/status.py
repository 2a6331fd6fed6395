"""The extended migration status: what ``virsh domjobinfo`` tells, in ``ldm`` form.

``ldm list -o status`` keeps the Logical Domains 1.2 guide's three columns first, byte for
byte, and adds one line per detail below them while a migration runs on this host:

    STATUS
        OPERATION    PROGRESS    TARGET
        migration    17%         t5440-sys-2
        MODE         live, round 3, guest throttled 20%
        DATA         1.2G processed, 2.1G remaining, 3.3G total
        RATE         612.4M/s, wire 201.7M/s (cap 200M), guest dirties 19.1M/s
        DOWNTIME     12 ms expected
        ZERO PAGES   131072 not sent
        TRANSPORT    native, 2 streams

RATE is guest memory moved a second; ``wire`` is what crossed the link a second after
zero pages were left out and pages compressed, which is what ``-b`` caps, so with a cap
the first figure may be far above it.

``-p`` appends ``|key=value`` fields after the guide's, in bytes, bytes a second and
milliseconds: ``|mode=live|phase=transfer|iteration=3|processed=…|remaining=…
|total=…|rate=…|dirty-rate=…|throttle=20|zero-pages=…|expected-downtime=…|wire=…
|transport=native|streams=2|wire-rate=…|cap=…`` (``cap`` empty without one).
"""

from __future__ import annotations

import time

import attrs

from ldtui.core.migration.phase import MigrationPhase
from ldtui.core.model import MigrationInfo, MigrationRole
from ldtui.core.snapshot import MigrationProgress
from ldtui.core.units import format_size

_LABEL = 17


def progress_from_info(domain: str, info: MigrationInfo) -> MigrationProgress:
    """A migration as the domain's own record keeps it (what survives a restart of the
    manager), in the shape consoles draw."""
    error = info.role is MigrationRole.ERROR or info.error
    role = "target" if info.role is MigrationRole.TARGET else "source"
    phase = MigrationPhase.HANDOFF if error else MigrationPhase.STARTING
    return MigrationProgress(
        id=info.id, role=role, domain=domain, peer_host=info.peer_host, peer_domain=info.peer_domain,
        phase=phase.value, phase_name=phase.label, progress=max(0, min(info.progress, 100)),
        state="error" if error else "running", live=info.live, bytes_total=info.bytes_total,
        bytes_sent=info.bytes_sent, bytes_remaining=max(info.bytes_total - info.bytes_sent, 0),
        started=info.started, finished=info.since if error else 0.0, reason=info.reason)


def error_progress(domain: str, info: MigrationInfo, recorded: MigrationProgress | None) -> MigrationProgress:
    """A domain in the error state: the host's record of that migration (rate, rounds,
    downtime…) when it has one, with what the domain's own record says on top."""
    mine = progress_from_info(domain, info)
    if recorded is None or recorded.id != info.id:
        return mine
    handoff = MigrationPhase.HANDOFF
    return attrs.evolve(recorded, state="error", phase=handoff.value, phase_name=handoff.label,
                        progress=max(recorded.progress, mine.progress), reason=info.reason or recorded.reason,
                        finished=info.since or recorded.finished)


def format_when(when: float) -> str:
    """``2026-12-01 21:04:05 UTC``: a moment as this host's clock and zone say it."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(when))


def running_job(view, mig_id: str) -> MigrationProgress | None:
    """The running job ``mig_id`` of the manager behind ``view``, if this host runs it."""
    provider = getattr(view, "job_provider", None)
    if provider is None:
        return None
    try:
        jobs = provider()
    except Exception:
        return None
    return next((j for j in jobs if j.id == mig_id and j.state == "running"), None)


def human_bytes(n: float) -> str:
    """``3.3G``, ``612.4M``, ``96K``, ``512`` — one decimal, the largest unit that fits."""
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return f"{int(n)}"


def detail_rows(job: MigrationProgress) -> tuple[str, ...]:
    mode = "live" if job.live else "suspended copy"
    if job.live:
        mode += f", round {job.iteration}"
        if job.throttle:
            mode += f", guest throttled {job.throttle}%"
    rows = [("MODE", mode),
            ("DATA", f"{human_bytes(job.bytes_sent)} processed, {human_bytes(job.bytes_remaining)} remaining, "
                     f"{human_bytes(job.bytes_total)} total")]
    rate = f"{human_bytes(job.rate)}/s, {wire_text(job)}"
    if job.live:
        rate += f", guest dirties {human_bytes(job.dirty_rate)}/s"
    rows.append(("RATE", rate))
    if job.live and job.role == "source":
        rows.append(("DOWNTIME", f"{job.expected_downtime_ms:.0f} ms expected"))
    if job.zero_pages:
        rows.append(("ZERO PAGES", f"{job.zero_pages} not sent"))
    if job.transport:
        rows.append(("TRANSPORT", transport_text(job)))
    return tuple(f"    {label:<{_LABEL - 4}}{value}" for label, value in rows)


def detail_fields(job: MigrationProgress) -> str:
    fields = {
        "mode": "live" if job.live else "suspend", "phase": job.phase_name, "iteration": job.iteration,
        "processed": job.bytes_sent, "remaining": job.bytes_remaining, "total": job.bytes_total,
        "rate": int(job.rate), "dirty-rate": int(job.dirty_rate), "throttle": job.throttle,
        "zero-pages": job.zero_pages, "expected-downtime": int(round(job.expected_downtime_ms)),
        "wire": job.bytes_on_wire, "transport": job.transport, "streams": job.streams,
        "wire-rate": int(job.wire_rate), "cap": job.bandwidth_cap or "",
    }
    return "".join(f"|{k}={v}" for k, v in fields.items())


def wire_text(job: MigrationProgress) -> str:
    """``wire 1.0M/s (cap 1M)``: the link's rate, and the ``-b`` cap it is held to."""
    text = f"wire {human_bytes(job.wire_rate)}/s"
    return text + (f" (cap {format_size(job.bandwidth_cap)})" if job.bandwidth_cap else "")


def transport_text(job: MigrationProgress) -> str:
    """``native, 2 streams`` or ``tunnelled through SSH``."""
    if job.transport == "native":
        return f"native, {job.streams} stream{'s' if job.streams != 1 else ''}"
    if job.transport == "tunnelled":
        return "tunnelled through SSH" + (f" ({job.transport_reason})" if job.transport_reason else "")
    return job.transport


def error_rows(name: str, m: MigrationInfo) -> tuple[str, ...]:
    """What is known of a source left in the error state, under the guide's three columns."""
    if m.all_sent:
        sent = "all state sent" + (f", {human_bytes(m.bytes_sent)} of memory" if m.bytes_sent else "")
    else:
        sent = f"{human_bytes(m.bytes_sent)} of {human_bytes(m.bytes_total)} sent"
    rows = [("DATA", sent),
            ("CONFIRMATION", f"none: {m.peer_host} never confirmed that it runs {m.peer_domain or name}")]
    if m.since:
        rows.append(("SINCE", format_when(m.since)))
    if m.reason:
        rows.append(("REASON", m.reason))
    rows.append(("RECOVER", f"if {m.peer_domain or name} runs on {m.peer_host}: ldm remove-domain {name}; "
                            f"if it is not there: ldm cancel-operation migration {name}"))
    return tuple(f"    {label:<{_LABEL - 4}}{value}" for label, value in rows)


def error_fields(m: MigrationInfo) -> str:
    fields = {"phase": MigrationPhase.HANDOFF.label, "sent": "all" if m.all_sent else "part", "processed": m.bytes_sent,
              "total": m.bytes_total, "confirmed": "no", "since": int(m.since) if m.since else "",
              "reason": field_text(m.reason)}
    return "".join(f"|{k}={v}" for k, v in fields.items())


def field_text(text: str) -> str:
    """A free text as one parseable field: no separators, no line breaks."""
    return " ".join(text.replace("|", "/").split())
