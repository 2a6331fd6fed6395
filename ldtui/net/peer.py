"""The channel between two managers that a migration runs over.

The source ``ldmd`` logs in to the target ``ldmd`` over SSH as the operator's target user
(password from ``ldm migrate-domain``), after checking the target's host key against the
host's known_hosts file, and opens the ``ldtui-rpc`` subsystem. The way there is the
target's :func:`peer_route`: its ``[peers]`` address (or the host's ssh_config's HostName
and Port), through the jump hosts of ``[jumps]`` or the ssh_config's ProxyJump, each
logged in to with its IdentityFile or this host's own key and its key checked against the
same known_hosts file. One request,
``migration.receive``, then carries the migration's frames (``core.migration.codec``) both
ways as BINARY frames until the target's engine is done. SSH keepalive (2 s × 3) notices a
dead peer; every read has a timeout.

The channel is tuned for throughput, by measurement on loopback: a larger window and
larger packets than asyncssh's defaults nearly double what one channel carries, and larger
still adds nothing (the figures: docs/PERFORMANCE.md, "Measurements behind the choices").
The window is the receiver's: ``ldmd``'s server uses :data:`CHANNEL_WINDOW` too.

Crypto units (the Logical Domains 1.2 guide's note that MAUs in the primary domains speed
migration up): a T2's MAU is an AES engine; here AES-NI plays its part. When the source's
primary domain holds crypto units the link offers AES-GCM first (hardware AES, the faster of
the two); without them ChaCha20-Poly1305 (a software cipher), as a manager without an AES
engine would choose. The speed-up is measured, not asserted: both ciphers really run.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncssh

import attrs

from ldtui.net.connect import ConnectError, open_tunnel
from ldtui.net.inbox import next_or_closed
from ldtui.net.knownhosts import KNOWN, KnownHosts, host_pattern
from ldtui.net.rpc import RpcClient, RpcError
from ldtui.net.sshroute import Route, RouteError, chain, config_files, resolve

log = logging.getLogger("ldtui.net.peer")

PEER_METHOD = "migration.receive"
REPORT_METHOD = "migration.report"
SUBSYSTEM = "ldtui-rpc"
CHANNEL_WINDOW = 8 << 20
CHANNEL_MAX_PACKET = 256 << 10
CIPHERS_WITH_CRYPTO_UNITS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com")
CIPHERS_SOFTWARE = ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
KEEPALIVE = (2.0, 3)
"""Seconds between keepalives and how many may go unanswered: a dead peer shows once that
many in a row went unanswered."""
CONNECT_TIMEOUT = 10.0


class PeerUnavailable(Exception):
    """The target manager cannot be reached or refused the login; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _PeerClient(asyncssh.SSHClient):
    """Checks the target's host key under the name the operator typed and its address."""

    def __init__(self, hostname: str, addr: str, port: int, known: KnownHosts | None) -> None:
        self.hostname, self.addr, self.port = hostname, addr, port
        self.known = known
        self.refusal = ""

    def validate_host_public_key(self, host, addr, port, key) -> bool:
        if self.known is None:
            self.refusal = "no known_hosts file is configured for peer managers"
            return False
        # Like OpenSSH's HostKeyAlias: the peer may sit behind a relay or a tunnel whose
        # address says nothing; its name is what the key was recorded under.
        verdicts = [self.known.check(self.hostname, 22, key), self.known.check(self.addr, self.port, key)]
        if KNOWN in verdicts:
            return True
        self.refusal = (f"host key of {self.hostname} ({host_pattern(self.addr, self.port)}) "
                        f"{'has changed' if 'changed' in verdicts else 'is not known'}")
        return False


