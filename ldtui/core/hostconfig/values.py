"""Host configuration values: what one host file says, validated (see ``hostconfig``)."""

from __future__ import annotations

from typing import Any

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.model import READ, WRITE, HostSettings
from ldtui.hv.machine import MachineSpec, MemoryRange

DOMAIN_STATES = ("inactive", "bound", "active")
_AUTH_NAMES = {"read": READ, "write": WRITE, READ: READ, WRITE: WRITE}


class HostConfigError(LdmError):
    def __init__(self, message: str) -> None:
        super().__init__("bad-config", message)


@attrs.frozen(kw_only=True)
class UserConfig:
    name: str
    password_hash: str = ""
    keys: tuple[str, ...] = ()
    authorizations: tuple[str, ...] = (READ,)


@attrs.frozen(kw_only=True)
class VolumeConfig:
    name: str
    device: str
    options: str = ""


@attrs.frozen(kw_only=True)
class ServiceConfig:
    """One ``[[services.vcc|vsw|vds]]`` entry; fields unused by a kind keep their defaults."""

    kind: str
    name: str
    ldom: str = "primary"
    port_start: int = 0
    port_end: int = 0
    mac: str | None = None
    net_dev: str = ""
    mode: str = ""
    volumes: tuple[VolumeConfig, ...] = ()


@attrs.frozen(kw_only=True)
class VDiskConfig:
    name: str
    volume: str
    service: str


@attrs.frozen(kw_only=True)
class VNetConfig:
    name: str
    switch: str
    mac: str | None = None
    mode: str = ""


@attrs.frozen(kw_only=True)
class DomainConfig:
    name: str
    vcpus: int = 0
    memory: int = 0
    mblocks: tuple[MemoryRange, ...] = ()
    crypto: int = 0
    io: tuple[str, ...] = ()
    vdisks: tuple[VDiskConfig, ...] = ()
    vnets: tuple[VNetConfig, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
    state: str = "inactive"
    guest: tuple[tuple[str, Any], ...] = ()
    """Guest simulation settings for ``Manager.set_guest`` (write_rate, cpu_dr, …)."""
    mac: str | None = None
    hostid: str | None = None


DATA_PORTS = (49152, 49407)
"""Where a target opens its one-time data listeners unless the host says otherwise."""


@attrs.frozen(kw_only=True)
class MigrationConfig:
    """``[migration]``: how this host moves memory (docs/DATAPLANE.md).

    ``transport``: ``native`` (direct data connections, tunnelled only when they cannot be
    made) or ``tunnelled`` (always through the SSH link). ``streams``: data connections an
    outgoing migration opens. ``data_ports``: the ports an incoming migration's one-time
    listener may take. ``data_address``: the address offered to sources (default: the one
    the source reached this host's SSH endpoint on), ``IP`` or ``IP:PORT`` (``[IPv6]:PORT``)
    when sources reach the listener through a forwarded port.
    """

    transport: str = "native"
    streams: int = 1
    data_ports: tuple[int, int] = DATA_PORTS
    data_address: str = ""
    data_address_port: int | None = None
    """With ``data_address = "IP:PORT"``: the port offered (a forward to the listener's)."""


@attrs.frozen(kw_only=True)
class HostConfig:
    name: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    settings: HostSettings = attrs.field(factory=HostSettings, eq=False)
    machine: MachineSpec
    users: tuple[UserConfig, ...] = ()
    peers: tuple[tuple[str, str, int], ...] = ()
    """(hostname, address, port) of the other managers this one reaches."""
    jumps: tuple[tuple[str, str], ...] = ()
    """(hostname, jump list): peers reached through SSH jump hosts, the list as OpenSSH's
    ProxyJump spells it (``ops@bastion:22,inner``)."""
    ssh_config: str = ""
    """An ssh_config file for the peer links: aliases, HostName, Port, ProxyJump, and the
    jump hosts' User, IdentityFile, keepalive; empty: none."""
    migration: MigrationConfig = MigrationConfig()
    primary: DomainConfig = DomainConfig(name="primary")
    services: tuple[ServiceConfig, ...] = ()
    domains: tuple[DomainConfig, ...] = ()
    source: str = ""
    raw: dict = attrs.field(factory=dict, eq=False, repr=False)
    """The host's TOML table as read. A lab keeps its clear-text passwords here so it can
    tell a console how to log in; nothing writes this table to a store."""

    def peer_map(self) -> dict[str, tuple[str, int]]:
        return {h: (a, p) for h, a, p in self.peers}

    def jump_map(self) -> dict[str, str]:
        """Peer host name → the jump hosts that lead to it (``ops@bastion:22,inner``)."""
        return dict(self.jumps)
