"""Opening an SSH connection to an ``ldmd``, directly or through jump hosts.

Each host on the way — every jump host, then the manager — has its key checked before any
password leaves this machine, against the same known_hosts file: an unknown host is put to
``on_unknown`` (the ``ldm`` client asks the operator; programs refuse), a changed key is
always refused with OpenSSH's warning. A jump host is logged in to with its own
ssh_config identities, ssh-agent keys or the default keys, never with the manager's
password. Failures become :class:`ConnectError` with one line an operator can act on.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncssh

from ldtui.net.knownhosts import CHANGED, KNOWN, KnownHosts, changed_key_warning, host_pattern
from ldtui.net.sshroute import Hop

CONNECT_TIMEOUT = 10.0


class ConnectError(Exception):
    """Could not reach or log in to a host; ``str()`` is the line to show.

    ``code`` says why in one word a program can act on: ``refused``, ``unresolvable``,
    ``unreachable``, ``timeout``, ``permission-denied``, ``host-key-changed``,
    ``host-key-unknown``, ``host-key``, ``jump-unreachable`` (a jump host on the way could
    not be reached) or ``connect`` (any other SSH failure).
    """

    def __init__(self, message: str, *, detail: str = "", code: str = "connect") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        """Extra lines printed before the message (the changed-key warning block)."""
        self.code = code


UnknownKeyHandler = Callable[[str, int, "asyncssh.SSHKey"], bool]
"""Asked about a host seen for the first time: (name, port, key) → record it and go on?"""


class _Client(asyncssh.SSHClient):
    def __init__(self, host: str, port: int, known: KnownHosts | None, on_unknown: UnknownKeyHandler | None,
                 password: str | None, ask_password: Callable[[], str | None] | None) -> None:
        self.host, self.port = host, port
        self.known = known
        self.on_unknown = on_unknown
        self.password = password
        self.ask_password = ask_password
        self.refusal: ConnectError | None = None
        self._password_tries = 0

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        if self.known is None:
            return True
        verdict = self.known.check(self.host, self.port, key)
        if verdict == KNOWN:
            return True
        if verdict == CHANGED:
            self.refusal = ConnectError(f"Host key verification failed for {host_pattern(self.host, self.port)}",
                                        detail=changed_key_warning(self.host, self.port, key, self.known),
                                        code="host-key-changed")
            return False
        if self.on_unknown is not None and self.on_unknown(self.host, self.port, key):
            self.known.add(self.host, self.port, key)
            return True
        self.refusal = ConnectError(
            f"Host key verification failed: {host_pattern(self.host, self.port)} is not in {self.known.path}",
            code="host-key-unknown")
        return False

    def password_auth_requested(self) -> str | None:
        self._password_tries += 1
        if self.password is not None:
            # A given password is tried once: repeating a wrong one only feeds the throttle.
            return self.password if self._password_tries == 1 else None
        if self.ask_password is not None and self._password_tries <= 3:
            return self.ask_password()
        return None


async def open_connection(host: str, port: int, user: str, *, password: str | None = None,
                          ask_password: Callable[[], str | None] | None = None,
                          client_keys=None, known_hosts: str | Path | None = None,
                          on_unknown: UnknownKeyHandler | None = None,
                          connect_timeout: float = CONNECT_TIMEOUT, keepalive_interval: float = 10.0,
                          keepalive_count_max: int = 3, jumps: Sequence[Hop] = (),
                          agent_path: str | None = None, host_key_alias: str | None = None,
                          ask_jump_password: Callable[[Hop], str | None] | None = None,
                          agent_identities: Sequence[str] = ()) -> asyncssh.SSHClientConnection:
    """Connect and log in, through ``jumps`` in order when there are any.

    ``client_keys``: key files or keys; () loads ~/.ssh's; None uses none (and no agent).
    ``agent_path``: an ssh-agent socket whose keys are offered before ``client_keys``.
    ``host_key_alias``: the name the manager's key is recorded under instead of its address.
    ``ask_jump_password`` asks for a jump host's password (the manager's never goes there).
    ``agent_identities``: only the agent's keys for these key files (``IdentitiesOnly``).
    """
    agent = {"agent_path": agent_path if client_keys is not None else None}
    if agent_identities and agent["agent_path"]:
        agent = _only(agent_identities, agent["agent_path"])
    known = KnownHosts(known_hosts) if known_hosts is not None else None
    tunnel = await _tunnel(jumps, known=known, on_unknown=on_unknown, connect_timeout=connect_timeout,
                           keepalive=(keepalive_interval, keepalive_count_max), jump_keys=(),
                           ask_password=ask_jump_password, use_agent=True)
    try:
        key_host, key_port = (host_key_alias, 22) if host_key_alias else (host, port)
        client = _Client(key_host, key_port, known, on_unknown, password, ask_password)
        what = host_pattern(host, port)
        conn = await _connect(
            client, what, host, port, tunnel=tunnel, via=jumps[-1] if jumps else None, unreachable="unreachable",
            username=user, client_keys=client_keys, **agent,
            preferred_auth="publickey,password", connect_timeout=connect_timeout,
            keepalive_interval=keepalive_interval, keepalive_count_max=keepalive_count_max)
    except BaseException:
        if tunnel is not None:
            tunnel.close()
        raise
    if tunnel is not None:
        # Closing the connection to the manager closes the jump connections under it.
        conn.set_tunnel(tunnel)
    return conn


async def open_tunnel(jumps: Sequence[Hop], *, known_hosts: str | Path | None,
                      connect_timeout: float = CONNECT_TIMEOUT, keepalive: tuple[float, int] = (10.0, 3),
                      jump_keys: Sequence = (), use_agent: bool = True) -> asyncssh.SSHClientConnection | None:
    """The SSH connection to the last of ``jumps``, through the others (None for none):
    what a program reaches a host behind them through. Unknown jump host keys are refused.
    ``jump_keys`` are offered to every jump host after its own identities (a manager's host
    key, for its peer links). Raises :class:`ConnectError`."""
    known = KnownHosts(known_hosts) if known_hosts is not None else None
    return await _tunnel(jumps, known=known, on_unknown=None, connect_timeout=connect_timeout, keepalive=keepalive,
                         jump_keys=jump_keys, ask_password=None, use_agent=use_agent)


async def _tunnel(jumps: Sequence[Hop], *, known, on_unknown, connect_timeout, keepalive, jump_keys, ask_password,
                  use_agent) -> asyncssh.SSHClientConnection | None:
    tunnel: asyncssh.SSHClientConnection | None = None
    previous: Hop | None = None
    for hop in jumps:
        tunnel = await _open_jump(hop, tunnel, previous, known=known, on_unknown=on_unknown, keepalive=keepalive,
                                  connect_timeout=connect_timeout, jump_keys=jump_keys, ask_password=ask_password,
                                  use_agent=use_agent)
        previous = hop
    return tunnel


async def _open_jump(hop: Hop, tunnel, previous: Hop | None, *, known, on_unknown, keepalive, connect_timeout,
                     jump_keys, ask_password, use_agent) -> asyncssh.SSHClientConnection:
    host, port = hop.key_host
    asker = (lambda: ask_password(hop)) if ask_password is not None else None
    client = _Client(host, port, known, on_unknown, None, asker)
    keys = [*(p for p in hop.identities if os.path.exists(p)), *jump_keys]
    agent = {"agent_path": hop.agent_path() if use_agent else None}
    if hop.identities_only and agent["agent_path"]:
        agent = _only(hop.identities, agent["agent_path"])
    try:
        # An alias is named as the operator wrote it, with its address; an address once.
        what = f"jump host {hop.label}" if hop.name != hop.host else f"jump host {hop.address}"
        conn = await _connect(
            client, what, hop.host, hop.port, tunnel=tunnel, via=previous,
            unreachable="jump-unreachable", username=hop.user,
            # No identity of its own: the default keys, as OpenSSH offers them.
            client_keys=keys or (), **agent,
            preferred_auth="publickey,password" if asker else "publickey",
            connect_timeout=hop.connect_timeout or connect_timeout,
            keepalive_interval=hop.keepalive_interval or keepalive[0],
            keepalive_count_max=hop.keepalive_count_max or keepalive[1])
    except BaseException:
        if tunnel is not None:
            tunnel.close()
        raise
    if tunnel is not None:
        conn.set_tunnel(tunnel)
    return conn


async def _connect(client: _Client, what: str, host: str, port: int, *, tunnel, via: Hop | None,
                   unreachable: str, **options) -> asyncssh.SSHClientConnection:
    """One hop; failures say which host and, behind a jump, through which one."""
    through = f" via {via.label}" if via is not None else ""
    user = options["username"]
    try:
        return await asyncssh.connect(
            host, port, tunnel=tunnel, client_factory=lambda: client,
            known_hosts=([], [], []) if client.known is not None else None,
            password=None, ignore_encrypted=True, config=None, **options)
    except asyncssh.HostKeyNotVerifiable:
        raise client.refusal or ConnectError(f"Host key verification failed for {host_pattern(host, port)}",
                                             code="host-key") from None
    except asyncssh.PermissionDenied:
        target = f"{user}@{host_pattern(host, port)}"
        if what.startswith("jump host"):
            target += f" ({what})"
        raise ConnectError(f"Permission denied for {target}", code="permission-denied") from None
    except (TimeoutError, asyncio.TimeoutError):
        raise ConnectError(f"Connection to {_named(what, host, port)}{through} timed out",
                           code="timeout" if unreachable == "unreachable" else unreachable) from None
    except asyncssh.ChannelOpenError as e:
        # The jump host in front could not open the way on: the host behind it is unreachable.
        code = "refused" if "refused" in (e.reason or "").lower() else "unreachable"
        raise ConnectError(f"Cannot connect to {_named(what, host, port)}{through}: {e.reason}",
                           code=code if unreachable == "unreachable" else unreachable) from None
    except asyncssh.Error as e:
        code = "connect" if unreachable == "unreachable" else unreachable
        raise ConnectError(f"Connection to {_named(what, host, port)}{through} failed: {e.reason}",
                           code=code) from None
    except socket.gaierror as e:
        raise ConnectError(f"Cannot resolve {host}: {e.strerror or e}",
                           code="unresolvable" if unreachable == "unreachable" else unreachable) from None
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else (e.strerror or str(e))
        code = "refused" if e.errno == errno.ECONNREFUSED else "unreachable"
        raise ConnectError(f"Cannot connect to {_named(what, host, port)}{through}: {reason}",
                           code=code if unreachable == "unreachable" else unreachable) from None


def _only(identities: Sequence[str], agent_path: str | None) -> dict:
    """``IdentitiesOnly``: of the agent's keys, only those whose ``.pub`` is beside a named
    key file; none at all when no such file is there to say which."""
    pubs = [f"{p}.pub" for p in identities if os.path.exists(f"{p}.pub")]
    return {"agent_path": agent_path, "agent_identities": pubs} if pubs else {"agent_path": None}


def _named(what: str, host: str, port: int) -> str:
    address = host_pattern(host, port)
    return what if what.endswith(address) else f"{what} ({address})"
