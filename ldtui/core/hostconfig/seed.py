"""Bringing a Manager to a host file's configuration, through the Manager's own commands."""

from __future__ import annotations

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.hostconfig.values import DomainConfig, HostConfig, HostConfigError, ServiceConfig


# -- seeding a manager ----------------------------------------------------------------------
def apply_users(manager, cfg: HostConfig) -> None:
    """Users and host settings follow the file at every start: editing the file and
    restarting ``ldmd`` is how an administrator changes a password or a property."""
    with manager.store.transaction():
        for u in cfg.users:
            manager.add_user(u.name, password_hash=u.password_hash, keys=u.keys, authorizations=u.authorizations)
        manager.set_settings(**attrs.asdict(cfg.settings, recurse=False))


def apply_seed(manager, cfg: HostConfig) -> bool:
    """Bring a fresh host to the file's configuration through the Manager's own commands.

    Domains and services are seeded once: afterwards the store is the truth (nothing an
    operator configured is lost by a restart or a crash), so a restart never undoes what
    operators changed. The seed is one store transaction; a refusal names the entry and
    leaves the store unseeded. Returns True if it seeded.
    """
    apply_users(manager, cfg)
    if manager.initialized:
        return False
    where = cfg.source or cfg.name
    with manager.store.transaction():
        _seed_step(where, "[primary]", lambda: _seed_primary(manager, cfg.primary))
        for i, s in enumerate(cfg.services, 1):
            _seed_step(where, f"[[services.{s.kind}]] '{s.name}'", lambda s=s: _seed_service(manager, s))
        for i, d in enumerate(cfg.domains, 1):
            _seed_step(where, f"[[domains]] #{i} '{d.name}'", lambda d=d: _seed_domain(manager, d))
        manager.mark_initialized()
    return True


def _seed_step(where: str, what: str, step) -> None:
    try:
        step()
    except LdmError as e:
        raise HostConfigError(f"{where}: {what}: {e.message}") from None


def _seed_primary(manager, p: DomainConfig) -> None:
    # A new host's primary owns the whole machine; sizing it at seed time must not leave a
    # delayed reconfiguration pending, so it goes through the direct path.
    if p.vcpus or p.memory or p.crypto or p.io:
        current = manager.domain("primary").constraints
        manager.create_control_domain(p.vcpus or current.vcpus, p.memory or current.memory,
                                      p.crypto, p.io or None)


def _seed_resources(manager, d: DomainConfig) -> None:
    if d.vcpus:
        manager.set_vcpu(d.vcpus, d.name)
    if d.mblocks:
        manager.set_memory(sum(b.size for b in d.mblocks), d.name, mblocks=d.mblocks)
    elif d.memory:
        manager.set_memory(d.memory, d.name)
    if d.crypto:
        manager.set_crypto(d.crypto, d.name)
    for bus in d.io:
        manager.add_io(bus, d.name)


def _seed_service(manager, s: ServiceConfig) -> None:
    if s.kind == "vcc":
        manager.add_vcc(s.name, s.ldom, s.port_start, s.port_end)
    elif s.kind == "vsw":
        manager.add_vsw(s.name, s.ldom, mac=s.mac, net_dev=s.net_dev, mode=s.mode)
    else:
        manager.add_vds(s.name, s.ldom)
        for v in s.volumes:
            manager.add_vdsdev(v.device, v.name, s.name, options=v.options)


def _seed_domain(manager, d: DomainConfig) -> None:
    manager.add_domain(d.name, mac=d.mac, hostid=d.hostid)
    _seed_resources(manager, d)
    for disk in d.vdisks:
        manager.add_vdisk(disk.name, disk.volume, disk.service, d.name)
    for net in d.vnets:
        manager.add_vnet(net.name, net.switch, d.name, mac=net.mac, mode=net.mode)
    if d.variables:
        manager.set_variable(d.name, **dict(d.variables))
    if d.guest:
        manager.set_guest(d.name, **dict(d.guest))
    if d.state in ("bound", "active"):
        manager.bind_domain(d.name)
    if d.state == "active":
        manager.start_domain(d.name)
