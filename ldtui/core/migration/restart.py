"""What a manager does at its start with the migrations its journal says were interrupted.

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

from ldtui.core.migration import host_ops
from ldtui.core.migration.jobs import jobs_of
from ldtui.core.migration.phase import JournalStep
from ldtui.core.migration.run_common import JOURNAL_SOURCE, JOURNAL_TARGET
from ldtui.core.migration.status import progress_from_info
from ldtui.core.model import MigrationInfo, MigrationRole

_J = JournalStep
SOURCE_BEFORE_GO = (_J.CHECK, _J.PREPARE, _J.PRECOPY, _J.TRANSFER)
SOURCE_AFTER_GO = (_J.GO_SENT, _J.ERROR)
TARGET_BEFORE_GO = (_J.PREPARE, _J.PRECOPY, _J.TRANSFER, _J.READY)
TARGET_AFTER_GO = (_J.GO, _J.DONE)


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
        if phase != JournalStep.ERROR:
            store.journal_write(mig_id, JOURNAL_SOURCE, name, JournalStep.ERROR, dict(doc, reason=info.reason),
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
