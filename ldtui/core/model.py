"""The configuration a manager keeps: domains (constraints + bindings), services, users.

Everything here is plain attrs data, stored as JSON documents in SQLite (see ``store``).
Constraints are what the operator asked for; bindings are what the manager allocated.
"""

from __future__ import annotations

import enum

import attrs

from ldtui.hv.guest import GuestSettings
from ldtui.hv.hypervisor import MemoryBlock
from ldtui.hv.machine import MemoryRange


class DomainState(str, enum.Enum):
    INACTIVE = "inactive"
    BOUND = "bound"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """A migration source while its state is shipped (flags ``-n---s``)."""


class MigrationRole(str, enum.Enum):
    """Flags column 6: ``s`` migration source, ``t`` migration target, ``e`` error during a migration."""

    NONE = "-"
    SOURCE = "s"
    TARGET = "t"
    ERROR = "e"


@attrs.define(kw_only=True)
class VDisk:
    name: str
    volume: str
    service: str
    timeout: int | None = None
    id: int = 0


@attrs.define(kw_only=True)
class VNet:
    name: str
    switch: str
    mac: str
    mode: str = ""
    """``hybrid`` asks for NIU hybrid I/O (a constraint kept even where no NIU can meet it)."""
    id: int = 0


@attrs.define(kw_only=True)
class Constraints:
    """What the operator configured for a domain."""

    vcpus: int = 0
    memory: int = 0
    """Bytes, when given as a size (``set-memory 1G``)."""
    mblocks: tuple[MemoryRange, ...] = ()
    """Named physical blocks (``mblock=PA:size``); used instead of ``memory`` when set."""
    crypto: int = 0
    io: tuple[str, ...] = ()
    vdisks: list[VDisk] = attrs.Factory(list)
    vnets: list[VNet] = attrs.Factory(list)
    variables: dict[str, str] = attrs.Factory(dict)
    console_port: int | None = None

    @property
    def memory_size(self) -> int:
        return sum(b.size for b in self.mblocks) if self.mblocks else self.memory


@attrs.define(kw_only=True)
class Bindings:
    """What binding allocated; present while the domain is bound or active."""

    strands: tuple[int, ...] = ()
    reserved_strands: tuple[int, ...] = ()
    """Strands of whole cores held but unusable until the domain reboots."""
    blocks: tuple[MemoryBlock, ...] = ()
    maus: tuple[int, ...] = ()
    io: tuple[str, ...] = ()
    console_port: int | None = None
    console_service: str | None = None

    @property
    def memory_size(self) -> int:
        return sum(b.size for b in self.blocks)


@attrs.define(kw_only=True)
class MigrationInfo:
    """What ``ldm list -o status`` shows for a migrating domain, with its progress detail."""

    id: str
    role: MigrationRole
    peer_host: str
    """The target host on the source side, the source host on the target side."""
    peer_domain: str
    progress: int = 0
    error: bool = False
    live: bool = False
    started: float = 0.0
    bytes_sent: int = 0
    """Guest memory sent so far (the source) or received (the target)."""
    bytes_total: int = 0
    all_sent: bool = False
    """Every byte of the domain's state reached the target before the link was lost."""
    since: float = 0.0
    """When the domain entered the error state."""
    reason: str = ""
    """Why it is in the error state, in the operator's words."""


@attrs.define(kw_only=True)
class Domain:
    name: str
    uuid: str
    state: DomainState = DomainState.INACTIVE
    control: bool = False
    constraints: Constraints = attrs.Factory(Constraints)
    bindings: Bindings | None = None
    pending: Constraints | None = None
    """The control domain's delayed reconfiguration: constraints that apply at its reboot."""
    transition: bool = False
    migration: MigrationInfo | None = None
    mac: str = ""
    hostid: str = ""
    started_at: float = 0.0
    guest: GuestSettings = attrs.Factory(GuestSettings)
    """How the simulated guest OS behaves once the domain boots."""

    @property
    def migration_role(self) -> MigrationRole:
        return self.migration.role if self.migration else MigrationRole.NONE


@attrs.define(kw_only=True)
class Vcc:
    name: str
    ldom: str
    port_start: int
    port_end: int


@attrs.define(kw_only=True)
class Vsw:
    name: str
    ldom: str
    mac: str
    net_dev: str = ""
    id: int = 0
    mode: str = ""


@attrs.define(kw_only=True)
class VdsVolume:
    name: str
    device: str
    options: str = ""


@attrs.define(kw_only=True)
class Vds:
    name: str
    ldom: str
    volumes: list[VdsVolume] = attrs.Factory(list)

    def volume(self, name: str) -> VdsVolume | None:
        return next((v for v in self.volumes if v.name == name), None)


READ = "solaris.ldoms.read"
WRITE = "solaris.ldoms.write"


@attrs.define(kw_only=True)
class User:
    """A login of this host. ``password_hash`` is ``scrypt$N$r$p$salt$hash`` (hex); never clear."""

    name: str
    password_hash: str = ""
    keys: list[str] = attrs.Factory(list)
    authorizations: list[str] = attrs.Factory(lambda: [READ])

    def may(self, auth: str) -> bool:
        return auth in self.authorizations or (auth == READ and WRITE in self.authorizations)


@attrs.define(kw_only=True)
class HostSettings:
    """Per-host properties of the manager (the 1.2 product kept them in SMF)."""

    incoming_migration_enabled: bool = True
    migration_supported: bool = True
    """False models a manager too old to migrate (the Logical Domains 1.2 guide's example of a
    failed connection with ldmd on the target)."""
