"""Rehearsal controls over an embedded lab, in the operator's words (SPEC T-1, G-12, G-13).

The lab relays each ordered pair of managers through a link that can be cut; cutting "the
link between A and B" cuts both directions. "Cut at next handoff" needs the lab to know
when a handoff starts, so it is offered only when the lab itself provides it.
"""

from __future__ import annotations

from typing import Any


class LabRehearsal:
    """Adapts ``net.lab.EmbeddedLab`` to the console's ``Rehearsal`` controls."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab

    @property
    def can_cut_at_handoff(self) -> bool:
        return callable(getattr(self.lab, "cut_link_at_handoff", None))

    def _links(self, a: str, b: str) -> list[Any]:
        links = []
        for pair in ((a, b), (b, a)):
            try:
                links.append(self.lab.link(*pair))
            except KeyError:
                continue
        if not links:
            raise LookupError(f"the lab has no link between {a} and {b}")
        return links

    def cut_link(self, a: str, b: str) -> None:
        for link in self._links(a, b):
            link.cut()

    def cut_link_at_handoff(self, a: str, b: str) -> None:
        if not self.can_cut_at_handoff:
            raise LookupError("this lab cannot cut a link at a handoff")
        self.lab.cut_link_at_handoff(a, b)

    def stop_host(self, name: str) -> None:
        self.lab.stop_host(name)

    def start_host(self, name: str) -> None:
        self.lab.start_host(name)
