"""``ldm list -o status --completed``: each domain's last finished migration on this host.

What ``virsh domjobinfo --completed`` tells, in ``ldm`` form: once a migration is over the
1.2 guide's ``STATUS`` section is empty (the domain is no longer migrating, and on the source it
is gone), but the operator still wants its figures. Both hosts keep them — the source
under the domain's name there, the target under the name it received — until that domain
migrates again::

    NAME
    ldg1

    LAST MIGRATION
        OPERATION    RESULT      TARGET
        migration    completed   t5440-sys-2
        MODE         live, 3 rounds
        STARTED      2026-12-01 21:04:05 UTC
        TOTAL TIME   6.91 s
        DOWNTIME     21 ms
        DATA         3.2G of memory, 3.3G on the wire, 131072 zero pages not sent
        RATE         474.2M/s, wire 488.9M/s
        TRANSPORT    native, 1 stream
        ROUND BYTES  2.1G, 410.5M, 96.0M, 12.3M suspended

``-p``: ``LAST`` then ``|op=migration|result=…|target=…|mode=…|rounds=…|started=…
|finished=…|total-time=MS|downtime=MS|processed=…|wire=…|rate=…|zero-pages=…|transport=…
|streams=…|round-bytes=B,B,…|suspended-round=N|reason=…|wire-rate=…|cap=…``: rates are
averages over the whole migration, ``wire-rate`` and ``cap`` as in the running status
(bytes on the wire a second, the ``-b`` cap or empty).
"""

from __future__ import annotations

from collections.abc import Sequence

from ldtui.core.errors import LdmError
from ldtui.core.formats import PARSEABLE_VERSION, SEPARATOR, lines_text, row
from ldtui.core.migration.jobs import jobs_of
from ldtui.core.migration.status import field_text, format_when, human_bytes, transport_text, wire_text
from ldtui.core.snapshot import MigrationProgress

_LABEL = 13


def _names(manager, names: Sequence[str]) -> list[str]:
    jobs = jobs_of(manager)
    if not names:
        return jobs.finished_domains()
    known = {d.name for d in manager.domains()} | set(jobs.finished_domains())
    missing = next((n for n in names if n not in known), None)
    if missing is not None:
        raise LdmError("no-such-domain", f"LDom {missing} does not exist and has no migration on record here")
    return list(dict.fromkeys(names))


def _rounds(job: MigrationProgress) -> int:
    return job.iteration + 1 if job.live else 1


def _total_seconds(job: MigrationProgress) -> float:
    return max(job.finished - job.started, 0.0) if job.finished and job.started else 0.0


def _rows(job: MigrationProgress) -> list[str]:
    peer = "SOURCE" if job.role == "target" else "TARGET"
    mode = f"live, {_rounds(job)} round{'s' if _rounds(job) != 1 else ''}" if job.live else "suspended copy"
    data = f"{human_bytes(job.bytes_sent)} of memory, {human_bytes(job.bytes_on_wire)} on the wire"
    if job.zero_pages:
        data += f", {job.zero_pages} zero pages not sent"
    lines = [row(("    OPERATION", 17), ("RESULT", 12), (peer, 0)),
             row(("    migration", 17), (job.state, 12), (job.peer_host, 0))]
    detail = [("MODE", mode), ("STARTED", format_when(job.started) if job.started else "")]
    detail.append(("TOTAL TIME", f"{_total_seconds(job):.2f} s"))
    detail.append(("DOWNTIME", f"{job.downtime_ms:.0f} ms" if job.downtime_ms else "none (not running)"))
    detail += [("DATA", data), ("RATE", f"{human_bytes(job.rate)}/s, {wire_text(job)}")]
    if job.transport:
        detail.append(("TRANSPORT", transport_text(job)))
    if job.live and job.round_bytes:
        rounds = [human_bytes(b) + (" suspended" if i == job.suspended_round else "")
                  for i, b in enumerate(job.round_bytes)]
        detail.append(("ROUND BYTES", ", ".join(rounds)))
    if job.peer_domain and job.peer_domain != job.domain:
        detail.append(("NAME THERE", job.peer_domain))
    if job.reason:
        detail.append(("REASON", job.reason))
    lines += [f"    {label:<{_LABEL}}{value}" for label, value in detail]
    return lines


def _fields(job: MigrationProgress) -> str:
    peer = "source" if job.role == "target" else "target"
    fields = {
        "op": "migration", "result": job.state, peer: job.peer_host, "name-there": job.peer_domain,
        "mode": "live" if job.live else "suspend", "rounds": _rounds(job), "started": int(job.started),
        "finished": int(job.finished), "total-time": int(round(_total_seconds(job) * 1000)),
        "downtime": int(round(job.downtime_ms)), "processed": job.bytes_sent, "wire": job.bytes_on_wire,
        "rate": int(job.rate), "zero-pages": job.zero_pages, "transport": job.transport, "streams": job.streams,
        "round-bytes": ",".join(str(b) for b in job.round_bytes), "suspended-round": job.suspended_round,
        "reason": field_text(job.reason), "wire-rate": int(job.wire_rate), "cap": job.bandwidth_cap or "",
    }
    return "".join(f"|{k}={v}" for k, v in fields.items())


def list_completed(manager, names: Sequence[str]) -> str:
    jobs = jobs_of(manager)
    blocks = []
    for name in _names(manager, names):
        job = jobs.last(name)
        block = ["NAME", name, "", "LAST MIGRATION"]
        block += _rows(job) if job else [f"    none: LDom {name} has not migrated to or from this host"]
        blocks.append(block)
    out: list[str] = []
    for i, block in enumerate(blocks):
        out += (["", SEPARATOR] if i else []) + block
    return lines_text(out)


def list_completed_parseable(manager, names: Sequence[str]) -> str:
    jobs = jobs_of(manager)
    out = [PARSEABLE_VERSION]
    for name in _names(manager, names):
        job = jobs.last(name)
        out += [f"DOMAIN|name={name}|", "LAST"] + ([_fields(job)] if job else [])
    return lines_text(out)
