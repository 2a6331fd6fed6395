"""What the migration engines are fed (events) and what they ask for (actions).

Events come from three places: the peer (``Received``), the operator or the transport
(``Cancel``, ``LinkLost``, ``Timeout``) and the local executor reporting that an action it
was asked for has completed (``Suspended``, ``PagesRead`` …). Actions are instructions for
the executor (journal, suspend, write pages …) or for the transport (``Send``). The engines
never perform either themselves.
"""

from __future__ import annotations

import attrs

from ldtui.core.migration.messages import Offer, PageBatch, RuntimeImage  # noqa: F401

# -- events ------------------------------------------------------------------------------


@attrs.frozen
class Received:
    message: object


@attrs.frozen
class Cancel:
    """The operator cancelled (``cancel-operation migration``, or the ldm client was killed)."""


@attrs.frozen
class LinkLost:
    reason: str = "Lost connection with the peer manager"


@attrs.frozen
class Timeout:
    reason: str = "Timed out waiting for the peer manager"


@attrs.frozen
class LocalFailure:
    """An action the executor performed was refused (CPU DR, hypervisor, binding …)."""

    reason: str


@attrs.frozen
class Suspended:
    generation: int


@attrs.frozen
class StateExported:
    image: RuntimeImage


@attrs.frozen
class RoundStarted:
    """The executor planned a round of pages (``BeginRound``)."""

    pages: int
    """How many pages the round will read at most (extents for the first, the dirty log after)."""
    at: float = 0.0
    """The executor's clock (seconds) when the round began."""


@attrs.frozen(kw_only=True)
class PagesRead:
    """A batch of the round: ``numbers`` with their contents in ``data`` (page after page),
    ``zeros`` that read as zeros now. With ``last`` the round is over."""

    numbers: tuple[int, ...] = ()
    data: bytes = b""
    zeros: tuple[int, ...] = ()
    last: bool = False
    checksum: str = ""
    """With ``last`` after the suspend: the page-set checksum of the whole image (ledger)."""
    nonzero: int = 0
    """With ``last`` after the suspend: how many non-zero pages the image holds."""
    at: float = 0.0
    """The executor's clock when the batch was read."""
    dirty: int = 0
    """Pages in the dirty log when the batch was read (the guest writes on while it runs)."""
    packed: bytes | None = attrs.field(default=None, eq=False, repr=False)
    """``data`` as the transport prepared it for the wire (``codec.pack_pages``), if it did."""
    compressed: bool = attrs.field(default=True, eq=False)

    @classmethod
    def of(cls, pages, **kw) -> "PagesRead":
        pages = tuple(pages)
        return cls(numbers=tuple(p for p, _ in pages), data=b"".join(d for _, d in pages), **kw)


@attrs.frozen
class ChecksDone:
    unmet: tuple[str, ...]
    notes: tuple[str, ...] = ()
    refused: bool = False


@attrs.frozen
class Created:
    """The receiving domain exists on the target (phase 2)."""


@attrs.frozen
class Verified:
    ok: bool
    detail: str = ""


@attrs.frozen
class ResumedLocally:
    """The target hypervisor runs the domain (or holds it bound/inactive)."""


# -- actions -----------------------------------------------------------------------------


@attrs.frozen
class Send:
    message: object


@attrs.frozen
class Journal:
    """Write this phase to the host's journal before doing anything it implies, so a restart
    of either manager mid-migration ends in a defined, recoverable state."""

    phase: str
    doc: dict = attrs.field(factory=dict)


@attrs.frozen
class MarkMigrating:
    """Source: take the migration lock and show flag ``s`` while the move runs; the
    lock refuses every operation that would change the domain until it ends."""


@attrs.frozen
class SuspendDomain:
    """Source, active domain: shrink to one vCPU by CPU DR, then suspend (phase 2)."""


@attrs.frozen
class ExportState:
    pass


@attrs.frozen
class BeginRound:
    """Plan round ``round`` of pages: the first reads every page that may hold data (and
    starts the dirty log afresh); later ones drain the dirty log. Answered by ``RoundStarted``."""

    round: int


@attrs.frozen
class SetThrottle:
    """Auto-converge of a live migration: take ``percent`` of the running guest's time away
    (0 gives it back)."""

    percent: int


@attrs.frozen
class ReadPages:
    """Read the next batch of the round's pages; the executor answers ``PagesRead``."""


@attrs.frozen
class ReportProgress:
    percent: int


@attrs.frozen
class HandOff:
    """Source: the suspended image is given away; this host will never resume it by itself."""


@attrs.frozen
class DestroySource:
    pass


@attrs.frozen
class RollBack:
    """Source: restore the domain as it was before the migration and release it."""

    reclaim: bool = False
    """The image was handed off and the target gave it back: allow it to resume again."""


@attrs.frozen
class EnterErrorState:
    reason: str


@attrs.frozen
class RunChecks:
    offer: Offer


@attrs.frozen
class CreateReceiving:
    offer: Offer


@attrs.frozen
class ImportState:
    image: RuntimeImage


@attrs.frozen
class WritePages:
    batch: "PageBatch"


@attrs.frozen
class VerifyDigest:
    checksum: str
    pages: int


@attrs.frozen
class ResumeReceived:
    pass


@attrs.frozen
class RemoveReceiving:
    pass


@attrs.frozen
class Finished:
    """The migration is over on this side; ``outcome`` says how."""

    outcome: "Outcome"


@attrs.frozen(kw_only=True)
class Outcome:
    status: str
    """``completed``, ``passed`` (dry run), ``failed``, ``cancelled``, ``error``, ``refused``."""
    lines: tuple[str, ...] = ()
    """The reason lines an operator sees (every unmet requirement of a check)."""
    notes: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.status in ("completed", "passed")
