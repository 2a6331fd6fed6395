"""The Logical Domains Manager of one host.

``Manager`` keeps the host's configuration in SQLite and the runtimes in the hypervisor
model. Every command is one transaction: it either changes what it says or nothing at all,
and returns the notice lines an operator should read. The commands live in mixins by idea
(lifecycle, resources, virtual I/O); this module holds what they share: queries, checks,
locks, users and the host's view for listings and the console. A migration's own steps on
this host live in ``core.migration.host_ops``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from ldtui.core import binding
from ldtui.core.auth import hash_password
from ldtui.core.errors import AuthError, LdmError
from ldtui.core.lifecycle import LifecycleMixin
from ldtui.core.migration.refusals import being_migrated
from ldtui.core.model import READ, WRITE, Domain, DomainState, HostSettings, MigrationRole, User
from ldtui.core.mutation import mutation
from ldtui.core.resources import ResourcesMixin
from ldtui.core.snapshot import DomainRow, HostSnapshot, MigrationProgress
from ldtui.core.store import SERVICE_KINDS, Store
from ldtui.core.vio import ServicesMixin
from ldtui.hv.hypervisor import Hypervisor, RunState
from ldtui.hv.machine import MachineSpec, MemoryRange

_VCPU_WRITE_CAPACITY = 16 << 20
"""Bytes a second one simulated vCPU writes at 100 % load; sets UTIL from the write rate."""
_IDLE_UTIL = 0.3


def _recorded_migration(d: Domain, jobs: tuple[MigrationProgress, ...]) -> MigrationProgress | None:
    """A migration the domain's own record names while no migration of it runs here: a
    source left in the error state, whoever started it and however often this manager
    restarted since."""
    if d.migration is None or d.migration.role is MigrationRole.NONE:
        return None
    from ldtui.core.migration.status import error_progress, progress_from_info

    if d.migration.role is MigrationRole.ERROR or d.migration.error:
        recorded = next((j for j in reversed(jobs) if j.id == d.migration.id), None)
        return error_progress(d.name, d.migration, recorded)
    return progress_from_info(d.name, d.migration)


class Manager(LifecycleMixin, ResourcesMixin, ServicesMixin):
    """One host's Logical Domains Manager.

    Guarantees: configuration survives any crash (the store is committed per command and
    reconciled with the hypervisor at every start); a refused command changes nothing;
    while a domain is being migrated, nothing changes its machine description.
    """

    def __init__(self, machine: MachineSpec, state_dir: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.machine = machine
        self.hostname = machine.hostname
        self.state_dir = Path(state_dir)
        self.clock = clock
        self._lock = threading.RLock()
        self._migrating: dict[str, str] = {}
        self.job_provider: Callable[[], tuple[MigrationProgress, ...]] = lambda: ()
        """Set by the migration engine: running and recent migrations for snapshots."""
        self.store = Store(self.state_dir / "ldom.db")
        self.hv = Hypervisor(machine, self.state_dir, clock=clock)
        with self._lock, self.store.transaction():
            if not self.store.domains():
                self._factory_default()
        self.reconcile()

    def locked(self) -> contextlib.AbstractContextManager:
        """The host lock, for ``with``: while it is held no other thread reads or changes
        this manager. Re-entrant, so a command may call another under it."""
        return self._lock

    def close(self) -> None:
        with self._lock:
            self.hv.close()
            self.store.close()

    # -- settings --------------------------------------------------------------------------
    @property
    def settings(self) -> HostSettings:
        return self.store.host_settings()

    @mutation
    def set_settings(self, **changes) -> None:
        self.store.save_host_settings(attrs.evolve(self.store.host_settings(), **changes))

    @property
    def initialized(self) -> bool:
        """True once a host configuration has seeded this store (it seeds only once)."""
        return self.store.initialized

    @mutation
    def mark_initialized(self) -> None:
        self.store.set_meta("initialized", True)

    # -- time ------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self.hv.tick(now)

    # -- queries ---------------------------------------------------------------------------
    def domains(self) -> list[Domain]:
        with self._lock:
            doms = self.store.domains()
        return sorted(doms, key=lambda d: not d.control)

    def domain(self, name: str) -> Domain:
        with self._lock:
            return self._get(name)

    def services(self, kind: str) -> list:
        if kind not in SERVICE_KINDS:
            raise LdmError("bad-service-kind", f"Unknown service kind: {kind}")
        with self._lock:
            return self.store.services(kind)

    def _free(self, *, without: str | None = None) -> binding.FreeResources:
        return binding.free_resources(self.machine, (d for d in self._all() if d.name != without))

    def free_strands(self) -> tuple[int, ...]:
        with self._lock:
            return self._free().strands

    def free_memory(self) -> list[MemoryRange]:
        with self._lock:
            return self._free().memory

    def free_maus(self) -> tuple[int, ...]:
        with self._lock:
            return self._free().maus

    def free_io(self) -> tuple[str, ...]:
        with self._lock:
            return self._free().io

    # -- shared helpers of the commands ----------------------------------------------------
    def _all(self) -> list[Domain]:
        return self.store.domains()

    def _get(self, name: str) -> Domain:
        for d in self.store.domains():
            if d.name == name:
                return d
        raise LdmError("no-such-domain", f"LDom {name} does not exist")

    def _save(self, d: Domain) -> None:
        self.store.save_domain(d)

    def _control(self) -> Domain | None:
        return next((d for d in self._all() if d.control), None)

    def _provides_services(self, name: str) -> bool:
        return any(s.ldom == name for kind in SERVICE_KINDS for s in self.store.services(kind))

    def _check_not_locked(self, d: Domain) -> None:
        if d.name in self._migrating or d.migration_role in (MigrationRole.SOURCE, MigrationRole.TARGET):
            raise being_migrated(d.name)
        if d.migration_role is MigrationRole.ERROR:
            raise LdmError("migration-error", f"Operation not allowed: domain {d.name} is in the migration "
                                              f"error state; if the target runs it, destroy this copy with ldm remove-domain "
                                              f"{d.name}, else restore it with ldm cancel-operation migration {d.name}")

    def _check_machine_quiet(self, d: Domain) -> None:
        """Bind, stop and other machine-description changes wait for running migrations."""
        self._check_not_locked(d)
        busy = next((n for n in self._migrating if n != d.name), None)
        if busy is not None:
            raise LdmError("migration-in-progress",
                           f"Operation not allowed: a migration of domain {busy} is in progress on this machine")

    def _check_no_reconf_for(self, d: Domain) -> None:
        """While the control domain waits for its reboot, other domains stay as they are."""
        if d.control:
            return
        ctl = self._control()
        if ctl is not None and ctl.pending is not None:
            raise LdmError("reconf-pending", f"Operation not allowed: a delayed reconfiguration of the "
                                             f"{ctl.name} domain is pending until it reboots")

    def _check_change(self, d: Domain) -> None:
        """Every command that changes ``d``: not while it migrates or waits for primary."""
        self._check_no_reconf_for(d)
        if d.state is DomainState.INACTIVE:
            self._check_not_locked(d)
        else:
            self._check_machine_quiet(d)

    # -- migration locks ---------------------------------------------------
    def migrating(self) -> dict[str, str]:
        """Domains held by a migration: name → migration id."""
        with self._lock:
            return dict(self._migrating)

    def check_can_migrate(self, name: str) -> None:
        """Refuse to start moving ``name`` while the host has a delayed reconfiguration."""
        with self._lock:
            d = self._get(name)
            self._check_no_reconf_for_migration(name)
            if name in self._migrating:
                raise being_migrated(d.name)

    def begin_migration(self, name: str, migration_id: str = "") -> None:
        """Take the lock for ``name`` (on the target: the name it is about to receive)."""
        with self._lock:
            if name in self._migrating:
                raise being_migrated(name)
            self._check_no_reconf_for_migration(name)
            self._migrating[name] = migration_id or name

    def _check_no_reconf_for_migration(self, name: str) -> None:
        ctl = self._control()
        if ctl is not None and ctl.pending is not None:
            raise LdmError("reconf-pending", f"Unable to migrate LDom {name}: a delayed reconfiguration "
                                             f"of the {ctl.name} domain is pending on {self.hostname}")

    def end_migration(self, name: str) -> None:
        with self._lock:
            self._migrating.pop(name, None)

    # -- users and authorizations -------------------------------------------
    @mutation
    def add_user(self, name: str, *, password: str | None = None, password_hash: str | None = None, keys=(),
                 authorizations=(READ, WRITE)) -> None:
        """Create or replace a login; the password is kept only as a salted hash (``password``
        is hashed here; a host file gives ``password_hash`` already hashed)."""
        if not name or any(c in name for c in " \t:/@"):
            raise LdmError("bad-user", f"Invalid user name: {name!r}")
        if password_hash is None:
            password_hash = hash_password(password) if password else ""
        self.store.save_user(User(name=name, password_hash=password_hash,
                                  keys=list(keys), authorizations=list(authorizations)))

    def users(self) -> list[User]:
        with self._lock:
            return self.store.users()

    def authorize(self, user: str, auth: str) -> None:
        with self._lock:
            u = self.store.user(user)
        if u is None:
            raise AuthError(f"Authorization failed: user {user} is not known on {self.hostname}")
        if not u.may(auth):
            raise AuthError(f"Authorization failed: user {user} does not have {auth} on {self.hostname}")

    # -- the host's view ------------------------------------------------------------------
    def _runtime(self, d: Domain):
        return self.hv.get(d.uuid) if self.hv.has(d.uuid) else None

    def flags(self, d: Domain) -> str:
        """Six columns: starting/stopping, normal/transition, delayed reconf,
        control, service domain, migration role."""
        with self._lock:
            provides = self._provides_services(d.name)
        return "".join((
            "s" if d.transition else "-",
            "t" if d.transition else ("n" if d.state in (DomainState.ACTIVE, DomainState.SUSPENDED) else "-"),
            "d" if d.pending is not None else "-",
            "c" if d.control else "-",
            "v" if provides else "-",
            d.migration_role.value,
        ))

    def uptime(self, d: Domain, now: float | None = None) -> int | None:
        if d.state not in (DomainState.ACTIVE, DomainState.SUSPENDED):
            return None
        with self._lock:
            rt = self._runtime(d)
        started = rt.started_at if rt is not None and rt.started_at else d.started_at
        now = self.clock() if now is None else now
        return max(int(now - started), 0)

    def util(self, d: Domain) -> float | None:
        """A deterministic load: idle plus what the guest's write rate keeps its vCPUs busy."""
        if d.state not in (DomainState.ACTIVE, DomainState.SUSPENDED):
            return None
        with self._lock:
            rt = self._runtime(d)
        if rt is None or rt.run_state is not RunState.RUNNING:
            return 0.0
        vcpus = max(len(rt.strands), 1)
        load = 100.0 * rt.guest.write_rate / (vcpus * _VCPU_WRITE_CAPACITY)
        return round(min(100.0, _IDLE_UTIL + load), 1)

    def console(self, d: Domain) -> str:
        if d.control:
            return "SP"
        if d.state is DomainState.SUSPENDED:
            return ""  # the console is detached while the domain is frozen (seed: ldg-src)
        if d.bindings is not None and d.bindings.console_port is not None:
            return str(d.bindings.console_port)
        return ""

    def _vcpus_of(self, d: Domain) -> int:
        return len(d.bindings.strands) if d.bindings is not None else d.constraints.vcpus

    def _memory_of(self, d: Domain) -> int:
        return d.bindings.memory_size if d.bindings is not None else d.constraints.memory_size

    def snapshot(self) -> HostSnapshot:
        with self._lock:
            doms = self.domains()
            free = self._free()
            jobs = tuple(self.job_provider())
            now = self.clock()
            running = {j.domain: j for j in jobs if j.state == "running"}
            rows = tuple(DomainRow(name=d.name, state=d.state.value, flags=self.flags(d), cons=self.console(d),
                                   vcpus=self._vcpus_of(d), memory=self._memory_of(d), util=self.util(d),
                                   uptime=self.uptime(d, now),
                                   migration=running.get(d.name) or _recorded_migration(d, jobs))
                         for d in doms)
            return HostSnapshot(
                hostname=self.hostname, processor=self.machine.processor, clock_mhz=self.machine.clock_mhz,
                manager_version=self.machine.manager_version, strands_total=self.machine.strands,
                strands_free=len(free.strands), memory_total=self.machine.memory_total,
                memory_free=free.memory_total, maus_total=self.machine.maus, maus_free=len(free.maus),
                incoming_migration_enabled=self.settings.incoming_migration_enabled,
                domains=rows, jobs=jobs, taken_at=now)

    # -- the simulated guest ---------------------------------------------------
    @mutation
    def set_guest(self, name: str, **settings) -> None:
        """Simulation control: write_rate, cpu_dr, bound_processes, processor_sets, seed."""
        d = self._get(name)
        try:
            d.guest = attrs.evolve(d.guest, **settings)
        except TypeError as e:
            raise LdmError("bad-guest-setting", f"Unknown guest setting: {e}") from None
        self._save(d)
        if self.hv.has(d.uuid):
            self.hv.update(d.uuid, guest=attrs.evolve(d.guest))

    def guest_info(self, name: str) -> dict:
        with self._lock:
            d = self._get(name)
            rt = self._runtime(d)
            if rt is None:
                raise LdmError("not-bound", f"LDom {name} is not bound")
            return {"counter": self.hv.counter(d.uuid), "digest": self.hv.memory(d.uuid).digest(),
                    "write_rate": rt.guest.write_rate, "run_state": rt.run_state.value,
                    "generation": rt.generation, "cpu_dr": rt.guest.cpu_dr,
                    "bound_processes": rt.guest.bound_processes, "processor_sets": rt.guest.processor_sets}
