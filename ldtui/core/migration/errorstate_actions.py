"""The operator's two ways out of a source domain's migration error state ``e``.

Which one is right depends on whether the target runs the domain (``errorstate`` assesses
that); both settle the journal entry and the jobs view the same way.
"""

from __future__ import annotations

from ldtui.core.errors import LdmError
from ldtui.core.migration import host_ops
from ldtui.core.migration.jobs import jobs_of
from ldtui.core.migration.restart import SOURCE_AFTER_GO
from ldtui.core.migration.run_common import JOURNAL_SOURCE
from ldtui.core.model import MigrationRole


def error_entry(manager, name: str) -> dict | None:
    """The journal entry of ``name``'s migration that left it in ``e``, if there is one."""
    return next((e for e in manager.store.journal_entries()
                 if e["role"] == JOURNAL_SOURCE and e["domain"] == name and e["phase"] in SOURCE_AFTER_GO), None)


def _in_error(manager, name: str):
    """The domain ``name``, refused unless it is in ``e``, and its journal entry (or None)."""
    d = manager.domain(name)
    if d.migration_role is not MigrationRole.ERROR:
        raise LdmError("no-migration-error", f"LDom {name} is not in the migration error state")
    return d, error_entry(manager, name)


def restore_from_error(manager, name: str) -> None:
    """Clear ``e`` and run the source domain again as it was.

    Only correct once the operator has established that the target does not run it.
    """
    with manager.locked():
        d, entry = _in_error(manager, name)
        doc = entry["doc"] if entry else {}
        mig_id = d.migration.id if d.migration else ""
        host_ops.restore_source(manager, name, d.uuid, strands=doc.get("strands", ()),
                                reserved=doc.get("reserved", ()),
                                was_active=doc.get("was_state", "active") == "active", reclaim=True)
        if entry:
            manager.store.journal_delete(entry["id"])
        jobs_of(manager).settle(mig_id or (entry or {}).get("id", ""), "cancelled",
                                "Restored on this host after the migration error (the target never ran it)")


def destroy_after_error(manager, name: str) -> None:
    """The target runs the domain: remove the suspended source copy in ``e``."""
    with manager.locked():
        d, entry = _in_error(manager, name)
        mig_id = d.migration.id if d.migration else (entry or {}).get("id", "")
        host_ops.destroy_source(manager, name, d.uuid)
        if entry:
            manager.store.journal_delete(entry["id"])
        jobs_of(manager).settle(mig_id, "completed",
                                "Completed after the migration error: the target runs it, the copy here was destroyed")
