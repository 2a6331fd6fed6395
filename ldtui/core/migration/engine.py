"""What both migration engines share: the event loop of a state machine without I/O."""

from __future__ import annotations

import enum

from ldtui.core.migration.events import Received


class ProtocolError(Exception):
    """An event that the current state does not allow (a confused or hostile peer)."""


class Engine:
    """Feed it events with :meth:`handle`; it returns the actions to perform, in order.

    Subclasses declare ``TRANSITIONS``: for each state, the event kinds it accepts (a
    message class for ``Received``, an event class otherwise). Anything else is a
    :class:`ProtocolError`, which the subclass turns into its failure path — so every
    (state, event) pair either moves to a valid state or ends the migration cleanly.
    """

    TRANSITIONS: dict[enum.Enum, frozenset[type]] = {}
    state: enum.Enum

    def handle(self, event) -> list:
        kind = type(event.message) if isinstance(event, Received) else type(event)
        if kind not in self.TRANSITIONS.get(self.state, frozenset()):
            return self._protocol_error(ProtocolError(
                f"unexpected {kind.__name__} while {self.state.value}"))
        name = "_on_" + kind.__name__
        return getattr(self, name)(event.message if isinstance(event, Received) else event)

    def _protocol_error(self, exc: ProtocolError) -> list:  # pragma: no cover - overridden
        raise exc

    @property
    def finished(self) -> bool:
        return not self.TRANSITIONS.get(self.state)
