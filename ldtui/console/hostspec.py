"""Which hosts the console connects to: ``USER@HOST:PORT`` arguments or a TOML hosts file.

A hosts file lists one ``[[host]]`` table per host::

    [[host]]
    name = "t5440-sys-1"          # optional; shown until the host says its own name
    address = "10.0.0.11"         # or an alias of ~/.ssh/config
    port = 2201                   # optional: ssh_config's Port, else 22
    user = "root"                 # optional: ssh_config's User, else the login name
    password = "…"                # or: key = "~/.ssh/id_ed25519"
    known_hosts = "~/.ldtui/known_hosts"   # optional
    jump = "ops@bastion:22"       # optional: jump hosts, comma-separated ("none": direct)
    protocol = "ldm"              # optional: "ldtui" (an ldmd, the default) or "ldm"
                                  # (Oracle's ldm over stock SSH, docs/ORACLE-VM.md)

What is not given comes from the operator's ssh_config (``net.sshroute``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.migration_target import MigrationTarget, TargetError


@attrs.frozen(kw_only=True)
class HostSpec:
    name: str
    address: str
    port: int | None = None
    """None: ssh_config's Port for ``address``, else 22."""
    user: str | None = None
    """None: ssh_config's User, else the local login name."""
    password: str | None = attrs.field(default=None, repr=False)
    key: str | None = None
    known_hosts: str | None = None
    jump: str | None = None
    """Jump hosts as ``-J`` takes them; None: ssh_config's ProxyJump."""
    protocol: str = "ldtui"
    """How the console talks to the host: ``ldtui`` (an ``ldmd``'s ``ldtui-rpc`` service) or
    ``ldm`` (its ``ldm`` command over stock SSH ``exec``, as on a real control domain)."""


PROTOCOLS = ("ldtui", "ldm")


def check_protocol(value: object, where: str) -> str:
    if value is None:
        return "ldtui"
    if value not in PROTOCOLS:
        raise LdmError("hosts-file" if where else "usage",
                       f"{where}protocol must be \"ldtui\" or \"ldm\", not {value!r}")
    return str(value)


def parse_target(text: str) -> HostSpec:
    """``root@t5440-sys-1:2201`` → HostSpec; what is not typed is left to ssh_config.

    A host spec names a host, so what follows its colon is a port
    (``core.migration_target``'s host-field reading): ``[::1]:2201`` for IPv6.
    """
    try:
        target = MigrationTarget.parse_host_field(text)
    except TargetError:
        target = None
    if target is None or not target.host:
        raise LdmError("bad-host", f"Invalid host: {text} (expected USER@HOST:PORT)")
    shown = attrs.evolve(target, user=None)
    return HostSpec(name=shown.format() if target.port not in (None, 22) else shown.host, address=target.host,
                    port=target.port, user=target.user)


def load_hosts_file(path: Path) -> list[HostSpec]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LdmError("hosts-file", f"Cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise LdmError("hosts-file", f"{path}: {exc}") from None
    entries = data.get("host") or data.get("hosts") or []
    if not entries:
        raise LdmError("hosts-file", f"{path}: no [[host]] entries")
    specs = []
    for i, entry in enumerate(entries, start=1):
        address = entry.get("address") or entry.get("host")
        if not address:
            raise LdmError("hosts-file", f"{path}: host #{i} has no address")
        port = entry.get("port")
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
            raise LdmError("hosts-file", f"{path}: host #{i} has an invalid port: {port!r}")
        key = entry.get("key")
        known = entry.get("known_hosts")
        jump = entry.get("jump")
        if jump is not None and not isinstance(jump, str):
            raise LdmError("hosts-file", f"{path}: host #{i}: jump must be a string like \"ops@bastion:22\"")
        protocol = check_protocol(entry.get("protocol"), f"{path}: host #{i}: ")
        specs.append(HostSpec(
            name=entry.get("name") or (f"{address}:{port}" if port not in (None, 22) else address),
            address=address, port=port, user=entry.get("user") or None,
            password=entry.get("password"),
            key=str(Path(key).expanduser()) if key else None,
            known_hosts=str(Path(known).expanduser()) if known else None,
            jump=jump, protocol=protocol,
        ))
    return specs
