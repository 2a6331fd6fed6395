"""Reading host and lab files: every mistake is one line naming file, table and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.hostconfig.values import (_AUTH_NAMES, DOMAIN_STATES, DomainConfig, DATA_PORTS, HostConfig, HostConfigError, MigrationConfig,
                                          ServiceConfig, UserConfig, VDiskConfig, VNetConfig, VolumeConfig)
from ldtui.core.model import HostSettings
from ldtui.core.cmd_migrate import MAX_STREAMS
from ldtui.core.units import parse_size
from ldtui.hv.machine import MachineSpec, MemoryRange


class _Table:
    """A TOML table with the file and path it came from, so every error can name both."""

    def __init__(self, file: str, where: str, data: Any) -> None:
        self.file, self.where = file, where
        if not isinstance(data, dict):
            raise HostConfigError(f"{file}: {where}: expected a table")
        self.data = data
        self.used: set[str] = set()

    def fail(self, key: str, problem: str) -> HostConfigError:
        where = f"{self.where} " if self.where else ""
        return HostConfigError(f"{self.file}: {where}'{key}': {problem}")

    def get(self, key: str, kind: type | tuple, default: Any = attrs.NOTHING) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is attrs.NOTHING:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints in Python; never let `true` pass as a count.
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "string").replace("int", "integer") for k in kinds)
            raise self.fail(key, f"expected {names}, got {value!r}")
        return value

    def count(self, key: str, default: int = 0, *, minimum: int = 0) -> int:
        value = self.get(key, int, default)
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def size(self, key: str, default: Any = 0) -> int:
        value = self.get(key, (str, int), default)
        return self._size_value(key, value)

    def _size_value(self, key: str, value: Any) -> int:
        if isinstance(value, int):
            if value < 0:
                raise self.fail(key, f"invalid size {value}")
            return value
        try:
            if value.lower().startswith("0x"):          # sizes copied from list-devices output
                return int(value, 16)
            return parse_size(value)
        except LdmError:
            raise self.fail(key, f"invalid size {value!r}") from None

    def address(self, key: str, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        try:
            return int(str(value), 0)
        except ValueError:
            raise self.fail(key, f"invalid address {value!r}") from None

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings")
        return tuple(value)

    def sub(self, key: str, *, array: bool = False) -> list[_Table]:
        self.used.add(key)
        value = self.data.get(key, [] if array else {})
        prefix = f"{self.where} " if self.where else ""
        if array:
            if not isinstance(value, list):
                raise self.fail(key, "expected an array of tables")
            return [_Table(self.file, f"{prefix}[[{key}]] #{i}", v) for i, v in enumerate(value, 1)]
        return [_Table(self.file, f"{prefix}[{key}]", value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def _ranges(t: _Table, key: str, default: tuple[MemoryRange, ...]) -> tuple[MemoryRange, ...]:
    value = t.get(key, list, None)
    if value is None:
        return default
    out = []
    for item in value:
        if isinstance(item, str) and ":" in item:            # "PA:SIZE", as mblock= takes it
            pa, _, size = item.partition(":")
            out.append(MemoryRange(t.address(key, pa), t._size_value(key, size)))
        elif isinstance(item, dict) and set(item) == {"pa", "size"}:
            out.append(MemoryRange(t.address(key, item["pa"]), t._size_value(key, item["size"])))
        else:
            raise t.fail(key, f"expected {{pa, size}} tables or 'PA:SIZE' strings, got {item!r}")
    return tuple(out)


def _machine(t: _Table, hostname: str) -> MachineSpec:
    d = MachineSpec(hostname=hostname)
    spec = MachineSpec(
        hostname=hostname,
        processor=t.get("processor", str, d.processor),
        clock_mhz=t.count("clock_mhz", d.clock_mhz, minimum=1),
        cores=t.count("cores", d.cores, minimum=1),
        strands_per_core=t.count("strands_per_core", d.strands_per_core, minimum=1),
        memory=_ranges(t, "memory", d.memory),
        reserved=_ranges(t, "reserved", d.reserved),
        pci_buses=t.strings("pci_buses") if "pci_buses" in t.data else d.pci_buses,
        niu=t.get("niu", bool, d.niu),
        firmware=t.get("firmware", str, d.firmware),
        manager_version=t.get("manager_version", str, d.manager_version),
    )
    t.finish()
    return spec


def _user(t: _Table) -> UserConfig:
    name = t.get("name", str)
    password = t.get("password", str, None)
    password_hash = t.get("password_hash", str, None)
    if password is not None and password_hash is not None:
        raise t.fail("password", "give either 'password' or 'password_hash', not both")
    if password is not None:
        from ldtui.core.auth import hash_password   # deferred: hashing is slow and rarely needed
        password_hash = hash_password(password)
    auths = []
    for a in t.strings("authorizations") or ("read",):
        if a not in _AUTH_NAMES:
            raise t.fail("authorizations", f"unknown authorization {a!r} (use read, write or solaris.ldoms.*)")
        auths.append(_AUTH_NAMES[a])
    keys = t.strings("keys")
    for k in keys:
        if len(k.split()) < 2 or not k.split()[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise t.fail("keys", f"not an OpenSSH public key line: {k[:40]!r}")
    t.finish()
    return UserConfig(name=name, password_hash=password_hash or "", keys=keys, authorizations=tuple(auths))


def _domain(t: _Table, name: str | None = None) -> DomainConfig:
    dname = name or t.get("name", str)
    vdisks, vnets = [], []
    for v in t.get("vdisks", list, []):
        vt = _Table(t.file, f"{t.where} vdisk", v)
        volume = vt.get("volume", str)
        vol, at, svc = volume.partition("@")
        if not at or not vol or not svc:
            raise vt.fail("volume", f"expected volume@service, got {volume!r}")
        vdisks.append(VDiskConfig(name=vt.get("name", str), volume=vol, service=svc))
        vt.finish()
    for v in t.get("vnets", list, []):
        vt = _Table(t.file, f"{t.where} vnet", v)
        vnets.append(VNetConfig(name=vt.get("name", str), switch=vt.get("switch", str),
                                mac=vt.get("mac", str, None), mode=vt.get("mode", str, "")))
        vt.finish()
    if name == "primary":
        for key in ("mblocks", "vdisks", "vnets", "state"):
            if key in t.data:
                raise t.fail(key, "not configurable for the control domain")
    state = t.get("state", str, "active" if name == "primary" else "inactive")
    if state not in DOMAIN_STATES:
        raise t.fail("state", f"expected one of {', '.join(DOMAIN_STATES)}, got {state!r}")
    variables = t.get("variables", dict, {})
    if not all(isinstance(v, str) for v in variables.values()):
        raise t.fail("variables", "values must be strings")
    guest = {}
    if "write_rate" in t.data:
        guest["write_rate"] = t.size("write_rate")
    for flag in ("cpu_dr", "bound_processes", "processor_sets"):
        if flag in t.data:
            guest[flag] = t.get(flag, bool)
    cfg = DomainConfig(
        name=dname, vcpus=t.count("vcpus"), memory=t.size("memory"), mblocks=_ranges(t, "mblocks", ()),
        crypto=t.count("crypto"), io=t.strings("io"), vdisks=tuple(vdisks), vnets=tuple(vnets),
        variables=tuple(sorted(variables.items())), state=state, guest=tuple(sorted(guest.items())),
        mac=t.get("mac", str, None), hostid=t.get("hostid", str, None))
    if name != "primary" and cfg.state != "inactive" and not (cfg.vcpus and (cfg.memory or cfg.mblocks)):
        raise t.fail("state", f"a domain to be {cfg.state} needs vcpus and memory")
    t.finish()
    return cfg


def _service(kind: str, t: _Table) -> ServiceConfig:
    fields: dict[str, Any] = {"kind": kind, "name": t.get("name", str), "ldom": t.get("ldom", str, "primary")}
    if kind == "vcc":
        text = t.get("port_range", str)
        lo, dash, hi = text.partition("-")
        if not (dash and lo.isdigit() and hi.isdigit() and 0 < int(lo) <= int(hi) < 65536):
            raise t.fail("port_range", f"expected FIRST-LAST ports, got {text!r}")
        fields.update(port_start=int(lo), port_end=int(hi))
    elif kind == "vsw":
        fields.update(mac=t.get("mac", str, None), net_dev=t.get("net_dev", str, ""), mode=t.get("mode", str, ""))
    else:
        vols = []
        for v in t.get("volumes", list, []):
            vt = _Table(t.file, f"{t.where} volume", v)
            vols.append(VolumeConfig(name=vt.get("name", str), device=vt.get("device", str),
                                     options=vt.get("options", str, "")))
            vt.finish()
        fields["volumes"] = tuple(vols)
    t.finish()
    return ServiceConfig(**fields)


def _peers(t: _Table) -> tuple[tuple[str, str, int], ...]:
    out = []
    for host in t.data:
        value = t.get(host, str)
        addr, colon, port = value.rpartition(":")
        if not colon or not addr or not port.isdigit() or not 0 < int(port) < 65536:
            raise t.fail(host, f"expected ADDRESS:PORT, got {value!r}")
        out.append((host, addr.strip("[]"), int(port)))
    return tuple(out)


def _jumps(t: _Table, peers: tuple[tuple[str, str, int], ...], *,
           ssh_config: str) -> tuple[tuple[str, str], ...]:
    """``[jumps] peer = "[USER@]HOST[:PORT][,…]"``: reach that peer through SSH jump hosts,
    in order, as OpenSSH's ProxyJump names them."""
    out = []
    known = {h for h, _, _ in peers}
    for host in t.data:
        value = t.get(host, str)
        for element in value.split(","):
            if not _jump_element(element.strip()):
                raise t.fail(host, f"expected [USER@]HOST[:PORT], comma-separated, got {value!r}")
        if host not in known and not ssh_config:
            raise t.fail(host, "no [peers] entry for this host (and no ssh_config to find it in)")
        out.append((host, ",".join(e.strip() for e in value.split(","))))
    return tuple(out)


