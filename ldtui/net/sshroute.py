"""Where an SSH connection goes: the operator's ssh_config and jump hosts.

A destination as the operator names it (an alias of ``~/.ssh/config`` or an address)
resolves to a :class:`Route`: the jump hosts to pass through, in order, then the host
itself, each a :class:`Hop` with the address, port, user, identity files, timeout and
keepalive that apply to it. The files are read by asyncssh's own ssh_config parser
(``Host`` and ``Match`` blocks, ``Include``, ``%`` tokens, first value wins), so a file
means what it means to OpenSSH; the options used are those of :class:`Hop`, and the
operator guide lists the rest as not supported.

Jump chains follow OpenSSH: in ``a,b`` the first jump's own ProxyJump is honoured and the
later ones' are not (they are reached through the chain); an explicit list (``ldm -J``,
``ldtui --jump``, ``jump =`` in a hosts file) replaces the destination's ProxyJump. The
connections themselves are made by ``net.connect``, which checks every hop's host key.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from pathlib import Path

import attrs
from asyncssh.config import SSHClientConfig

from ldtui.net.knownhosts import host_pattern

DEFAULT_CONFIG = "~/.ssh/config"
MAX_HOPS = 8
"""More jump hosts than this is taken for a ProxyJump loop."""


class RouteError(Exception):
    """An ssh_config file or a jump list that cannot be used; ``str()`` is the line to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = "config"


@attrs.frozen(kw_only=True)
class Hop:
    """One SSH server on the way, with what the ssh_config says for it."""

    name: str
    """The host name the operator used (an alias, or the address itself)."""
    label: str
    """How the path names it: the jump as the operator spelled it (``ops@bastion``)."""
    host: str
    """The address to connect to (``HostName``)."""
    port: int = 22
    user: str
    identities: tuple[str, ...] = ()
    """``IdentityFile`` entries (expanded); empty: the default keys."""
    identities_only: bool = False
    agent: str | None = None
    """``IdentityAgent``: None for ``$SSH_AUTH_SOCK``, empty for none, else a socket path."""
    connect_timeout: float | None = None
    keepalive_interval: float | None = None
    keepalive_count_max: int | None = None
    host_key_alias: str | None = None

    @property
    def address(self) -> str:
        return host_pattern(self.host, self.port)

    @property
    def key_host(self) -> tuple[str, int]:
        """The name and port its host key is recorded under (``HostKeyAlias`` has no port)."""
        return (self.host_key_alias, 22) if self.host_key_alias else (self.host, self.port)

    def agent_path(self) -> str | None:
        """The ssh-agent socket to take keys from, if there is one to use."""
        path = os.environ.get("SSH_AUTH_SOCK", "") if self.agent in (None, "SSH_AUTH_SOCK") else self.agent
        path = os.path.expanduser(path) if path else ""
        return path if path and os.path.exists(path) else None


@attrs.frozen
class Route:
    """The hosts an SSH connection passes through: ``jumps`` in order, then ``target``."""

    target: Hop
    jumps: tuple[Hop, ...] = ()

    @property
    def path(self) -> str:
        """``direct``, or ``via bastion`` / ``via outer → inner`` (the jumps as spelled)."""
        return "via " + " → ".join(h.label for h in self.jumps) if self.jumps else "direct"


