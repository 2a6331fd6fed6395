"""What the migration engines are fed (events) and what they ask for (actions).

Events come from three places: the peer (``Received``), the operator or the transport
(``Cancel``, ``LinkLost``, ``Timeout``) and the local executor reporting that an action it
was asked for has completed (``Suspended``, ``PagesRead`` …). Actions are instructions for
the executor (journal, suspend, write pages …) or for the transport (``Send``). The engines
never perform either themselves.
"""

from __future__ import annotations

import attrs

from ldtui.core.migration.messages import Offer, RuntimeImage

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
class PagesRead:
    pages: tuple[tuple[int, bytes], ...]
    last: bool
    digest: str = ""
    """With ``last``: the digest of every page read (GuestMemory.digest of the image)."""


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
    """Write this phase to the host's journal before doing anything it implies (B-3)."""

    phase: str
    doc: dict = attrs.field(factory=dict)


@attrs.frozen
class MarkMigrating:
    """Source: take the migration lock and show flag ``s`` (G-11, M-7)."""


@attrs.frozen
class SuspendDomain:
    """Source, active domain: shrink to one vCPU by CPU DR, then suspend (phase 2)."""


@attrs.frozen
class ExportState:
    pass


@attrs.frozen
class ReadPages:
    """Read the next batch of non-zero pages; the executor answers ``PagesRead``."""


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
    pages: tuple[tuple[int, bytes], ...]


@attrs.frozen
class VerifyDigest:
    digest: str
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