def _jump_element(text: str) -> bool:
    user, at, rest = text.removeprefix("ssh://").rpartition("@")
    if at and not user or not rest:
        return False
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else None
        if not bracket or tail and port is None:
            return False
    elif rest.count(":") == 1:
        host, _, port = rest.partition(":")
    else:
        host, port = rest, None
    return bool(host) and (port is None or port.isdigit() and 0 < int(port) < 65536)


def _migration(t: _Table) -> MigrationConfig:
    """``[migration]``: ``transport``, ``streams``, ``data_ports = "LOW-HIGH"``, ``data_address``."""
    transport = t.get("transport", str, "native")
    if transport not in ("native", "tunnelled"):
        raise t.fail("transport", f"expected \"native\" or \"tunnelled\", got {transport!r}")
    streams = t.count("streams", 1, minimum=1)
    if streams > MAX_STREAMS:
        raise t.fail("streams", f"at most {MAX_STREAMS}, got {streams}")
    ports = t.get("data_ports", str, f"{DATA_PORTS[0]}-{DATA_PORTS[1]}")
    low, dash, high = ports.partition("-")
    if not dash or not low.isdigit() or not high.isdigit() or not 0 < int(low) <= int(high) < 65536:
        raise t.fail("data_ports", f"expected a port range like \"49152-49407\", got {ports!r}")
    address, port = _data_address(t, t.get("data_address", str, ""))
    t.finish()
    return MigrationConfig(transport=transport, streams=streams, data_ports=(int(low), int(high)),
                           data_address=address, data_address_port=port)


