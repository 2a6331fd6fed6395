"""The messages two managers exchange to move a domain (SPEC G-3).

Every message is a frozen value; ``codec`` turns them into frames and back. The order of a
successful exchange (source → target unless marked ←):

    Offer → ← CheckResult → RuntimeImage → PageBatch… → TransferDone → ← Ready → Go → ← Resumed

``Abort`` may travel either way before ``Go``; it means "this migration is over, undo".
"""

from __future__ import annotations

import attrs

from ldtui.core.model import Constraints
from ldtui.hv.guest import GuestSettings
from ldtui.hv.hypervisor import MemoryBlock

PROTOCOL = 1
"""The migration protocol this manager speaks; a peer with another one is refused (G-4)."""


@attrs.frozen(kw_only=True)
class MachineInfo:
    """What the target must know of the source machine to judge a move (G-6, G-8)."""

    hostname: str
    processor: str
    clock_mhz: int
    strands_per_core: int
    manager_version: str
    firmware: str = ""
    delayed_reconf: bool = False
    """The source's control domain has a delayed reconfiguration pending (G-8)."""


@attrs.frozen(kw_only=True)
class DomainDescription:
    """A domain as the source manager knows it: constraints and, if bound, its bindings."""

    name: str
    uuid: str
    state: str
    """``active``, ``bound`` or ``inactive`` when the migration starts."""
    constraints: Constraints
    vcpus: int
    """Bound strands (active/bound) or the constraint (inactive)."""
    blocks: tuple[MemoryBlock, ...] = ()
    maus: int = 0
    io: tuple[str, ...] = ()
    console_port: int | None = None
    mac: str = ""
    hostid: str = ""
    started_at: float = 0.0
    guest: GuestSettings = attrs.Factory(GuestSettings)


@attrs.frozen(kw_only=True)
class Offer:
    """Phase 1: the source asks the target to take a domain (and to check it can)."""

    mig_id: str
    protocol: int = PROTOCOL
    source: MachineInfo
    domain: DomainDescription
    target_name: str
    user: str
    dry_run: bool = False
    source_unmet: tuple[str, ...] = ()
    """Requirements the source found unmet on its own side (CPU DR in the guest, …)."""


@attrs.frozen(kw_only=True)
class CheckResult:
    """Phase 1 answer. ``ok`` with no dry run means the receiving domain exists (phase 2)."""

    ok: bool
    unmet: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Kept but unmet constraints that do not stop the move (NIU hybrid I/O, G-8)."""
    refused: bool = False
    """The target does not take incoming migrations at all (seed example 8-4)."""


@attrs.frozen(kw_only=True)
class RuntimeImage:
    """Phase 3, first: everything of the suspended domain but its memory pages."""

    generation: int
    regs: bytes
    devices: dict
    guest: GuestSettings
    started_at: float
    vcpus: int
    total_pages: int
    """Non-zero pages that follow; zero pages are never sent (B-2)."""


@attrs.frozen(kw_only=True)
class PageBatch:
    """Phase 3: some memory pages, and how far the transfer has come."""

    pages: tuple[tuple[int, bytes], ...]
    sent: int
    """Pages sent so far, this batch included."""
    total: int


@attrs.frozen(kw_only=True)
class TransferDone:
    """End of phase 3 (or of phase 2 for a bound/inactive domain): compare digests."""

    digest: str = ""
    pages: int = 0


@attrs.frozen(kw_only=True)
class Ready:
    """The target holds a complete, verified copy and waits for ``Go``."""


@attrs.frozen(kw_only=True)
class Go:
    """The commit point: the target may now run the domain; the source never will again."""


@attrs.frozen(kw_only=True)
class Resumed:
    """The target runs the domain (or holds it bound/inactive); the source may destroy its copy."""


@attrs.frozen(kw_only=True)
class Abort:
    """Undo: the sender has removed (target) or restored (source) its side."""

    reason: str


MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Offer, CheckResult, RuntimeImage, PageBatch, TransferDone, Ready, Go, Resumed, Abort)
}
