"""What a console needs to draw one host, in one value (sent over the RPC channel as JSON).

``Manager.snapshot()`` builds it; the console renders it and never reaches into a manager.
"""

from __future__ import annotations

import attrs

from ldtui.core.model import MigrationRole


@attrs.frozen(kw_only=True)
class MigrationProgress:
    """One migration as either side sees it: the jobs view, the status and the progress bar."""

    id: str
    role: str
    """``source`` or ``target``."""
    domain: str
    peer_host: str
    peer_domain: str
    phase: int
    """1–4: check, prepare, transfer, handoff; 0 before the checks start."""
    phase_name: str
    progress: int
    """Percent, monotonic, 0–100."""
    state: str
    """``running``, ``completed``, ``failed``, ``cancelled``, ``error``."""
    live: bool = False
    bytes_total: int = 0
    bytes_sent: int = 0
    bytes_remaining: int = 0
    bytes_on_wire: int = 0
    rate: float = 0.0
    """Bytes of guest memory per second over the last second."""
    dirty_rate: float = 0.0
    iteration: int = 0
    """Pre-copy round of a live migration (0 is the first full copy)."""
    expected_downtime_ms: float = 0.0
    downtime_ms: float = 0.0
    """Suspend on the source to the target's confirmation that it runs (an upper bound)."""
    throttle: int = 0
    """Percent of the guest's time taken away by auto-converge (live migrations only)."""
    zero_pages: int = 0
    """Pages never sent because they read as zeros."""
    started: float = 0.0
    finished: float = 0.0
    reason: str = ""
    """Why it failed or was cancelled, in the operator's words."""
    transport: str = ""
    """``native`` (direct data connections) or ``tunnelled`` (through the SSH control
    link); empty until the path is decided."""
    streams: int = 0
    """Data connections of a native migration."""
    transport_reason: str = ""
    """Why a migration that could have used direct data connections is tunnelled."""
    round_bytes: tuple[int, ...] = ()
    """Guest memory sent in each round, the first full copy first: one per pre-copy round
    and then the final one (live migrations), or the one copy of a suspended domain. While the
    migration runs, the last one is the round being sent."""
    suspended_round: int = -1
    """Which of ``round_bytes`` was sent with the domain suspended; -1 while it runs."""
    wire_rate: float = 0.0
    """Bytes on the wire per second over the last second, after compression: what a
    bandwidth cap counts (``rate`` counts guest memory)."""
    bandwidth_cap: int = 0
    """The ``-b`` cap on the wire, bytes a second; 0 for none (known to the source)."""

    @property
    def detail_reported(self) -> bool:
        """Whether the host told more than the percent done: its phase, and with it bytes,
        rates and downtime. Oracle's ``ldm`` tells only the percent (``core.ldm_snapshot``)."""
        return bool(self.phase_name)


@attrs.frozen(kw_only=True)
class DomainRow:
    """One line of ``ldm list`` as a value.

    What the flags say is read through :attr:`migration_role` and :attr:`is_control`, never
    by slicing ``flags``. They are properties, not fields, so the wire format stays the six
    letters every host and console already exchange (docs/CONSOLE.md, "Typed values").
    """

    name: str
    state: str
    flags: str
    """Always six characters, as ``ldm list`` prints them (docs/CONTRACTS.md)."""
    cons: str
    vcpus: int
    memory: int
    util: float | None
    uptime: int | None
    migration: MigrationProgress | None = None

    @property
    def migration_role(self) -> MigrationRole:
        """The sixth flag: not migrating, source, target, or source left in the error state.
        A flags string too short to have one (or a letter this console does not know) reads
        as not migrating."""
        try:
            return MigrationRole(self.flags[5:6])
        except ValueError:
            return MigrationRole.NONE

    @property
    def migrating(self) -> bool:
        """Whether the domain takes part in a migration (source, target or error state)."""
        return self.migration_role is not MigrationRole.NONE

    @property
    def is_control(self) -> bool:
        """The fourth flag: the host's control domain, which never migrates."""
        return self.flags[3:4] == "c"


@attrs.frozen(kw_only=True)
class HostSnapshot:
    hostname: str
    processor: str
    clock_mhz: int
    manager_version: str
    strands_total: int
    strands_free: int
    memory_total: int
    memory_free: int
    maus_total: int
    maus_free: int
    incoming_migration_enabled: bool
    domains: tuple[DomainRow, ...]
    jobs: tuple[MigrationProgress, ...] = ()
    """Running migrations and this host's recent history (newest last)."""
    taken_at: float = 0.0
    peer_paths: tuple[tuple[str, str], ...] = ()
    """(peer host, how this host's manager reaches it: ``direct``, ``via bastion``…) for
    the peers its configuration names; filled in by ``ldmd``, not the manager."""
    unreported: tuple[str, ...] = ()
    """What the host could not tell, so the views say so instead of showing a figure:
    ``processor`` (and its clock), ``incoming`` (whether it takes incoming migrations) and
    ``job-detail`` (a migration's phase, bytes and rates). Empty from an ``ldmd``; hosts
    reached through Oracle's ``ldm`` alone fill it (``core.ldm_snapshot``)."""