class PeerLink:
    """The source's end: send frames, receive frames, notice when the target is gone."""

    def __init__(self, conn, rpc: RpcClient, call: asyncio.Task) -> None:
        self.conn = conn
        self.rpc = rpc
        self.call = call

    @property
    def closed(self) -> bool:
        return self.rpc.closed.is_set()

    async def send(self, frame: bytes, *more) -> None:
        """One frame: ``frame`` followed by ``more`` (a payload written as it is)."""
        await self.rpc.send_binary(frame, *more)

    def poll(self) -> bytes | None:
        """A frame that has already arrived, without waiting."""
        try:
            return self.rpc.binary.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def recv(self, timeout: float) -> bytes | None:
        """The next frame; None once the link is gone. Raises TimeoutError after ``timeout``."""
        return await next_or_closed(self.rpc.binary, self.rpc.closed, timeout=timeout)

    async def finish(self, timeout: float = 5.0) -> dict | None:
        """The target's own account of the end (its reply to ``migration.receive``)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.call), timeout)
        except (TimeoutError, RpcError, asyncio.CancelledError):
            return None

    async def close(self) -> None:
        if not self.call.done():
            self.call.cancel()
        await asyncio.gather(self.call, return_exceptions=True)
        await self.rpc.close()
        self.conn.close()
        try:
            await asyncio.wait_for(self.conn.wait_closed(), 5.0)
        except (TimeoutError, Exception):
            pass


def has_crypto_units(manager) -> bool:
    """Whether this host's control domain holds crypto units (MAUs)."""
    try:
        primary = next((d for d in manager.domains() if d.control), None)
    except Exception:
        return False
    return bool(primary is not None and primary.bindings is not None and primary.bindings.maus)


def peer_route(hostname: str, peers: dict[str, tuple[str, int]], *, jumps: dict[str, str] | None = None,
               ssh_config: str | Path | None = None) -> Route:
    """How this host reaches ``hostname``'s manager.

    The address is the ``[peers]`` entry, else the ssh_config's HostName and Port for that
    name; the jump hosts are the ``[jumps]`` entry, else the ssh_config's ProxyJump (jump
    hosts' own User, Port, IdentityFile and keepalive from the ssh_config too). Raises
    :class:`PeerUnavailable` (``unknown-host``) for a host neither names.
    """
    try:
        files = config_files(ssh_config) if ssh_config else ()
        listed = (jumps or {}).get(hostname)
        if not files:
            if hostname not in peers:
                raise PeerUnavailable("unknown-host", f"{hostname} is not in this host's peers table")
            addr, port = peers[hostname]
            return Route(target=resolve(addr, port=port).target, jumps=chain(listed) if listed else ())
        route = resolve(hostname, files=files, jumps=listed)
    except RouteError as e:
        raise PeerUnavailable("unknown-host", f"{hostname}: {e.message}") from None
    if hostname in peers:
        addr, port = peers[hostname]
        return attrs.evolve(route, target=attrs.evolve(route.target, host=addr, port=port))
    if (route.target.host, route.target.port) == (hostname, 22):
        raise PeerUnavailable("unknown-host", f"{hostname} is neither in this host's peers table nor in {files[0]}")
    return route


async def open_peer_link(hostname: str, peers: dict[str, tuple[str, int]], user: str, password: str, *,
                         known_hosts: str | Path | None, keepalive: tuple[float, int] = KEEPALIVE,
                         timeout: float = CONNECT_TIMEOUT, route: Route | None = None,
                         jumps: dict[str, str] | None = None, ssh_config: str | Path | None = None,
                         jump_key=None, crypto_units: bool = True, params: dict | None = None) -> PeerLink:
    """Log in to ``hostname``'s manager and open the migration request.

    ``peers`` maps host names to (address, port) — the host's [peers] table; ``route`` is
    :func:`peer_route` of it (computed from ``peers``, ``jumps`` and ``ssh_config`` when not
    given). Jump hosts are logged in to with their ssh_config identities and ``jump_key``
    (this host's own key), their keys checked against ``known_hosts``.
    ``crypto_units``: this host's primary has MAUs, so AES-GCM leads the cipher list.
    ``params``: what the source asks of the migration's data path (streams, cipher, …).
    """
    route = route or peer_route(hostname, peers, jumps=jumps, ssh_config=ssh_config)
    conn, rpc = await _connect(hostname, route, user, password, known_hosts=known_hosts,
                               keepalive=keepalive, timeout=timeout, jump_key=jump_key,
                               ciphers=CIPHERS_WITH_CRYPTO_UNITS if crypto_units else CIPHERS_SOFTWARE)
    call = asyncio.ensure_future(rpc.call(PEER_METHOD, dict(params or {}), timeout=None))
    return PeerLink(conn, rpc, call)


