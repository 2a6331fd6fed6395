"""An in-memory host for console tests: answers snapshots and ``ldm`` commands from a script.

It behaves like ``net.hostlink.HostLink`` seen from the console: ``state``, ``connect``,
``snapshot`` and ``run``; ``down = True`` makes every call fail as a dead link would.
"""

from __future__ import annotations

import asyncio

import attrs

from ldtui.core.snapshot import DomainRow, HostSnapshot, MigrationProgress

G = 1 << 30
M = 1 << 20


@attrs.frozen
class Result:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


def domain(name: str, state: str = "active", flags: str = "-n----", cons: str = "5000", vcpus: int = 8,
           memory: int = G, util: float | None = 0.5, uptime: int | None = 7620,
           migration: MigrationProgress | None = None) -> DomainRow:
    if state != "active":
        util, uptime = None, None
    return DomainRow(name=name, state=state, flags=flags, cons=cons, vcpus=vcpus, memory=memory, util=util,
                     uptime=uptime, migration=migration)


def primary() -> DomainRow:
    return domain("primary", flags="-n-cv-", cons="SP", vcpus=8, memory=4 * G, util=0.3, uptime=335220)


def job(domain_name: str, role: str, peer_host: str, *, peer_domain: str = "", phase: int = 3,
        progress: int = 42, state: str = "running", reason: str = "", job_id: str = "m-1",
        started: float = 1_700_000_000.0) -> MigrationProgress:
    names = {0: "", 1: "checks", 2: "prepare", 3: "transfer", 4: "handoff"}
    total = 1 * G
    sent = total * progress // 100
    return MigrationProgress(
        id=job_id, role=role, domain=domain_name, peer_host=peer_host, peer_domain=peer_domain or domain_name,
        phase=phase, phase_name=names[phase], progress=progress, state=state, bytes_total=total,
        bytes_sent=sent, bytes_remaining=total - sent, bytes_on_wire=sent // 3,
        rate=(64 * M if state == "running" else 0.0), started=started, reason=reason,
        downtime_ms=(180.0 if state == "completed" else 0.0))


class FakeHost:
    """A host whose snapshot is ``domains``/``jobs`` and whose commands answer from ``replies``."""

    def __init__(self, hostname: str, domains: list[DomainRow], *, strands_free: int = 200,
                 memory_free: int = 40 * G, maus_free: int = 30, processor: str = "UltraSPARC-T2+") -> None:
        self.hostname = hostname
        self.domains = list(domains)
        self.jobs: list[MigrationProgress] = []
        self.strands_free = strands_free
        self.memory_free = memory_free
        self.maus_free = maus_free
        self.processor = processor
        self.down = False
        self.state = "connecting"
        self.calls: list[tuple[list[str], str | None]] = []
        self.replies: dict[str, Result] = {}
        """First argv word(s) joined by space → result; the longest matching prefix wins."""
        self.hold: asyncio.Event | None = None
        """When set, ``run`` waits on it before answering (a migration that takes a while)."""
        self.holds: dict[str, asyncio.Event] = {}
        """First argv word(s) joined by space → an event that command waits on before
        answering (one command held while others answer)."""
        self.closed = False
        self.peer_paths: tuple[tuple[str, str], ...] = ()
        """What the host's manager says of its way to each peer (``via bastion``)."""
        self.unreported: tuple[str, ...] = ()
        """What the host cannot tell (a host reached through Oracle's ``ldm``)."""

    async def connect(self) -> None:
        if self.down:
            self.state = "down"
            raise ConnectionRefusedError(f"{self.hostname}: connection refused")
        self.state = "connected"

    async def close(self) -> None:
        self.closed = True

    async def snapshot(self) -> HostSnapshot:
        if self.down:
            self.state = "down"
            raise ConnectionResetError("connection lost")
        self.state = "connected"
        return HostSnapshot(
            hostname=self.hostname, processor=self.processor, clock_mhz=1414, manager_version="1.2",
            strands_total=256, strands_free=self.strands_free, memory_total=64 * G, memory_free=self.memory_free,
            maus_total=32, maus_free=self.maus_free, incoming_migration_enabled=True,
            domains=tuple(self.domains), jobs=tuple(self.jobs), taken_at=0.0, peer_paths=self.peer_paths,
            unreported=self.unreported)

    async def run(self, argv: list[str], *, password: str | None = None, timeout: float | None = None) -> Result:
        if self.down:
            raise ConnectionResetError("connection lost")
        self.calls.append((list(argv), password))
        if self.hold is not None:
            await self.hold.wait()
        held = next((self.holds[" ".join(argv[:n])] for n in range(len(argv), 0, -1)
                     if " ".join(argv[:n]) in self.holds), None)
        if held is not None:
            await held.wait()
        for n in range(len(argv), 0, -1):
            reply = self.replies.get(" ".join(argv[:n]))
            if reply is not None:
                return reply
        return Result(stdout=f"{' '.join(argv)} on {self.hostname}\n")

    def set(self, name: str, **changes) -> None:
        self.domains = [attrs.evolve(d, **changes) if d.name == name else d for d in self.domains]
