"""Rehearsal controls over an embedded lab, in the operator's words.

The lab relays each ordered pair of managers through a link that can be cut; cutting "the
link between A and B" cuts both directions. The handoff faults need the lab to know when a
source sends GO, so they are offered only when the lab says it can (``can_cut_at_handoff``).
None of this exists when the console is connected to real hosts.
"""

from __future__ import annotations

from typing import Any, Callable


class LabRehearsal:
    """Adapts ``net.lab.EmbeddedLab`` to the console's ``Rehearsal`` controls."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab

    @property
    def can_cut_at_handoff(self) -> bool:
        return bool(getattr(self.lab, "can_fault_handoff", False))

    @property
    def slowed(self) -> bool:
        return bool(getattr(self.lab, "slowed", False))

    def listen(self, callback: Callable[[str], None]) -> None:
        """``callback(line)`` (on the lab's thread) whenever an armed fault fires."""
        self.lab.fault_listeners.append(callback)

    def cut_link(self, a: str, b: str) -> None:
        self.lab.cut_link(a, b)

    def cut_link_at_handoff(self, a: str, b: str) -> None:
        if not self.can_cut_at_handoff:
            raise LookupError("this lab cannot cut a link at a handoff")
        self.lab.cut_link_at_handoff(a, b)

    def lose_confirmation_at_handoff(self, a: str, b: str) -> None:
        if not self.can_cut_at_handoff:
            raise LookupError("this lab cannot break a handoff")
        self.lab.lose_confirmation_at_handoff(a, b)

    def slow_migrations(self) -> None:
        self.lab.slow_migrations()

    def full_speed_migrations(self) -> None:
        self.lab.full_speed_migrations()

    def stop_host(self, name: str) -> None:
        self.lab.stop_host(name)

    def start_host(self, name: str) -> None:
        self.lab.start_host(name)
