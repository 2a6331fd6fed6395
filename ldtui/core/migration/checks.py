"""Phase 1: can this domain move? Compatible managers, then CPU, memory and I/O checks.

``source_unmet`` runs on the source (what only its guest and machine can tell) and
``target_unmet`` on the target, against its real free resources. Each returns every unmet
requirement as one operator-facing line, so a dry run (``-n``) lists them all at once.
"""

from __future__ import annotations

from ldtui.core import binding
from ldtui.core.errors import LdmError
from ldtui.core.migration.events import ChecksDone
from ldtui.core.migration.messages import PROTOCOL, DomainDescription, MachineInfo, Offer
from ldtui.core.model import Domain, DomainState
from ldtui.hv.guest import GuestError, GuestOS


def machine_info(manager) -> MachineInfo:
    m = manager.machine
    ctl = next((d for d in manager.store.domains() if d.control), None)
    return MachineInfo(hostname=manager.hostname, processor=m.processor, clock_mhz=m.clock_mhz,
                       strands_per_core=m.strands_per_core, manager_version=m.manager_version,
                       firmware=m.firmware, delayed_reconf=bool(ctl and ctl.pending is not None))


def describe(d: Domain) -> DomainDescription:
    b = d.bindings
    return DomainDescription(
        name=d.name, uuid=d.uuid, state=d.state.value, constraints=d.constraints,
        vcpus=len(b.strands) if b else d.constraints.vcpus, blocks=b.blocks if b else (),
        maus=len(b.maus) if b else 0, io=b.io if b else tuple(d.constraints.io),
        console_port=b.console_port if b else d.constraints.console_port,
        mac=d.mac, hostid=d.hostid, started_at=d.started_at, guest=d.guest)


def source_unmet(manager, d: Domain) -> tuple[str, ...]:
    """What the source alone can judge: the control domain never moves; an active domain
    with more than one vCPU must be able to give them up by CPU DR and shrink to one."""
    out: list[str] = []
    if d.control:
        out.append(f"LDom {d.name} is the control domain and cannot be migrated")
    if d.state is DomainState.ACTIVE and d.bindings and len(d.bindings.strands) > 1 and manager.hv.has(d.uuid):
        rt = manager.hv.get(d.uuid)
        if rt.cpu_dr_disabled:
            out.append(f"Unable to shrink LDom {d.name} to one virtual CPU: CPU dynamic reconfiguration "
                       f"is disabled until the domain reboots")
        else:
            try:
                GuestOS(rt.guest).check_cpu_dr()
            except GuestError as e:
                out.append(f"Unable to shrink LDom {d.name} to one virtual CPU: {e}")
    return tuple(out)


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def compatible_versions(source: str, target: str) -> bool:
    """Managers of the same major release from 1.1 on (when migration appeared) interoperate."""
    s, t = _version(source), _version(target)
    return s[:1] == t[:1] and s >= (1, 1) and t >= (1, 1)


def target_unmet(manager, offer: Offer) -> ChecksDone:
    """Every check for the domain's state against this host's free resources: CPU,
    memory and I/O for an active domain, the constraints alone for a bound one, none for an
    inactive one."""
    settings = manager.settings
    if not settings.migration_supported or not settings.incoming_migration_enabled:
        return ChecksDone(unmet=(), refused=True)
    with manager.locked():
        domains = manager.store.domains()
        free = binding.free_resources(manager.machine, domains)
        unmet: list[str] = []
        notes: list[str] = []
        src, d, m = offer.source, offer.domain, manager.machine
        if offer.protocol != PROTOCOL or not compatible_versions(src.manager_version, m.manager_version):
            unmet.append(f"Logical Domains Manager {src.manager_version} on {src.hostname} is not compatible "
                         f"with version {m.manager_version} on {manager.hostname}")
        if any(x.name == offer.target_name for x in domains):
            unmet.append(f"LDom {offer.target_name} already exists on {manager.hostname}")
        elif any(x.uuid == d.uuid for x in domains) or manager.hv.has(d.uuid):
            unmet.append(f"A domain with the UUID of LDom {d.name} already exists on {manager.hostname}")
        if src.delayed_reconf:
            unmet.append(f"A delayed reconfiguration is pending on {src.hostname}")
        ctl = next((x for x in domains if x.control), None)
        if ctl is not None and ctl.pending is not None:
            unmet.append(f"A delayed reconfiguration is pending on {manager.hostname}")
        if d.state == "active":
            unmet += _active_resources(m, src, d, free)
        elif d.state == "bound":
            unmet += _bound_resources(m, d, free, domains)
        if d.state in ("active", "bound"):
            vio_unmet, vio_notes = _virtual_io(manager, d, domains)
            unmet += vio_unmet
            notes += vio_notes
        return ChecksDone(unmet=tuple(unmet), notes=tuple(notes))


