"""The channel between two managers that a migration runs over (SPEC G-2, S-3, S-4).

The source ``ldmd`` logs in to the target ``ldmd`` over SSH as the operator's target user
(password from ``ldm migrate-domain``), after checking the target's host key against the
host's known_hosts file, and opens the ``ldtui-rpc`` subsystem. One request,
``migration.receive``, then carries the migration's frames (``core.migration.codec``) both
ways as BINARY frames until the target's engine is done. SSH keepalive (2 s × 3) notices a
dead peer; every read has a timeout.

The channel is tuned for throughput (B-2), by measurement on loopback (docs/PERFORMANCE.md):
asyncssh's default 2 MiB window and 32 KiB packets carry ~0.33 GB/s of AES-GCM; an 8 MiB
window and 256 KiB packets ~0.6 GB/s (16 MiB adds nothing; 64 KiB packets lose a fifth).
The window is the receiver's: ``ldmd``'s server uses :data:`CHANNEL_WINDOW` too.

Crypto units (SPEC B-2, the seed's note that MAUs in the primary domains speed migration
up): a T2's MAU is an AES engine; here AES-NI plays its part. When the source's primary
domain holds crypto units the link offers AES-GCM first (hardware AES, ~0.6 GB/s here);
without them ChaCha20-Poly1305 (a software cipher, ~0.4 GB/s here), as a manager without
an AES engine would choose. The speed-up is measured, not asserted: both ciphers really run.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncssh

from ldtui.net.knownhosts import KNOWN, KnownHosts, host_pattern
from ldtui.net.rpc import RpcClient, RpcError

log = logging.getLogger("ldtui.net.peer")

PEER_METHOD = "migration.receive"
REPORT_METHOD = "migration.report"
SUBSYSTEM = "ldtui-rpc"
CHANNEL_WINDOW = 8 << 20
CHANNEL_MAX_PACKET = 256 << 10
CIPHERS_WITH_CRYPTO_UNITS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com")
CIPHERS_SOFTWARE = ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
KEEPALIVE = (2.0, 3)
"""Seconds between keepalives and how many may go unanswered: a dead peer shows within ~6 s."""
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
        frame = self.poll()
        if frame is not None:
            return frame
        if self.closed:
            return None
        get = asyncio.ensure_future(self.rpc.binary.get())
        lost = asyncio.ensure_future(self.rpc.closed.wait())
        try:
            done, _ = await asyncio.wait({get, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not get.done():
                get.cancel()
        if get in done:
            return get.result()
        if lost in done:
            return self.poll()
        raise TimeoutError

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


async def open_peer_link(hostname: str, peers: dict[str, tuple[str, int]], user: str, password: str, *,
                         known_hosts: str | Path | None, keepalive: tuple[float, int] = KEEPALIVE,
                         timeout: float = CONNECT_TIMEOUT, jump: tuple[str, int, str] | None = None,
                         jump_key=None, crypto_units: bool = True, params: dict | None = None) -> PeerLink:
    """Log in to ``hostname``'s manager and open the migration request.

    ``peers`` maps host names to (address, port) — the host's [peers] table. ``jump`` is an
    optional (address, port, user) of an SSH jump host (asyncssh ``tunnel=``), logged in to
    with ``jump_key`` (this host's own key) and checked against ``known_hosts``.
    ``crypto_units``: this host's primary has MAUs, so AES-GCM leads the cipher list.
    ``params``: what the source asks of the migration's data path (streams, cipher, …).
    """
    conn, rpc = await _connect(hostname, peers, user, password, known_hosts=known_hosts,
                               keepalive=keepalive, timeout=timeout, jump=jump, jump_key=jump_key,
                               ciphers=CIPHERS_WITH_CRYPTO_UNITS if crypto_units else CIPHERS_SOFTWARE)
    call = asyncio.ensure_future(rpc.call(PEER_METHOD, dict(params or {}), timeout=None))
    return PeerLink(conn, rpc, call)


async def _connect(hostname, peers, user, password, *, known_hosts, keepalive, timeout, jump, jump_key=None,
                   ciphers=None):
    if hostname not in peers:
        raise PeerUnavailable("unknown-host", f"{hostname} is not in this host's peers table")
    addr, port = peers[hostname]
    known = KnownHosts(known_hosts) if known_hosts else None
    client = _PeerClient(hostname, addr, port, known)
    tunnel = None
    try:
        if jump is not None:
            tunnel = await _connect_jump(hostname, jump, jump_key, known_hosts, timeout)
        conn = await asyncssh.connect(
            addr, port, tunnel=tunnel, username=user, password=password, client_factory=lambda: client,
            known_hosts=([], [], []), client_keys=None, agent_path=None, preferred_auth="password",
            connect_timeout=timeout, keepalive_interval=keepalive[0], keepalive_count_max=keepalive[1],
            config=None, window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET,
            **({"encryption_algs": list(ciphers)} if ciphers else {}))
    except asyncssh.HostKeyNotVerifiable:
        raise PeerUnavailable("host-key", f"Host key verification failed: {client.refusal}") from None
    except asyncssh.PermissionDenied:
        raise PeerUnavailable("permission-denied", f"Permission denied for {user} on {hostname}") from None
    except (TimeoutError, asyncio.TimeoutError):
        raise PeerUnavailable("timeout", f"Connection to {hostname} timed out") from None
    except (asyncssh.Error, OSError) as e:
        raise PeerUnavailable("unreachable", f"Cannot connect to {hostname}: "
                                             f"{getattr(e, 'reason', None) or getattr(e, 'strerror', None) or e}") from None
    try:
        writer, reader, _ = await asyncio.wait_for(
            conn.open_session(subsystem=SUBSYSTEM, encoding=None), timeout)
        rpc = RpcClient(reader, writer)
        await rpc.start(timeout=timeout)
    except (asyncssh.Error, OSError, RpcError, TimeoutError) as e:
        conn.close()
        raise PeerUnavailable("no-service", f"{hostname} offers no manager service: {e}") from None
    return conn, rpc


async def _connect_jump(hostname, jump, key, known_hosts, timeout):
    """The SSH connection to the jump host in front of ``hostname`` (S-3)."""
    addr, port, juser = jump
    if not known_hosts:
        raise PeerUnavailable("host-key", f"Host key verification failed: no known_hosts file to check "
                                          f"jump host {addr}:{port} for {hostname}")
    try:
        return await asyncssh.connect(addr, port, username=juser, known_hosts=str(known_hosts),
                                      client_keys=[key] if key is not None else None, agent_path=None,
                                      password=None, connect_timeout=timeout, config=None)
    except asyncssh.HostKeyNotVerifiable:
        raise PeerUnavailable("host-key", f"Host key verification failed for jump host {addr}:{port}") from None
    except asyncssh.PermissionDenied:
        raise PeerUnavailable("unreachable", f"Cannot connect to {hostname}: jump host {addr}:{port} refused "
                                             f"this host's key for {juser}") from None


async def report_from(hostname: str, peers, user: str, password: str, name: str, *,
                      known_hosts, timeout: float = CONNECT_TIMEOUT, jump=None, jump_key=None) -> dict:
    """Ask ``hostname``'s manager what it knows of domain ``name`` (the recovery wizard, T-6)."""
    conn, rpc = await _connect(hostname, peers, user, password, known_hosts=known_hosts,
                               keepalive=KEEPALIVE, timeout=timeout, jump=jump, jump_key=jump_key)
    try:
        return await rpc.call(REPORT_METHOD, {"name": name}, timeout=timeout)
    finally:
        await rpc.close()
        conn.close()
