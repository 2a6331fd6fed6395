"""The phases of a migration as operators see them, and the steps a host journals.

Each engine maps its own states onto :class:`MigrationPhase` (``PHASE_OF`` beside its
transition table); the jobs view, ``ldm list -o status`` and the consoles print the phase's
number and label. :class:`JournalStep` names what a host writes to its journal before it
acts on a step, so a restarted manager knows which side of the commit point it was on.
"""

from __future__ import annotations

import enum


class MigrationPhase(enum.Enum):
    """Where a migration is, numbered as the jobs view shows it (``3 transfer``)."""

    STARTING = 0
    """The target waits for the source's offer."""
    CHECK = 1
    """Both sides check that the target can take the domain."""
    PREPARE = 2
    """The source locks (and, for a warm move, suspends) the domain; the target creates the
    receiving domain."""
    TRANSFER = 3
    """The runtime image and the memory pages travel (pre-copy rounds first, if live)."""
    HANDOFF = 4
    """The target holds a verified copy: Ready, Go, and the resume."""

    @property
    def label(self) -> str:
        """The word the jobs view prints after the number."""
        return self.name.lower()


PHASE_NAMES = {p.value: p.label for p in MigrationPhase}
"""Phase number → label, for records that carry only the number."""


class JournalStep(enum.StrEnum):
    """What a host journals; the values are the strings stored in journals, so journals
    written by earlier versions read the same."""

    CHECK = "check"
    """Source: the offer is on its way; nothing moved yet."""
    PREPARE = "prepare"
    """Source: the domain is locked (and about to be suspended); target: the receiving
    domain is being created."""
    PRECOPY = "precopy"
    """Live: pages travel while the domain still runs on the source."""
    TRANSFER = "transfer"
    """The domain is suspended on the source; its runtime image travels."""
    READY = "ready"
    """Target: the copy is complete and verified; it waits for Go."""
    GO_SENT = "go_sent"
    """Source, the commit point: the image is handed off and Go is on its way; from here
    only the target's word (or the operator's) ends the migration."""
    GO = "go"
    """Target: Go arrived; the domain resumes here, even after a restart."""
    DONE = "done"
    """Target: the domain runs here and the source was told."""
    ERROR = "error"
    """Source: no confirmation after Go; the domain waits in the error state."""
