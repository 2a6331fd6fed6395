"""The changes a migration makes to one host, each one store transaction.

Shared by the live executors and by recovery after a restart, so that "roll the
source back" or "remove the receiving domain" means the same whichever path gets there.
Every function is idempotent: running it twice, or after a crash half-way, is harmless.
"""

from __future__ import annotations

import attrs

from ldtui.core.model import Domain, DomainState, MigrationInfo, MigrationRole
from ldtui.hv.hypervisor import RunState


def find(manager, name: str, uuid: str) -> Domain | None:
    """The domain ``name`` if it is still the one with ``uuid`` (names can be reused)."""
    d = next((x for x in manager.store.domains() if x.name == name), None)
    return d if d is not None and d.uuid == uuid else None


def restore_source(manager, name: str, uuid: str, *, strands, reserved, was_active: bool,
                   reclaim: bool = False) -> bool:
    """Put the source domain back as it was: all its vCPUs, running again if it ran.

    ``reclaim`` allows resuming an image that was handed off — only when the target
    gave it back or the operator established it never ran there. Returns whether
    the domain was found.
    """
    with manager.locked(), manager.store.transaction():
        d = find(manager, name, uuid)
        if d is None:
            return False
        if d.bindings is not None and strands:
            d.bindings = attrs.evolve(d.bindings, strands=tuple(strands), reserved_strands=tuple(reserved))
        if manager.hv.has(uuid):
            rt = manager.hv.get(uuid)
            manager.hv.set_throttle(uuid, 0)  # a live migration's auto-converge ends with it
            if strands and tuple(rt.strands) != tuple(strands):
                # Giving CPUs back never needs the guest's consent, so this cannot be refused.
                manager.hv.update(uuid, strands=tuple(strands))
            if was_active and rt.run_state is RunState.SUSPENDED:
                if reclaim:
                    manager.hv.reclaim(uuid)
                manager.hv.resume(uuid, rt.generation)
            if was_active and manager.hv.get(uuid).run_state is RunState.RUNNING:
                d.state = DomainState.ACTIVE
        d.migration = None
        manager.store.save_domain(d)
    return True


def destroy_source(manager, name: str, uuid: str) -> None:
    """The target runs the domain now: this copy and its bindings go (phase 4)."""
    with manager.locked(), manager.store.transaction():
        if find(manager, name, uuid) is not None:
            manager.store.delete_domain(name)
        manager.hv.destroy(uuid)


def enter_error(manager, name: str, uuid: str, info: MigrationInfo) -> None:
    """Flag ``e``: suspended, data intact, waiting for the operator."""
    with manager.locked(), manager.store.transaction():
        d = find(manager, name, uuid)
        if d is None:
            return
        d.migration = attrs.evolve(info, role=MigrationRole.ERROR, error=True)
        if manager.hv.has(uuid) and manager.hv.get(uuid).run_state is RunState.SUSPENDED:
            d.state = DomainState.SUSPENDED
        manager.store.save_domain(d)


def remove_receiving(manager, name: str, uuid: str) -> None:
    """Undo phase 2 on the target: the receiving domain and its runtime disappear."""
    with manager.locked(), manager.store.transaction():
        d = find(manager, name, uuid)
        if d is not None:
            if d.migration_role is not MigrationRole.TARGET:
                return  # the migration completed: it is an ordinary domain of this host now
            # The runtime first: before Go the received copy is worth nothing (a restart
            # removes a receiving domain without one), and a disk filled by its memory file
            # has room again for the database to record the removal.
            manager.hv.destroy(uuid)
            manager.store.delete_domain(name)
        elif not any(x.uuid == uuid for x in manager.store.domains()):
            manager.hv.destroy(uuid)  # a runtime created just before a crash, never recorded


def complete_receiving(manager, name: str, uuid: str, *, was_active: bool) -> bool:
    """After ``Go``: run the received image (once — the generation guard sees to that) and
    make the domain an ordinary one. Returns whether the domain was found."""
    with manager.locked(), manager.store.transaction():
        d = find(manager, name, uuid)
        if d is None:
            return False
        if was_active and manager.hv.has(uuid):
            rt = manager.hv.get(uuid)
            if rt.run_state is RunState.SUSPENDED:
                manager.hv.resume(uuid, rt.generation)
            d.state = DomainState.ACTIVE
        d.migration = None
        manager.store.save_domain(d)
    return True


def set_progress(manager, name: str, uuid: str, percent: int) -> None:
    """Persist the percentage ``ldm list -o status`` prints; it never goes back."""
    with manager.locked(), manager.store.transaction():
        d = find(manager, name, uuid)
        if d is not None and d.migration is not None and percent > d.migration.progress:
            d.migration = attrs.evolve(d.migration, progress=percent)
            manager.store.save_domain(d)
