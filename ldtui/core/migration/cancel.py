"""``ldm cancel-operation migration NAME``: what a cancel does on each side and in each state."""

from __future__ import annotations

from ldtui.core.errors import LdmError
from ldtui.core.migration.errorstate_actions import restore_from_error
from ldtui.core.migration.events import Cancel
from ldtui.core.migration.jobs import jobs_of
from ldtui.core.migration.refusals import cancel_on_target
from ldtui.core.model import MigrationRole


def cancel_migration(manager, name: str) -> list:
    """``ldm cancel-operation migration NAME``; returns messages for the peer.

    On a source in ``e``: restore it. On a running source before GO: roll back (the
    returned ``Abort`` must reach the target). After GO, or on the target: refused with the
    reason. Cancelling what already ended is refused as "no migration in progress".
    """
    d = manager.domain(name)
    if d.migration_role is MigrationRole.ERROR:
        restore_from_error(manager, name)
        return []
    if d.migration_role is MigrationRole.TARGET:
        raise cancel_on_target(name, d.migration.peer_host)
    run = jobs_of(manager).runs.get(name)
    if run is None or run.finished:
        raise LdmError("no-migration", f"No migration of LDom {name} is in progress")
    messages = run.feed(Cancel())
    if run.deliver is not None:
        run.deliver(messages)  # the transport of that migration sends the Abort
    return messages
