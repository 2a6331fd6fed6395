"""Virtual I/O services and devices: vds + vdsdev + vdisk, vsw + vnet, vcc.

Service names are unique across kinds on a host; a service in use cannot be removed.
MAC addresses are unique on a host: automatic ones come from a counter kept in the store,
starting at a point derived from the host name so that two hosts rarely hand out the same
address (a migrating domain's MACs must be free on the target).
"""

from __future__ import annotations

import hashlib
import re

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.model import Domain, DomainState, Vcc, Vds, VdsVolume, VDisk, VNet, Vsw
from ldtui.core.mutation import mutation
from ldtui.core.store import SERVICE_KINDS

_MAC_PREFIX = "00:14:4f:f8"
_MAC = re.compile(r"^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def normalize_mac(text: str) -> str:
    """``0:14:4F:F8:1:2`` → ``00:14:4f:f8:01:02``."""
    s = text.strip().lower()
    if not _MAC.match(s):
        raise LdmError("bad-mac", f"Invalid MAC address: {text}")
    return ":".join(part.zfill(2) for part in s.split(":"))


class ServicesMixin:
    """vds / vdsdev / vdisk, vsw / vnet, vcc."""

    # -- MAC addresses --------------------------------------------------------------------
    def macs_in_use(self, *, without: str | None = None) -> dict[str, str]:
        """MAC → who holds it (domain, ``domain/vnet``, or ``vsw NAME``)."""
        out: dict[str, str] = {}
        for d in self._all():
            if d.name == without:
                continue
            if d.mac:
                out[d.mac] = d.name
            for v in d.constraints.vnets:
                out[v.mac] = f"{d.name}/{v.name}"
        for s in self.store.services("vsw"):
            out[s.mac] = f"vsw {s.name}"
        return out

    def _new_mac(self) -> str:
        used = self.macs_in_use()
        start = int.from_bytes(hashlib.blake2b(self.machine.hostname.encode(), digest_size=2).digest(), "big")
        counter = self.store.get_meta("mac_counter", start)
        for step in range(1 << 16):
            n = (counter + step) & 0xFFFF
            mac = f"{_MAC_PREFIX}:{n >> 8:02x}:{n & 0xFF:02x}"
            if mac not in used:
                self.store.set_meta("mac_counter", (n + 1) & 0xFFFF)
                return mac
        raise LdmError("no-mac", "No free automatic MAC address is left on this host")

    def _claim_mac(self, mac: str | None) -> str:
        if mac is None or mac == "":
            return self._new_mac()
        mac = normalize_mac(mac)
        holder = self.macs_in_use().get(mac)
        if holder is not None:
            raise LdmError("mac-in-use", f"MAC address {mac} is already in use by {holder}")
        return mac

    # -- shared ---------------------------------------------------------------------------
    def _remove_service(self, kind: str, name: str, label: str, users: list[str]) -> None:
        """Remove a service no bound or configured device uses (``users``: ``domain/device``)."""
        svc = self._service(kind, name)
        self._check_service_change(svc.ldom)
        if users:
            raise LdmError("service-in-use", f"{label} {name} is in use by {', '.join(users)}")
        self.store.delete_service(kind, name)

    def _service(self, kind: str, name: str):
        svc = next((s for s in self.store.services(kind) if s.name == name), None)
        if svc is None:
            label = {"vds": "Virtual disk service", "vsw": "Virtual switch", "vcc": "Console service"}[kind]
            raise LdmError(f"no-such-{kind}", f"{label} {name} does not exist")
        return svc

    def _new_service(self, name: str, ldom: str) -> Domain:
        if not _SERVICE_NAME.match(name or ""):
            raise LdmError("bad-name", f"Invalid service name: {name!r}")
        for kind in SERVICE_KINDS:
            if any(s.name == name for s in self.store.services(kind)):
                raise LdmError("service-exists", f"Service {name} already exists")
        d = self._get(ldom)
        self._check_change(d)
        return d

    def _check_service_change(self, ldom: str) -> None:
        self._check_change(self._get(ldom))

    def _vio_problems(self, d: Domain, others) -> list[LdmError]:
        """What the domain's virtual devices need and the host lacks (bind, migration)."""
        problems = []
        vds = {s.name: s for s in self.store.services("vds")}
        vsw = {s.name for s in self.store.services("vsw")}
        for disk in d.constraints.vdisks:
            svc = vds.get(disk.service)
            if svc is None or svc.volume(disk.volume) is None:
                problems.append(LdmError("no-volume", f"Volume {disk.volume}@{disk.service} of virtual disk "
                                                      f"{disk.name} does not exist"))
        for net in d.constraints.vnets:
            if net.switch not in vsw:
                problems.append(LdmError("no-such-vsw", f"Virtual switch {net.switch} of network device "
                                                        f"{net.name} does not exist"))
        used = self.macs_in_use(without=d.name)
        for mac in [d.mac, *(v.mac for v in d.constraints.vnets)]:
            if mac and mac in used:
                problems.append(LdmError("mac-in-use", f"MAC address {mac} is already in use by {used[mac]}"))
        return problems

    # -- virtual disk services ------------------------------------------------------------
    @mutation
    def add_vds(self, service: str, ldom: str) -> None:
        self._new_service(service, ldom)
        self.store.save_service("vds", Vds(name=service, ldom=ldom))

    @mutation
    def remove_vds(self, service: str) -> None:
        self._remove_service("vds", service, "Virtual disk service",
                             [f"{d.name}/{v.name}" for d in self._all() for v in d.constraints.vdisks
                              if v.service == service])

    @mutation
    def add_vdsdev(self, backend: str, volume: str, service: str, *, options: str = "") -> None:
        svc: Vds = self._service("vds", service)
        self._check_service_change(svc.ldom)
        if not _SERVICE_NAME.match(volume or ""):
            raise LdmError("bad-name", f"Invalid volume name: {volume!r}")
        if svc.volume(volume) is not None:
            raise LdmError("volume-exists", f"Volume {volume} already exists in service {service}")
        if not backend:
            raise LdmError("bad-backend", "A virtual disk backend must be given")
        svc.volumes.append(VdsVolume(name=volume, device=backend, options=options))
        self.store.save_service("vds", svc)

    @mutation
    def remove_vdsdev(self, volume: str, service: str) -> None:
        svc: Vds = self._service("vds", service)
        self._check_service_change(svc.ldom)
        if svc.volume(volume) is None:
            raise LdmError("no-volume", f"Volume {volume}@{service} does not exist")
        users = [f"{d.name}/{v.name}" for d in self._all() for v in d.constraints.vdisks
                 if v.service == service and v.volume == volume]
        if users:
            raise LdmError("volume-in-use", f"Volume {volume}@{service} is in use by {', '.join(users)}")
        svc.volumes = [v for v in svc.volumes if v.name != volume]
        self.store.save_service("vds", svc)

    @mutation
    def add_vdisk(self, disk: str, volume: str, service: str, ldom: str, *, timeout: int | None = None) -> None:
        d = self._get(ldom)
        self._check_change(d)
        if any(v.name == disk for v in d.constraints.vdisks):
            raise LdmError("vdisk-exists", f"Virtual disk {disk} already exists in LDom {ldom}")
        if d.state is not DomainState.INACTIVE:
            # A bound domain gets the disk now: its volume must exist (inactive ones check at bind).
            svc: Vds = self._service("vds", service)
            if svc.volume(volume) is None:
                raise LdmError("no-volume", f"Volume {volume}@{service} does not exist")
        ids = {v.id for v in d.constraints.vdisks}
        vid = next(i for i in range(len(ids) + 1) if i not in ids)
        disks = [*d.constraints.vdisks, VDisk(name=disk, volume=volume, service=service, timeout=timeout, id=vid)]
        d.constraints = attrs.evolve(d.constraints, vdisks=disks)
        self._save(d)

    @mutation
    def remove_vdisk(self, disk: str, ldom: str) -> None:
        d = self._get(ldom)
        self._check_change(d)
        if not any(v.name == disk for v in d.constraints.vdisks):
            raise LdmError("no-such-vdisk", f"Virtual disk {disk} does not exist in LDom {ldom}")
        d.constraints = attrs.evolve(d.constraints, vdisks=[v for v in d.constraints.vdisks if v.name != disk])
        self._save(d)

    # -- virtual switches -----------------------------------------------------------------
    @mutation
    def add_vsw(self, name: str, ldom: str, *, mac: str | None = None, net_dev: str = "", mode: str = "") -> None:
        self._new_service(name, ldom)
        if mode not in ("", "sc"):
            raise LdmError("bad-mode", f"Invalid virtual switch mode: {mode}")
        ids = {s.id for s in self.store.services("vsw")}
        sid = next(i for i in range(len(ids) + 1) if i not in ids)
        self.store.save_service("vsw", Vsw(name=name, ldom=ldom, mac=self._claim_mac(mac), net_dev=net_dev,
                                           id=sid, mode=mode))

    @mutation
    def remove_vsw(self, name: str) -> None:
        self._remove_service("vsw", name, "Virtual switch",
                             [f"{d.name}/{v.name}" for d in self._all() for v in d.constraints.vnets
                              if v.switch == name])

    @mutation
    def add_vnet(self, ifname: str, switch: str, ldom: str, *, mac: str | None = None, mode: str = "") -> None:
        d = self._get(ldom)
        self._check_change(d)
        if mode not in ("", "hybrid"):
            raise LdmError("bad-mode", f"Invalid network device mode: {mode}")
        if not _SERVICE_NAME.match(ifname or ""):
            raise LdmError("bad-name", f"Invalid network device name: {ifname!r}")
        if any(v.name == ifname for v in d.constraints.vnets):
            raise LdmError("vnet-exists", f"Network device {ifname} already exists in LDom {ldom}")
        if d.state is not DomainState.INACTIVE:
            self._service("vsw", switch)
        ids = {v.id for v in d.constraints.vnets}
        vid = next(i for i in range(len(ids) + 1) if i not in ids)
        net = VNet(name=ifname, switch=switch, mac=self._claim_mac(mac), mode=mode, id=vid)
        d.constraints = attrs.evolve(d.constraints, vnets=[*d.constraints.vnets, net])
        self._save(d)

    @mutation
    def remove_vnet(self, ifname: str, ldom: str) -> None:
        d = self._get(ldom)
        self._check_change(d)
        if not any(v.name == ifname for v in d.constraints.vnets):
            raise LdmError("no-such-vnet", f"Network device {ifname} does not exist in LDom {ldom}")
        d.constraints = attrs.evolve(d.constraints, vnets=[v for v in d.constraints.vnets if v.name != ifname])
        self._save(d)

    def hybrid_unmet(self, d: Domain) -> bool:
        """A vnet asks for NIU hybrid I/O on a machine without an NIU: kept, never met (the vnet
        works without it, and a migration is not stopped by it)."""
        return any(v.mode == "hybrid" for v in d.constraints.vnets) and not self.machine.niu

    # -- console concentrators ------------------------------------------------------------
    @mutation
    def add_vcc(self, name: str, ldom: str, port_start: int, port_end: int) -> None:
        self._new_service(name, ldom)
        if not (0 < port_start <= port_end <= 65535):
            raise LdmError("bad-port-range", f"Invalid port range: {port_start}-{port_end}")
        for v in self.store.services("vcc"):
            if port_start <= v.port_end and v.port_start <= port_end:
                raise LdmError("port-range-in-use", f"Port range {port_start}-{port_end} overlaps the range "
                                                    f"{v.port_start}-{v.port_end} of console service {v.name}")
        self.store.save_service("vcc", Vcc(name=name, ldom=ldom, port_start=port_start, port_end=port_end))

    @mutation
    def set_vcons(self, ldom: str, *, port: int | None = None) -> None:
        """Ask for a console port (``None``: the first free one); applies when next bound."""
        d = self._get(ldom)
        self._check_change(d)
        if d.control:
            raise LdmError("control-domain", f"The console of the control domain {ldom} is the SP")
        if d.state is not DomainState.INACTIVE:
            raise LdmError("not-inactive", f"Unable to change the console port of LDom {ldom} while it is "
                                           f"{d.state.value}: unbind it first")
        if port is not None and not 0 < port <= 65535:
            raise LdmError("bad-port", f"Invalid console port: {port}")
        d.constraints = attrs.evolve(d.constraints, console_port=port)
        self._save(d)

    @mutation
    def remove_vcc(self, name: str) -> None:
        svc = self._service("vcc", name)
        self._check_service_change(svc.ldom)
        users = [d.name for d in self._all() if d.bindings is not None and d.bindings.console_service == name]
        if users:
            raise LdmError("service-in-use", f"Console service {name} is in use by {', '.join(users)}")
        self.store.delete_service("vcc", name)
