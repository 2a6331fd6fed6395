"""After a restart, and for the operator: ending migrations in a defined state (B-3, G-12, G-13).

``recover(manager)`` is called by ``ldmd`` when it starts, before it serves anyone. For each
journal entry it applies the rule of its side and phase:

==========  ===========================  =================================================
side        journaled phase              on restart
==========  ===========================  =================================================
source      check                        nothing moved: forget it
source      prepare, precopy, transfer   before GO: roll back (resume if it ran, unlock)
source      go_sent, error               after GO, no word: error state ``e``, journal kept
target      prepare, precopy, transfer,  before GO: remove the receiving domain
            ready
target      go, done                     GO arrived: resume (once: generation guard), keep
==========  ===========================  =================================================
"""

from __future__ import annotations

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.migration import host_ops
from ldtui.core.migration.events import Cancel
from ldtui.core.migration.jobs import jobs_of
from ldtui.core.migration.refusals import cancel_on_target
from ldtui.core.migration.run_common import JOURNAL_SOURCE, JOURNAL_TARGET
from ldtui.core.migration.status import progress_from_info
from ldtui.core.model import MigrationInfo, MigrationRole

SOURCE_BEFORE_GO = ("check", "prepare", "precopy", "transfer")
SOURCE_AFTER_GO = ("go_sent", "error")
TARGET_BEFORE_GO = ("prepare", "precopy", "transfer", "ready")
TARGET_AFTER_GO = ("go", "done")


def recover(manager) -> list[str]:
    """Settle every journaled migration; returns one line per migration for the log."""
    report: list[str] = []
    jobs_of(manager)  # this host's migration history, for the first snapshot already
    for entry in manager.store.journal_entries():
        if manager.migrating().get(entry["domain"]) == entry["id"]:
            continue  # still running in this process (recover called twice): leave it be
        report.append(_recover_one(manager, entry))
    return report


def _recover_one(manager, entry: dict) -> str:
    mig_id, name, phase, doc = entry["id"], entry["domain"], entry["phase"], entry["doc"]
    uuid = doc.get("uuid", "")
    was_active = doc.get("was_state") == "active"
    store = manager.store
    if entry["role"] == JOURNAL_SOURCE:
        if phase in SOURCE_BEFORE_GO:
            host_ops.restore_source(manager, name, uuid, strands=doc.get("strands", ()),
                                    reserved=doc.get("reserved", ()), was_active=was_active)
            store.journal_delete(mig_id)
            return f"migration {mig_id}: LDom {name} restored on this host (ended before the handoff)"
        if host_ops.find(manager, name, uuid) is None:
            store.journal_delete(mig_id)  # destroyed after the target's confirmation
            return f"migration {mig_id}: LDom {name} had completed its move"
        if manager.hv.has(uuid):
            manager.hv.hand_off(uuid)  # it never resumes here by itself, even if GO was not sent
        info = _error_info(manager, name, entry)
        host_ops.enter_error(manager, name, uuid, info)
        if phase != "error":
            store.journal_write(mig_id, JOURNAL_SOURCE, name, "error", dict(doc, reason=info.reason),
                                manager.clock())
        jobs_of(manager).settle(mig_id, "error", info.reason, otherwise=progress_from_info(name, info))
        return f"migration {mig_id}: LDom {name} is in the error state; check {info.peer_host}"
    if entry["role"] == JOURNAL_TARGET:
        if phase in TARGET_BEFORE_GO:
            host_ops.remove_receiving(manager, name, uuid)
            store.journal_delete(mig_id)
            return f"migration {mig_id}: receiving LDom {name} removed (ended before the handoff)"
        if phase in TARGET_AFTER_GO:
            host_ops.complete_receiving(manager, name, uuid, was_active=was_active)
            store.journal_delete(mig_id)
            return f"migration {mig_id}: LDom {name} received and running"
    store.journal_delete(mig_id)
    return f"migration {mig_id}: unknown journal entry {entry['role']}/{phase} dropped"


def _error_info(manager, name: str, entry: dict) -> MigrationInfo:
    """What the source knows of a migration that restarted after GO: everything it
    recorded before (peer, progress, bytes), now in the error state. Kept as it was when
    the domain already was in ``e`` (its time and reason stay the first ones)."""
    doc = entry["doc"]
    d = next((x for x in manager.store.domains() if x.name == name), None)
    known = d.migration if d is not None and d.migration is not None and d.migration.id == entry["id"] else None
    if known is None:
        known = MigrationInfo(id=entry["id"], role=MigrationRole.SOURCE, peer_host=doc.get("target_host", ""),
                              peer_domain=doc.get("target_name", name), progress=100)
    if known.role is MigrationRole.ERROR and known.since:
        return known
    reason = doc.get("reason") or "The manager restarted after all state was sent, before the target confirmed"
    return attrs.evolve(known, role=MigrationRole.ERROR, error=True, all_sent=True,
                        peer_host=known.peer_host or doc.get("target_host", ""),
                        peer_domain=known.peer_domain or doc.get("target_name", name),
                        since=known.since or entry["updated"], reason=known.reason or reason)


def error_entry(manager, name: str) -> dict | None:
    return next((e for e in manager.store.journal_entries()
                 if e["role"] == JOURNAL_SOURCE and e["domain"] == name and e["phase"] in SOURCE_AFTER_GO), None)


def restore_from_error(manager, name: str) -> None:
    """Clear ``e`` and run the source domain again as it was (G-13).

    Only correct once the operator has established that the target does not run it.
    """
    with manager.locked():
        d = manager.domain(name)
        if d.migration_role is not MigrationRole.ERROR:
            raise LdmError("no-migration-error", f"LDom {name} is not in the migration error state")
        entry = error_entry(manager, name)
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
        d = manager.domain(name)
        if d.migration_role is not MigrationRole.ERROR:
            raise LdmError("no-migration-error", f"LDom {name} is not in the migration error state")
        entry = error_entry(manager, name)
        mig_id = d.migration.id if d.migration else (entry or {}).get("id", "")
        host_ops.destroy_source(manager, name, d.uuid)
        if entry:
            manager.store.journal_delete(entry["id"])
        jobs_of(manager).settle(mig_id, "completed",
                                "Completed after the migration error: the target runs it, the copy here was destroyed")


def cancel_migration(manager, name: str) -> list:
    """``ldm cancel-operation migration NAME`` (G-12, G-13); returns messages for the peer.

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
