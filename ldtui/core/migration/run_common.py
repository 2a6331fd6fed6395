"""What the two sides' executors share: the action loop, the journal, the domain record."""

from __future__ import annotations

import sqlite3
from collections import deque

from ldtui.core.errors import LdmError
from ldtui.core.migration import host_ops
from ldtui.core.migration.events import Finished, Journal, LocalFailure, Send
from ldtui.core.migration.jobs import jobs_of
from ldtui.hv.hypervisor import HvError

JOURNAL_SOURCE = "source"
JOURNAL_TARGET = "target"

_DOING = {
    "CreateReceiving": "creating LDom {name}", "ImportState": "importing the runtime state of LDom {name}",
    "WritePages": "writing the memory of LDom {name}", "VerifyDigest": "verifying the memory of LDom {name}",
    "ResumeReceived": "resuming LDom {name}", "SuspendDomain": "suspending LDom {name}",
    "ExportState": "exporting the runtime state of LDom {name}", "MarkMigrating": "locking LDom {name}",
}
"""What each action does, in the words of the line a failure of the system gives."""

JOB_STATE = {"completed": "completed", "passed": "completed", "failed": "failed", "refused": "failed",
             "cancelled": "cancelled", "error": "error"}
"""The jobs view's state of each outcome status."""


class Run:
    """Applies one engine's actions to a Manager, synchronously, and collects what to send.

    ``feed(event)`` hands an event to the engine and performs every action it asks for;
    an action that completes with an event (``Suspended``, ``Created`` …) is fed back at
    once, so one call runs until the engine waits for the peer. Reading the next batch of
    pages is left pending instead (see :meth:`pump`), so the transport can pace the
    transfer and a cancel can slip in between batches.
    """

    role = ""
    _FORWARD: tuple[type, ...] = ()
    """Actions whose refusal is a normal failure of the migration (fed back as LocalFailure)."""

    def __init__(self, manager, engine, mig_id: str) -> None:
        self.manager = manager
        self.engine = engine
        self.mig_id = mig_id
        self.jobs = jobs_of(manager)
        self.outcome = None
        self.sent_bytes = 0
        self.name = ""
        """The domain on this host (on the target: the name it receives)."""
        self._locked = False
        self._journal_name = ""
        self.deliver = None
        """Set by the transport: sends messages produced outside its own calls (a cancel)."""

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def feed(self, event) -> list:
        with self.manager.locked():
            return self._run(self.engine.handle(event))

    def _run(self, actions) -> list:
        out: list = []
        queue = deque(actions)
        while queue:
            action = queue.popleft()
            if isinstance(action, Send):
                out.append(self._outgoing(action.message))
                continue
            follow = self._perform(action)
            if follow is not None:
                if isinstance(action, Journal):
                    queue.clear()  # a phase not journaled must not be acted on
                queue.extendleft(reversed(self.engine.handle(follow)))
        return out

    def _outgoing(self, message):
        """A message on its way to the peer; a side may add what only it can measure."""
        return message

    def _perform(self, action):
        if isinstance(action, Journal):
            try:
                self.journal(action.phase, action.doc)
            except sqlite3.Error as e:
                return LocalFailure(f"{self.manager.hostname}: the migration journal could not be written ({e})")
            self.jobs.update(self.mig_id, phase=self.engine.phase)
            return None
        if isinstance(action, Finished):
            self.outcome = action.outcome
            self._finished(action.outcome)
            return None
        handler = getattr(self, "_do_" + type(action).__name__)
        if isinstance(action, self._FORWARD):
            try:
                return handler(action)
            except (LdmError, HvError, OSError, ValueError, sqlite3.Error) as e:
                return LocalFailure(self.failure_reason(action, e))
        return handler(action)

    def failure_reason(self, action, e: Exception) -> str:
        """One line for an action that failed: a refusal as it was worded; a failure of the
        system (a full disk, a database that cannot be written) naming this host, what was
        being done and the cause."""
        if isinstance(e, LdmError):
            return e.message
        doing = _DOING.get(type(action).__name__, "")
        if isinstance(e, sqlite3.Error):
            cause = f"the configuration database could not be written ({e})"
        elif isinstance(e, OSError) and e.strerror:
            cause = e.strerror
        else:
            return str(e)
        what = f" while {doing.format(name=self.name)}" if doing else ""
        return f"{self.manager.hostname}: {cause}{what}"

    # -- journal: committed before the phase's first act ---------------------------------
    def journal(self, phase: str, doc: dict) -> None:
        self.manager.store.journal_write(self.mig_id, self.role, self._journal_name, phase,
                                         {**doc, **self.journal_extra()}, self.manager.clock())

    def journal_extra(self) -> dict:
        return {}

    def journal_delete(self) -> None:
        self.manager.store.journal_delete(self.mig_id)

    # -- the domain's lock and the end ---------------------------------------------------
    def _hold(self) -> None:
        """Hold the domain for this migration (once; nothing else changes it meanwhile)."""
        if not self._locked:
            self.manager.begin_migration(self.name, self.mig_id)
            self._locked = True

    def _unlock(self) -> None:
        if self._locked:
            self.manager.end_migration(self.name)
            self._locked = False

    def _do_ReportProgress(self, a):
        host_ops.set_progress(self.manager, self.name, self.uuid, a.percent)
        self.jobs.update(self.mig_id, progress=a.percent)

    def _finished(self, outcome) -> None:
        """This side is done: the journal entry goes (unless :meth:`keeps_journal`), the
        domain is released, and the jobs view records the end and the downtime."""
        if not self.keeps_journal(outcome):
            self.journal_delete()
        self._unlock()
        if self.jobs.runs.get(self.name) is self:
            del self.jobs.runs[self.name]
        if self.mig_id:
            self.jobs.finish(self.mig_id, JOB_STATE[outcome.status], "; ".join(outcome.lines), self.downtime_ms())

    def keeps_journal(self, outcome) -> bool:
        """Whether the journal entry outlives the end (a source left in the error state)."""
        return False

    def downtime_ms(self) -> float:  # pragma: no cover - both sides override
        raise NotImplementedError
