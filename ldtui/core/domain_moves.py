"""Commands for the migration engine (SPEC G-3, G-10, G-13).

The engine calls them while it holds the domain's migration lock, so they skip the lock
checks that refuse operators meanwhile. Each one is still one store transaction. (The
engine's own phase steps live in ``core.migration.host_ops``.)
"""

from __future__ import annotations

from ldtui.core.errors import LdmError
from ldtui.core.model import Domain, DomainState, MigrationInfo
from ldtui.core.mutation import mutation
from ldtui.hv.hypervisor import HvError, RunState


class DomainMovesMixin:
    """Record a migration on a domain, suspend and resume it, check a domain against this
    host, drop a domain."""

    @mutation
    def save_domain(self, d: Domain) -> None:
        """Store ``d`` as it is (progress, flags, state set by the engine)."""
        self._save(d)

    @mutation
    def set_migration(self, name: str, info: MigrationInfo | None, *, state: DomainState | None = None) -> None:
        d = self._get(name)
        d.migration = info
        if state is not None:
            d.state = state
        self._save(d)

    @mutation
    def suspend_for_migration(self, name: str, info: MigrationInfo) -> int:
        """Freeze an active domain as a migration source (state ``suspended``, flag ``s``);
        returns the generation of the frozen image (-1 for a domain that was not running)."""
        d = self._get(name)
        d.migration = info
        if d.state is DomainState.ACTIVE:
            d.state = DomainState.SUSPENDED
        self._save(d)
        return self.hv.suspend(d.uuid) if d.state is DomainState.SUSPENDED else -1

    @mutation
    def resume_after_migration(self, name: str, generation: int) -> None:
        """The source runs on (a migration cancelled before the target could resume)."""
        d = self._get(name)
        d.migration = None
        if d.state is DomainState.SUSPENDED:
            d.state = DomainState.ACTIVE
        self._save(d)
        if d.state is DomainState.ACTIVE and self.hv.get(d.uuid).run_state is RunState.SUSPENDED:
            try:
                self.hv.resume(d.uuid, generation)
            except HvError as e:
                raise LdmError("resume-refused", str(e)) from None

    def receive_problems(self, d: Domain, *, blocks=None, whole_cores: bool = False) -> list[LdmError]:
        """Every reason this host could not bind a domain like ``d`` (dry run, G-10)."""
        with self._lock:
            return self._plan_binding(d, blocks=blocks, whole_cores=whole_cores)[1]

    @mutation
    def destroy_domain(self, name: str) -> None:
        """The domain leaves this host: runtime gone, resources free, configuration removed."""
        d = self._get(name)
        self.store.delete_domain(d.name)
        self.hv.destroy(d.uuid)