def _active_resources(m, src: MachineInfo, d: DomainDescription, free) -> list[str]:
    out: list[str] = []
    if (src.processor, src.clock_mhz) != (m.processor, m.clock_mhz):
        out.append(f"Processor {m.processor} at {m.clock_mhz} MHz on the target differs from "
                   f"{src.processor} at {src.clock_mhz} MHz on the source")
    try:
        binding.allocate_strands(m, free.strands, max(d.vcpus, 1), whole_cores=True)
    except LdmError as e:
        out.append(e.message)
    try:
        binding.place_blocks(free.memory, d.blocks)
    except LdmError as e:
        # The Logical Domains 1.2 guide's text: "Unable to bind 2G memory region at real address 0x8000000"
        out.append(e.message)
    if d.io:
        out.append(f"LDom {d.name} has direct physical I/O ({', '.join(d.io)}) and cannot be migrated")
    if d.maus and d.vcpus > 1:
        out.append(f"LDom {d.name} has bound crypto units and more than one virtual CPU")
    return out


def _bound_resources(m, d: DomainDescription, free, domains) -> list[str]:
    """A bound domain is rebound on the target: its constraints must fit; the processor may differ."""
    out: list[str] = []
    c = d.constraints
    try:
        strands, _ = binding.allocate_strands(m, free.strands, max(d.vcpus, 1))
    except LdmError as e:
        out.append(e.message)
        strands = ()
    try:
        binding.allocate_memory(free.memory, c.memory_size or sum(b.size for b in d.blocks))
    except LdmError as e:
        out.append(e.message)
    try:
        binding.allocate_maus(m, free.maus, d.maus, strands)
    except LdmError as e:
        out.append(e.message)
    try:
        binding.check_io(m, d.io, binding.bus_owners(domains), d.name)
    except LdmError as e:
        out.append(e.message)
    return out


def _virtual_io(manager, d: DomainDescription, domains) -> tuple[list[str], list[str]]:
    """Every vdisk volume and vnet switch exists here, MACs are free, a console port is free."""
    out: list[str] = []
    notes: list[str] = []
    vds = {s.name: s for s in manager.store.services("vds")}
    vsw = {s.name: s for s in manager.store.services("vsw")}
    for disk in d.constraints.vdisks:
        svc = vds.get(disk.service)
        if svc is None or svc.volume(disk.volume) is None:
            out.append(f"Volume {disk.volume}@{disk.service} of virtual disk {disk.name} is not "
                       f"available on {manager.hostname}")
    macs = {x.mac.lower(): f"LDom {x.name}" for x in domains if x.mac}
    macs.update({n.mac.lower(): f"virtual network {n.name} of LDom {x.name}"
                 for x in domains for n in x.constraints.vnets if n.mac})
    macs.update({s.mac.lower(): f"virtual switch {s.name}" for s in vsw.values() if s.mac})
    if d.mac and d.mac.lower() in macs:
        out.append(f"MAC address {d.mac} of LDom {d.name} is already used by {macs[d.mac.lower()]} "
                   f"on {manager.hostname}")
    for net in d.constraints.vnets:
        if net.switch not in vsw:
            out.append(f"Virtual switch {net.switch} of virtual network {net.name} is not available "
                       f"on {manager.hostname}")
        if net.mac and net.mac.lower() in macs:
            out.append(f"MAC address {net.mac} of virtual network {net.name} is already used by "
                       f"{macs[net.mac.lower()]} on {manager.hostname}")
        if net.mode == "hybrid" and not manager.machine.niu:
            notes.append(f"NIU hybrid I/O of virtual network {net.name} is kept as a constraint but "
                         f"cannot be met on {manager.hostname}")
    try:
        binding.allocate_console_port(_vcc_ranges(manager), _used_ports(domains))
    except LdmError as e:
        out.append(f"{e.message} on {manager.hostname}")
    return out, notes


def _vcc_ranges(manager) -> list[tuple[str, int, int]]:
    return [(s.name, s.port_start, s.port_end) for s in manager.store.services("vcc")]


def _used_ports(domains) -> set[int]:
    return {x.bindings.console_port for x in domains if x.bindings and x.bindings.console_port is not None}