async def _connect(hostname, route: Route, user, password, *, known_hosts, keepalive, timeout, jump_key=None,
                   ciphers=None):
    addr, port = route.target.host, route.target.port
    known = KnownHosts(known_hosts) if known_hosts else None
    client = _PeerClient(hostname, addr, port, known)
    tunnel = None
    try:
        if route.jumps:
            tunnel = await _connect_jumps(hostname, route, jump_key, known_hosts, timeout, keepalive)
        conn = await asyncssh.connect(
            addr, port, tunnel=tunnel, username=user, password=password, client_factory=lambda: client,
            known_hosts=([], [], []), client_keys=None, agent_path=None, preferred_auth="password",
            connect_timeout=timeout, keepalive_interval=keepalive[0], keepalive_count_max=keepalive[1],
            config=None, window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET,
            **({"encryption_algs": list(ciphers)} if ciphers else {}))
    except asyncssh.HostKeyNotVerifiable:
        _close(tunnel)
        raise PeerUnavailable("host-key", f"Host key verification failed: {client.refusal}") from None
    except asyncssh.PermissionDenied:
        _close(tunnel)
        raise PeerUnavailable("permission-denied", f"Permission denied for {user} on {hostname}") from None
    except (TimeoutError, asyncio.TimeoutError):
        _close(tunnel)
        raise PeerUnavailable("timeout", f"Connection to {hostname} timed out") from None
    except (asyncssh.Error, OSError) as e:
        _close(tunnel)
        raise PeerUnavailable("unreachable", f"Cannot connect to {hostname}: "
                                             f"{getattr(e, 'reason', None) or getattr(e, 'strerror', None) or e}") from None
    if tunnel is not None:
        conn.set_tunnel(tunnel)     # the jump connections close with the peer link
    try:
        writer, reader, _ = await asyncio.wait_for(
            conn.open_session(subsystem=SUBSYSTEM, encoding=None), timeout)
        rpc = RpcClient(reader, writer)
        await rpc.start(timeout=timeout)
    except (asyncssh.Error, OSError, RpcError, TimeoutError) as e:
        conn.close()
        raise PeerUnavailable("no-service", f"{hostname} offers no manager service: {e}") from None
    return conn, rpc


def _close(tunnel) -> None:
    if tunnel is not None:
        tunnel.close()


async def _connect_jumps(hostname, route: Route, key, known_hosts, timeout, keepalive):
    """The SSH connection to the last jump host in front of ``hostname``."""
    if not known_hosts:
        raise PeerUnavailable("host-key", f"Host key verification failed: no known_hosts file to check "
                                          f"jump host {route.jumps[0].label} for {hostname}")
    try:
        # A daemon takes no keys from an ssh-agent it happens to inherit.
        return await open_tunnel(route.jumps, known_hosts=known_hosts, connect_timeout=timeout, keepalive=keepalive,
                                 jump_keys=[key] if key is not None else (), use_agent=False)
    except ConnectError as e:
        code = "host-key" if e.code.startswith("host-key") else "unreachable"
        raise PeerUnavailable(code, f"Cannot connect to {hostname}: {e.message}") from None


async def report_from(hostname: str, peers, user: str, password: str, name: str, *,
                      known_hosts, timeout: float = CONNECT_TIMEOUT, route: Route | None = None,
                      jump_key=None) -> dict:
    """Ask ``hostname``'s manager what it knows of domain ``name`` (the recovery wizard)."""
    conn, rpc = await _connect(hostname, route or peer_route(hostname, peers), user, password,
                               known_hosts=known_hosts, keepalive=KEEPALIVE, timeout=timeout, jump_key=jump_key)
    try:
        return await rpc.call(REPORT_METHOD, {"name": name}, timeout=timeout)
    finally:
        await rpc.close()
        conn.close()
