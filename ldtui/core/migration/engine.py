"""What both migration engines share: a state machine without I/O, driven by its table.

Each engine declares ``TRANSITIONS[(state, event kind)]``: the next state, or a
:class:`Guard` where the event's content decides among declared outcomes. :meth:`Engine.handle`
looks the pair up, lets the handler ``_on_<Kind>`` say what to do (it returns actions and
never assigns the state), then moves to the state the table gave. A pair missing from the
table is a :class:`ProtocolError`; ``UNEXPECTED[state]`` says where that leads (the clean
failure path of that state), and a finished engine ignores it. docs/ENGINE.md shows both
tables.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

import attrs

from ldtui.core.migration.events import Finished, Outcome, Received, ReportProgress
from ldtui.core.migration.phase import MigrationPhase


class ProtocolError(Exception):
    """An event that the current state does not allow (a confused or hostile peer)."""


@attrs.frozen
class Guard:
    """A transition decided by the event: ``decide(engine, event)`` returns one of
    ``outcomes`` (next state → when, in words), or raises :class:`ProtocolError` when the
    event is wrong for this state after all (then ``UNEXPECTED`` applies)."""

    decide: Callable[[object, object], enum.Enum]
    outcomes: Mapping[enum.Enum, str] = attrs.field(factory=dict)
    refused_when: str = ""
    """When ``decide`` refuses the event as a protocol error, in words (for the docs)."""
    error: str = ""
    """What the protocol error says, for a row that always refuses (:func:`refuse`)."""


def refuse(text: str) -> Guard:
    """A row whose event is always a protocol error here, with its own wording."""

    def decide(engine, event):
        raise ProtocolError(text)

    return Guard(decide, {}, error=text)


class Engine:
    """Feed it events with :meth:`handle`; it returns the actions to perform, in order.

    Every (state, event) pair either moves to a state of the engine's enum that its table
    declares, or takes the state's failure path: the migration ends cleanly (or, past
    the point of no return, goes on as declared). A cancel the engine must refuse raises
    :class:`~ldtui.core.errors.LdmError` and changes nothing.
    """

    TRANSITIONS: Mapping[tuple[enum.Enum, type], enum.Enum | Guard] = {}
    UNEXPECTED: Mapping[enum.Enum, enum.Enum] = {}
    """State → where an event the table does not allow leads; absent for finished states."""
    PHASE_OF: Mapping[enum.Enum, MigrationPhase] = {}
    """State → phase; a finished state keeps the phase the migration ended in."""
    FINAL: frozenset = frozenset()
    SAID: Mapping[enum.Enum, str] = {}
    """How a protocol error names a state, where that differs from its value."""

    state: enum.Enum
    outcome: Outcome | None
    progress: int

    def _begin(self, state: enum.Enum) -> None:
        self.state = state
        self.migration_phase = self.PHASE_OF[state]
        self.outcome = None
        self.progress = 0

    def handle(self, event) -> list:
        kind = type(event.message) if isinstance(event, Received) else type(event)
        payload = event.message if isinstance(event, Received) else event
        rule = self.TRANSITIONS.get((self.state, kind))
        if rule is None:
            return self._unexpected(ProtocolError(
                f"unexpected {kind.__name__} while {self.SAID.get(self.state, self.state.value)}"))
        try:
            to = rule.decide(self, payload) if isinstance(rule, Guard) else rule
        except ProtocolError as exc:
            return self._unexpected(exc)
        actions = getattr(self, "_on_" + kind.__name__)(payload, to)
        self._enter(to)
        return actions

    def _unexpected(self, exc: ProtocolError) -> list:
        to = self.UNEXPECTED.get(self.state)
        if to is None:
            return []  # late messages and repeated events after the end change nothing
        actions = self._on_protocol_error(exc, to)
        self._enter(to)
        return actions

    def _on_protocol_error(self, exc: ProtocolError, to) -> list:  # pragma: no cover - overridden
        raise exc

    def _enter(self, state: enum.Enum) -> None:
        self.state = state
        self.migration_phase = self.PHASE_OF.get(state, self.migration_phase)

    @property
    def phase(self) -> int:
        """The phase's number, as journals and the jobs view carry it."""
        return self.migration_phase.value

    @property
    def finished(self) -> bool:
        return self.state in self.FINAL

    # -- what both sides do the same way -------------------------------------------------------
    def _finish(self, to: enum.Enum, lines, *, notes=()) -> list:
        """End in the final state ``to``: its value is the outcome's status."""
        self.outcome = Outcome(status=to.value, lines=tuple(lines), notes=tuple(notes))
        return [Finished(self.outcome)]

    def _progress(self, percent: int) -> list:
        """Report ``percent`` if it moves the headline forward (it never goes back)."""
        percent = min(max(percent, self.progress), 100)
        if percent == self.progress:
            return []
        self.progress = percent
        return [ReportProgress(percent)]