def config_files(explicit: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """The ssh_config files to read: ``explicit`` (``-F FILE``; ``none`` for none), else
    ``~/.ssh/config`` when it exists."""
    if explicit is not None:
        if str(explicit) == "none":
            return ()
        path = Path(explicit).expanduser()
        try:
            with open(path, encoding="utf-8"):
                pass
        except OSError as e:
            raise RouteError(f"Can't open user config file {path}: {e.strerror or e}") from None
        return (path,)
    default = Path(DEFAULT_CONFIG).expanduser()
    return (default,) if os.access(default, os.R_OK) else ()


def split_destination(text: str) -> tuple[str | None, str, int | None]:
    """``[ssh://][USER@]HOST[:PORT]`` (``[::1]:PORT`` for IPv6) → (user, host, port), None
    for what was not given. Raises :class:`RouteError`."""
    rest = text.strip().removeprefix("ssh://")
    user, at, rest = rest.rpartition("@")
    port: str | None = None
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or tail and not tail.startswith(":"):
            raise RouteError(f"Invalid host {text!r}: expected [USER@]HOST[:PORT]")
        port = tail[1:] if tail else None
    elif rest.count(":") == 1:
        host, _, port = rest.partition(":")
    else:
        host = rest
    if not host or at and not user:
        raise RouteError(f"Invalid host {text!r}: expected [USER@]HOST[:PORT]")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise RouteError(f"Invalid port in {text!r}")
    return (user if at else None), host, (int(port) if port is not None else None)


def resolve(name: str, *, files: Sequence[Path] = (), user: str | None = None, port: int | None = None,
            jumps: str | None = None, local_user: str | None = None) -> Route:
    """The route to ``name``. ``user`` and ``port`` are what the operator gave (they beat
    the file's ``User`` and ``Port``); ``jumps`` an explicit comma-separated jump list
    (``none``: go direct whatever the file says). Raises :class:`RouteError`."""
    local_user = local_user or getpass.getuser()
    config = _lookup(name, files, user=user, port=port, local_user=local_user)
    target = _hop(name, name, config, local_user)
    if jumps is None:
        jumps = _proxy_jump(name, config)
    return Route(target=target, jumps=_chain(jumps, files, local_user, depth=0) if jumps else ())


def chain(spec: str, *, files: Sequence[Path] = (), local_user: str | None = None) -> tuple[Hop, ...]:
    """The hops of a jump list as ``-J`` takes it (``ops@bastion:22,inner``)."""
    return _chain(spec, files, local_user or getpass.getuser(), depth=0)


def _lookup(name: str, files: Sequence[Path], *, user: str | None, port: int | None,
            local_user: str) -> SSHClientConfig:
    try:
        return SSHClientConfig.load(None, list(files), False, False, False, local_user,
                                    user if user else (), name, port if port else ())
    except (ValueError, OSError) as e:
        raise RouteError(f"Bad ssh configuration: {e}") from None


def _proxy_jump(name: str, config: SSHClientConfig) -> str:
    jump = config.get("ProxyJump", ())
    if jump:
        return str(jump)
    if config.get("ProxyCommand", ()):
        raise RouteError(f"{name}: ProxyCommand is not supported; use ProxyJump")
    return ""


def _chain(spec: str, files: Sequence[Path], local_user: str, *, depth: int) -> tuple[Hop, ...]:
    if spec.strip().lower() == "none":
        return ()
    if depth > MAX_HOPS:
        raise RouteError(f"Too many jump hosts in {spec!r} (a ProxyJump loop?)")
    hops: list[Hop] = []
    for i, element in enumerate(e.strip() for e in spec.split(",")):
        if not element:
            raise RouteError(f"Invalid jump list {spec!r}: an empty entry")
        user, host, port = split_destination(element)
        config = _lookup(host, files, user=user, port=port, local_user=local_user)
        if i == 0:
            before = _proxy_jump(host, config)
            if before:
                hops += _chain(before, files, local_user, depth=depth + 1)
        hops.append(_hop(host, element, config, local_user))
        if len(hops) > MAX_HOPS:
            raise RouteError(f"Too many jump hosts in {spec!r} (a ProxyJump loop?)")
    return tuple(hops)


def _hop(name: str, label: str, config: SSHClientConfig, local_user: str) -> Hop:
    agent = config.get("IdentityAgent", ())
    alive = config.get("ServerAliveInterval")
    timeout = config.get("ConnectTimeout")
    return Hop(
        name=name, label=label,
        host=str(config.get("Hostname", name)),
        port=int(config.get("Port", 22)),
        user=str(config.get("User") or local_user),
        identities=tuple(os.path.expanduser(str(p)) for p in config.get("IdentityFile", ()) or ()),
        identities_only=bool(config.get("IdentitiesOnly", False)),
        agent=None if agent == () else (str(agent) if agent else ""),
        connect_timeout=float(timeout) if timeout else None,
        # ServerAliveInterval 0 would mean "never notice a dead host": keepalive stays on.
        keepalive_interval=float(alive) if alive else None,
        keepalive_count_max=int(config.get("ServerAliveCountMax")) if config.get("ServerAliveCountMax") else None,
        host_key_alias=str(config.get("HostKeyAlias")) if config.get("HostKeyAlias") else None,
    )
