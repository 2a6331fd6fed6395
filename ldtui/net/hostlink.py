"""A program's link to one ``ldmd`` (the console's view of a host).

One SSH connection — direct, or through the jump hosts of its route — one ``ldtui-rpc``
channel, every call with a timeout. After a drop the link says ``down`` and
:meth:`HostLink.reconnect_forever` brings it back with capped exponential backoff; a jump
host that goes away takes the link down with it (``jump-unreachable`` while it stays away)
and the link comes back with it. Callers never block on a dead host longer than their
timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncssh

from ldtui.core.cmd_migrate import MigrationRequest, MigrationResult
from ldtui.core.commands import CommandResult
from ldtui.core.errors import LdmError
from ldtui.core.snapshot import HostSnapshot
from ldtui.core.store import converter
from ldtui.net.connect import ConnectError, open_connection
from ldtui.net.rpc import MIGRATE, RpcClient, RpcError, migrate_params, read_migration_result
from ldtui.net.server import RPC_SUBSYSTEM
from ldtui.net.sshroute import Hop

log = logging.getLogger("ldtui.net.hostlink")

CONNECTING, CONNECTED, DOWN = "connecting", "connected", "down"


class LinkDown(Exception):
    """The host cannot be reached right now; ``str()`` says why, in one line, and
    ``code`` in one word (``ConnectError``'s codes, ``version``, ``no-service``, ``lost``)."""

    def __init__(self, message: str, code: str = "lost") -> None:
        super().__init__(message)
        self.code = code


class HostLink:
    def __init__(self, host: str, port: int, user: str, *, password: str | None = None, client_keys=None,
                 known_hosts: str | Path | None = None, label: str | None = None,
                 call_timeout: float = 10.0, connect_timeout: float = 10.0,
                 keepalive_interval: float = 5.0, keepalive_count_max: int = 3,
                 on_state: Callable[[HostLink], None] | None = None, jumps: Sequence[Hop] = (),
                 host_key_alias: str | None = None, agent_path: str | None = None) -> None:
        self.host, self.port, self.user = host, port, user
        self.label = label or f"{user}@{host}:{port}"
        self._password = password
        # Without explicit keys a password-only link must not try ~/.ssh keys first.
        self._client_keys = client_keys if client_keys is not None else (None if password is not None else ())
        self.jumps = tuple(jumps)
        """Jump hosts in front of the manager, in order (as OpenSSH's ProxyJump lists them)."""
        self.host_key_alias = host_key_alias
        self.agent_path = agent_path if self._client_keys is not None else None
        """ssh-agent socket for key login (never for a link that logs in by password)."""
        self.known_hosts = known_hosts
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        self.keepalive = (keepalive_interval, keepalive_count_max)
        self.on_state = on_state
        self.state = DOWN
        self.last_error = ""
        self.last_error_code = ""
        """Why the link is down, in one word (see :class:`LinkDown`)."""
        self._conn: asyncssh.SSHClientConnection | None = None
        self._rpc: RpcClient | None = None
        self._lock = asyncio.Lock()
        self._closing = False

    @property
    def path(self) -> str:
        """``direct``, or ``via bastion`` / ``via outer → inner``: how the link reaches its host."""
        return "via " + " → ".join(h.label for h in self.jumps) if self.jumps else "direct"

    def _set_state(self, state: str, error: str = "", code: str = "") -> None:
        self.state = state
        if error:
            self.last_error = error
            self.last_error_code = code
        if self.on_state:
            try:
                self.on_state(self)
            except Exception:
                log.exception("state callback failed")

    # -- connection ---------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect (or do nothing if connected). Raises :class:`LinkDown` with the reason."""
        async with self._lock:
            if self._rpc is not None and not self._rpc.closed.is_set():
                return
            self._closing = False
            self._set_state(CONNECTING)
            try:
                conn = await open_connection(
                    self.host, self.port, self.user, password=self._password, client_keys=self._client_keys,
                    known_hosts=self.known_hosts, connect_timeout=self.connect_timeout,
                    keepalive_interval=self.keepalive[0], keepalive_count_max=self.keepalive[1],
                    jumps=self.jumps, host_key_alias=self.host_key_alias, agent_path=self.agent_path)
            except ConnectError as e:
                self._set_state(DOWN, e.message, e.code)
                raise LinkDown(e.message, e.code) from None
            try:
                rpc = await self._open_service(conn)
            except LinkDown as e:
                conn.close()
                self._set_state(DOWN, str(e), e.code)
                raise
            self._conn, self._rpc = conn, rpc
            self._set_state(CONNECTED)
            asyncio.get_running_loop().create_task(self._watch(rpc))

    async def _open_service(self, conn: asyncssh.SSHClientConnection):
        """What this link talks to over ``conn`` once logged in: the ``ldtui-rpc`` channel,
        started. Anything with ``closed`` (an event), ``close_reason`` and ``close()`` does;
        raises :class:`LinkDown` when the host has no such service."""
        try:
            writer, reader, _ = await asyncio.wait_for(
                conn.open_session(subsystem=RPC_SUBSYSTEM, encoding=None), self.connect_timeout)
            rpc = RpcClient(reader, writer)
            await rpc.start(timeout=self.connect_timeout)
        except (RpcError, asyncssh.Error, OSError, TimeoutError) as e:
            if isinstance(e, RpcError) and e.code == "version":
                raise LinkDown(f"{self.label}: incompatible manager: {e.message}", "version") from None
            raise LinkDown(f"{self.label}: no ldtui-rpc service: {getattr(e, 'message', None) or e}",
                           "no-service") from None
        return rpc

    async def _watch(self, rpc: RpcClient) -> None:
        await rpc.closed.wait()
        if self._rpc is rpc and not self._closing:
            self._rpc = None
            if self._conn:
                self._conn.close()
                self._conn = None
            self._set_state(DOWN, f"{self.label}: connection lost ({rpc.close_reason or 'closed'})", "lost")

    async def close(self) -> None:
        self._closing = True
        rpc, conn = self._rpc, self._conn
        self._rpc = self._conn = None
        if rpc:
            await rpc.close()
        if conn:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), 5)
            except (TimeoutError, Exception):
                pass
        self._set_state(DOWN)

    async def reconnect_forever(self, *, first_delay: float = 0.5, max_delay: float = 15.0) -> None:
        """Keep the link up until :meth:`close`; run it as a task and cancel it to stop."""
        delay = first_delay
        while not self._closing:
            if self.state != CONNECTED:
                try:
                    await self.connect()
                    delay = first_delay
                except LinkDown as e:
                    log.info("%s", e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, max_delay)
                    continue
            rpc = self._rpc
            if rpc is not None:
                await rpc.closed.wait()
            # Let _watch record the drop before trying again.
            await asyncio.sleep(0)

    # -- calls --------------------------------------------------------------------------
    async def _call(self, method: str, params: dict | None = None, *, timeout: float | None = None):
        rpc = self._rpc
        if rpc is None or rpc.closed.is_set():
            raise LinkDown(self.last_error or f"{self.label}: not connected", self.last_error_code or "lost")
        try:
            return await rpc.call(method, params, timeout=timeout or self.call_timeout)
        except RpcError as e:
            if e.code in ("disconnected", "timeout"):
                raise LinkDown(f"{self.label}: {e.message}", "timeout" if e.code == "timeout" else "lost") from None
            # The manager refused (not authorized, no such domain): its own error value.
            raise LdmError(e.code, e.message) from None

    async def ping(self) -> dict:
        return await self._call("ping")

    async def snapshot(self) -> HostSnapshot:
        raw = await self._call("snapshot")
        return converter.structure(raw, HostSnapshot)

    async def run(self, argv: list[str], *, password: str | None = None,
                  timeout: float | None = None) -> CommandResult:
        """``ldm ARGV`` on the host as this link's user. A migration may take long: pass a timeout."""
        raw = await self._call("run", {"argv": list(argv), "password": password}, timeout=timeout)
        return CommandResult(stdout=raw["stdout"], stderr=raw["stderr"], exit_code=int(raw["exit_code"]))

    async def migrate(self, request: MigrationRequest, *, password: str | None = None,
                      timeout: float | None = None) -> MigrationResult:
        """Perform ``request`` on the host as this link's user and say what became of it; a
        migration may take long: pass a timeout. A manager too old to take a request value
        refuses with the code ``no-such-method`` (its ``run`` still takes the command line)."""
        raw = await self._call(MIGRATE, migrate_params(request, password), timeout=timeout)
        return read_migration_result(raw)