def _data_address(t: _Table, text: str) -> tuple[str, int | None]:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` → (IP, port or None)."""
    import ipaddress
    if not text:
        return "", None
    host, port = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise t.fail("data_address", f"expected IP or IP:PORT, got {text!r}")
        port = rest[1:] or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise t.fail("data_address", f"expected an IP address (IP or IP:PORT), got {text!r}") from None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise t.fail("data_address", f"not a TCP port: {port!r}")
    return host, int(port) if port is not None else None


def parse_host(data: dict, file: str, where: str = "") -> HostConfig:
    """Validate one host's table (the whole file, or one ``[[hosts]]`` of a lab)."""
    top = _Table(file, where, data)
    (host,) = top.sub("host")
    name = host.get("name", str)
    listen = host.get("listen", str, "127.0.0.1")
    port = host.get("port", int, 0)
    if not 0 <= port < 65536:
        raise host.fail("port", f"not a TCP port: {port}")
    settings = HostSettings(
        incoming_migration_enabled=host.get("incoming_migration_enabled", bool, True),
        migration_supported=host.get("migration_supported", bool, True))
    ssh_config = host.get("ssh_config", str, "")
    host.finish()
    (mt,) = top.sub("machine")
    machine = _machine(mt, name)
    users = tuple(_user(u) for u in top.sub("users", array=True))
    (pt,) = top.sub("peers")
    peers = _peers(pt)
    (jt,) = top.sub("jumps")
    jumps = _jumps(jt, peers, ssh_config=ssh_config)
    (mig,) = top.sub("migration")
    migration = _migration(mig)
    (prim,) = top.sub("primary")
    primary = _domain(prim, "primary")
    services: list[ServiceConfig] = []
    (st,) = top.sub("services")
    for kind in ("vcc", "vsw", "vds"):
        services += [_service(kind, t) for t in st.sub(kind, array=True)]
    st.finish()
    domains = tuple(_domain(d) for d in top.sub("domains", array=True))
    seen = {"primary"}
    for i, d in enumerate(domains, 1):
        if d.name in seen:
            raise HostConfigError(f"{file}: {where + ' ' if where else ''}[[domains]] #{i} 'name': "
                                  f"duplicate domain {d.name!r}")
        seen.add(d.name)
    top.finish()
    return HostConfig(name=name, listen_host=listen, listen_port=port, settings=settings, machine=machine,
                      users=users, peers=peers, jumps=jumps, ssh_config=ssh_config, migration=migration, primary=primary, services=tuple(services), domains=domains,
                      source=file, raw=data)


def _read_toml(path: str | Path) -> tuple[dict, str]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise HostConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise HostConfigError(f"{p.name}: not UTF-8 text") from None
    try:
        return tomllib.loads(text), p.name
    except tomllib.TOMLDecodeError as e:
        raise HostConfigError(f"{p.name}: {e}") from None


def load_host_config(path: str | Path) -> HostConfig:
    data, name = _read_toml(path)
    return _beside(parse_host(data, name), Path(path))


def _beside(config: HostConfig, path: Path) -> HostConfig:
    """A relative ``ssh_config`` is found next to the file that names it."""
    if not config.ssh_config:
        return config
    where = Path(config.ssh_config).expanduser()
    return attrs.evolve(config, ssh_config=str(where if where.is_absolute() else path.parent / where))


def lab_host_tables(data: dict, file: str) -> list[dict]:
    """The per-host tables of a lab file, with the lab's shared users/peers merged in."""
    hosts = data.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        raise HostConfigError(f"{file}: 'hosts': a lab needs at least one [[hosts]] table")
    unknown = sorted(set(data) - {"hosts", "users", "peers", "lab"})
    if unknown:
        raise HostConfigError(f"{file}: '{unknown[0]}': unknown key")
    out = []
    for h in hosts:
        if not isinstance(h, dict):
            raise HostConfigError(f"{file}: 'hosts': expected an array of tables")
        merged = dict(h)
        for shared in ("users", "peers"):
            if shared in data and shared not in merged:
                merged[shared] = data[shared]
        out.append(merged)
    return out


def load_lab(path: str | Path) -> list[HostConfig]:
    data, name = _read_toml(path)
    configs = [_beside(parse_host(h, name, f"[[hosts]] #{i}"), Path(path))
               for i, h in enumerate(lab_host_tables(data, name), 1)]
    names = [c.name for c in configs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise HostConfigError(f"{name}: [[hosts]]: duplicate host {dup!r}")
    return configs
