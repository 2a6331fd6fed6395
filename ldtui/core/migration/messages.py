"""The messages two managers exchange to move a domain.

Every message is a frozen value; ``codec`` turns them into frames and back. The order of a
successful exchange (source → target unless marked ←):

    Offer → ← CheckResult → RuntimeImage → PageBatch… → TransferDone → ← Ready → Go → ← Resumed

A live migration sends pre-copy rounds of pages while the domain still runs, before
the runtime image; the pages after the image are only those dirtied since the last round:

    Offer(live) → ← CheckResult → PageBatch(round 0…n)… → RuntimeImage → PageBatch(final)…
                → TransferDone → ← Ready → Go → ← Resumed

``Abort`` may travel either way before ``Go``; it means "this migration is over, undo".

The *data messages* — the runtime image and the page batches — travel on the migration's
own data connections unless they are tunnelled through the control link; everything
else, and ``PagesAck``, always takes the control link. The sessions around the engines
(``source_session``, ``target_session``) set up the data path (``DataChannel``, ``DataPath``)
and restore the order the engines rely on; the engines never see those three messages.
"""

from __future__ import annotations

import attrs

from ldtui.core.model import Constraints
from ldtui.hv.guest import GuestSettings
from ldtui.hv.hypervisor import MemoryBlock, RuntimeState

PROTOCOL = 1
"""The migration protocol this manager speaks; a peer with another one is refused."""


@attrs.frozen(kw_only=True)
class MachineInfo:
    """What the target must know of the source machine to judge a move."""

    hostname: str
    processor: str
    clock_mhz: int
    strands_per_core: int
    manager_version: str
    firmware: str = ""
    delayed_reconf: bool = False
    """The source's control domain has a delayed reconfiguration pending."""


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
    live: bool = False
    """Pre-copy while the domain runs: pages may come before the runtime image."""


@attrs.frozen(kw_only=True)
class CheckResult:
    """Phase 1 answer. ``ok`` with no dry run means the receiving domain exists (phase 2)."""

    ok: bool
    unmet: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Kept but unmet constraints that do not stop the move (NIU hybrid I/O)."""
    refused: bool = False
    """The target does not take incoming migrations at all (the Logical Domains 1.2 guide's
    example of a target that refuses)."""


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
    """An upper bound of the pages that follow (the memory's data extents); zero pages are
    never sent. In a live migration: the pages still dirty at the suspend."""

    @classmethod
    def from_runtime(cls, state: RuntimeState, *, total_pages: int) -> "RuntimeImage":
        """The image of an exported runtime: every field of it but the uuid, which the
        target gives its own receiving domain."""
        return cls(**_runtime_fields(state), total_pages=total_pages)

    def to_runtime(self, uuid: str) -> RuntimeState:
        """The runtime to import into the receiving domain ``uuid``."""
        return RuntimeState(uuid=uuid, **_runtime_fields(self))


def _runtime_fields(value) -> dict:
    """The fields a runtime and its image share, named by the runtime: a field added to
    ``RuntimeState`` and not to the image fails at once, on either side."""
    return {f.name: getattr(value, f.name) for f in attrs.fields(RuntimeState) if f.name != "uuid"}


@attrs.frozen(kw_only=True)
class PageBatch:
    """Phase 3: some memory pages, and how far the transfer has come.

    ``numbers[i]`` is the page whose contents are ``data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]``;
    ``zeros`` are pages that now read as zeros: a marker each, no contents. Zero pages
    of the first copy are never sent at all (the receiving memory starts as zeros); only a
    page that was data and became zeros in a later pre-copy round needs a marker.
    """

    numbers: tuple[int, ...]
    data: bytes
    sent: int
    """Pages sent so far, this batch included."""
    total: int
    zeros: tuple[int, ...] = ()
    round: int = 0
    """Pre-copy round (0 is the first full copy); the final pages after the suspend carry
    the round they completed."""
    packed: bytes | None = attrs.field(default=None, eq=False, repr=False)
    """The payload already prepared by the sender's transport (``codec.pack_pages``), so
    compression can run beside the link; None: the codec compresses ``data`` itself."""
    compressed: bool = attrs.field(default=True, eq=False)
    """Whether ``packed`` is a zstd frame (False: the pages as they are)."""

    @classmethod
    def of(cls, pages, **kw) -> "PageBatch":
        """From (page, contents) pairs."""
        pages = tuple(pages)
        return cls(numbers=tuple(p for p, _ in pages), data=b"".join(d for _, d in pages), **kw)

    @property
    def pages(self) -> tuple[tuple[int, bytes], ...]:
        size = len(self.data) // max(len(self.numbers), 1)
        return tuple((n, bytes(self.data[i * size:(i + 1) * size])) for i, n in enumerate(self.numbers))


@attrs.frozen(kw_only=True)
class PagesAck:
    """Target → source flow control: ``batches`` page batches are written into memory.

    The source keeps only a window of batches unacknowledged, so a target slower than the
    link never hoards frames in memory, and what the source sends after its suspend never
    waits behind a backlog (that would be downtime). The transports handle it; engines never see it.
    """

    batches: int


@attrs.frozen(kw_only=True)
class TransferDone:
    """End of phase 3 (or of phase 2 for a bound/inactive domain): compare checksums.

    ``checksum`` is the page-set checksum (``core.migration.ledger``) of every non-zero
    page of the suspended domain as the source last sent it; ``pages`` how many there are.
    """

    checksum: str = ""
    pages: int = 0
    data_messages: int = 0
    """How many data messages (runtime image, page batches) were sent before this one: the
    target takes it only once it has them all, whichever connections they came on."""


@attrs.frozen(kw_only=True)
class Ready:
    """The target holds a complete, verified copy and waits for ``Go``."""


@attrs.frozen(kw_only=True)
class Go:
    """The commit point: the target may now run the domain; the source never will again."""

    paused_ms: float = 0.0
    """How long the domain had been suspended on the source when Go left: the target adds
    its own wait until the resume, so both hosts can tell the downtime."""


@attrs.frozen(kw_only=True)
class Resumed:
    """The target runs the domain (or holds it bound/inactive); the source may destroy its copy."""


@attrs.frozen(kw_only=True)
class DataChannel:
    """← Before ``CheckResult``: where the source may open the migration's data connections,
    and the one-time secret that authenticates and encrypts them. It travels only over the
    authenticated control link, and never into a log (the secret is left out of ``repr``)."""

    address: str
    port: int
    streams: int
    cipher: str
    secret: str = attrs.field(repr=False)
    """Hex; a fresh random key for this migration only."""


def is_data(message) -> bool:
    """A data message: it may travel on the migration's own data connections."""
    return isinstance(message, (PageBatch, RuntimeImage))


NATIVE, TUNNELLED = "native", "tunnelled"
"""The two ways a migration's data messages travel (``DataPath.transport``)."""


@attrs.frozen(kw_only=True)
class DataPath:
    """How the data messages of this migration travel: ``native`` on ``streams`` direct
    connections, or ``tunnelled`` on the control link (with ``reason``, when it was not
    asked for)."""

    transport: str
    streams: int = 0
    reason: str = ""


@attrs.frozen(kw_only=True)
class Abort:
    """Undo: the sender has removed (target) or restored (source) its side."""

    reason: str


MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Offer, CheckResult, RuntimeImage, PageBatch, PagesAck, TransferDone, Ready, Go, Resumed, Abort,
                DataChannel, DataPath)
}
