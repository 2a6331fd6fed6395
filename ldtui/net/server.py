"""``ldmd``'s SSH endpoint: one Manager behind asyncssh.

Operators log in with a password or a public key registered for them; failed logins are
throttled per user and address. An ``exec`` request runs one ``ldm`` command line (so stock
OpenSSH ``ssh -p PORT user@host ldm list`` works), the ``ldtui-rpc`` subsystem serves the
console and peer managers. Every manager call happens on the event loop's thread, so the
manager never sees two callers at once.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from pathlib import Path
from typing import Any, Protocol

import asyncssh

from ldtui.core.auth import verify_password
from ldtui.core.errors import LdmError
from ldtui.core.hostconfig import HostConfig, apply_seed
from ldtui.core.model import READ
from ldtui.core.store import converter
from ldtui.net import rpc
from ldtui.net.channelio import ChannelIO, CollectedChannelIO, ExecChannelIO
from ldtui.net.names import TARGET_PASSWORD_ENV
from ldtui.net.keys import load_or_create_host_key
from ldtui.net.peer import CHANNEL_MAX_PACKET, CHANNEL_WINDOW
from ldtui.net.peersfile import read_peers_file, read_peers_known_hosts
from ldtui.net.ratelimit import LoginThrottle

RPC_SUBSYSTEM = "ldtui-rpc"


class _HideEnvironmentValues(logging.Filter):
    """asyncssh logs each environment request with its value at debug level; the target
    password travels that way, and passwords are never logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "Env:" in str(record.msg):
            text = record.getMessage()
            record.msg = text.split("=", 1)[0] + "=<hidden>"
            record.args = ()
        return True


_asyncssh_log = logging.getLogger("asyncssh")
if not any(isinstance(f, _HideEnvironmentValues) for f in _asyncssh_log.filters):
    _asyncssh_log.addFilter(_HideEnvironmentValues())


class MigrationService(Protocol):
    """Performs a migration request that ``ldm migrate-domain`` parsed (filled in by net.migrate)."""

    async def perform(self, request: Any, user: str, password: str | None, channel_io: ChannelIO) -> int: ...

    async def migrate(self, request: Any, user: str, password: str | None, channel_io: ChannelIO) -> Any: ...


class Ldmd:
    """One host: its Manager, its SSH endpoint, its guests' clock."""

    def __init__(self, config: HostConfig, state_dir: str | Path, *, listen: tuple[str, int] | None = None,
                 peers: dict[str, tuple[str, int]] | None = None, peers_file: str | Path | None = None,
                 peer_known_hosts: str | Path | None = None,
                 tick_interval: float = 0.1, keepalive_interval: float = 10.0, keepalive_count_max: int = 3,
                 throttle: LoginThrottle | None = None) -> None:
        from ldtui.core.manager import Manager      # heavy: only when a host really starts

        self.config = config
        self.hostname = config.name
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log = logging.getLogger(f"ldtui.ldmd.{config.name}")
        self.listen = listen or (config.listen_host, config.listen_port)
        self._peers: dict[str, tuple[str, int]] = dict(peers if peers is not None else config.peer_map())
        self.peers_file = Path(peers_file) if peers_file else None
        self._peers_stamp: float | None = None
        self.peer_known_hosts = Path(peer_known_hosts) if peer_known_hosts else None
        self.jumps: dict[str, str] = config.jump_map()
        """Peers reached through SSH jump hosts: name → jump list (``ops@bastion:22,inner``).
        This host logs in to jump hosts with their ssh_config identities or its own host key."""
        self.ssh_config: str | None = config.ssh_config or None
        """The host config's ``ssh_config`` for peer links (never the ldmd user's ~/.ssh/config)."""
        self._peer_paths: tuple | None = None
        self.tick_interval = tick_interval
        self.keepalive = (keepalive_interval, keepalive_count_max)
        self.throttle = throttle or LoginThrottle()
        self.host_key = load_or_create_host_key(self.state_dir / "ssh_host_ed25519_key")
        self.manager = Manager(config.machine, self.state_dir)
        apply_seed(self.manager, config)
        self.migration_service: MigrationService | None = None
        """Set by the migration layer; ``ldm migrate-domain`` needs it."""
        self.rpc_methods: dict[str, rpc.Method] = {
            "ping": self._rpc_ping, "snapshot": self._rpc_snapshot, "run": self._rpc_run,
            rpc.MIGRATE: self._rpc_migrate,
        }
        """RPC methods by name; other layers may add their own (peer managers' methods)."""
        self.port = 0
        self._server: asyncssh.SSHAcceptor | None = None
        self._tick_task: asyncio.Task | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA…`` as a known_hosts line wants it."""
        return " ".join(self.host_key.export_public_key("openssh").decode().split()[:2])

    @property
    def peers(self) -> dict[str, tuple[str, int]]:
        """hostname → (address, port) of the other managers, for migrations.

        A peers file (written by ``ldtui-lab`` once every host has its port) is re-read
        whenever it changes, so hosts started one after another all learn each other.
        """
        if self.peers_file is not None:
            try:
                stamp = self.peers_file.stat().st_mtime_ns
            except FileNotFoundError:
                stamp = None
            if stamp is not None and stamp != self._peers_stamp:
                self._peers_stamp = stamp
                self._peers.update(read_peers_file(self.peers_file))
                known = read_peers_known_hosts(self.peers_file)
                if known:
                    self.peer_known_hosts = known
        return dict(self._peers)

    def set_peers(self, peers: dict[str, tuple[str, int]]) -> None:
        self._peers = dict(peers)

    def peer_route(self, name: str):
        """How a migration reaches ``name``'s manager (``net.peer.peer_route``)."""
        from ldtui.net.peer import peer_route

        return peer_route(name, self.peers, jumps=self.jumps, ssh_config=self.ssh_config)

    def peer_paths(self) -> tuple[tuple[str, str], ...]:
        """(peer, ``direct`` / ``via bastion`` / why it cannot be reached) for every peer this
        host names, as the console's migrate form shows them."""
        from ldtui.net.peer import PeerUnavailable

        peers = self.peers
        try:
            stamp = Path(self.ssh_config).stat().st_mtime_ns if self.ssh_config else None
        except OSError:
            stamp = None
        # Asked for by every console's every refresh; the answer changes only with the tables.
        key = (tuple(sorted(peers.items())), tuple(sorted(self.jumps.items())), self.ssh_config, stamp)
        if self._peer_paths is not None and self._peer_paths[0] == key:
            return self._peer_paths[1]
        out = []
        for name in sorted(set(peers) | set(self.jumps)):
            try:
                out.append((name, self.peer_route(name).path))
            except PeerUnavailable as e:
                out.append((name, f"unknown: {e.message}"))
        self._peer_paths = (key, tuple(out))
        return self._peer_paths[1]

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        host, port = self.listen
        self._server = await asyncssh.create_server(
            lambda: _Session(self), host, port, server_host_keys=[self.host_key],
            process_factory=self._process, encoding=None, allow_scp=False,
            keepalive_interval=self.keepalive[0], keepalive_count_max=self.keepalive[1],
            login_timeout=60, agent_forwarding=False, x11_forwarding=False,
            # Receive window and packet size chosen by measurement for the migration data path
            # (net.peer; docs/PERFORMANCE.md, "Measurements behind the choices").
            window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET)
        self.port = self._server.sockets[0].getsockname()[1]
        self._tick_task = asyncio.create_task(self._ticker(), name=f"tick-{self.hostname}")
        self.log.info("ldmd %s listening on %s:%d", self.hostname, host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._tick_task:
            self._tick_task.cancel()
            await asyncio.gather(self._tick_task, return_exceptions=True)
            self._tick_task = None
        if self._server:
            self._server.close()
            for conn in list(self._conns):
                conn.close()
            await self._server.wait_closed()
            self._server = None
        self.manager.close()
        self.log.info("ldmd %s stopped", self.hostname)

    async def _ticker(self) -> None:
        # Guests run in step with wall time; a slow tick just covers a longer interval.
        # A failure that repeats (a full disk under the guests' memory files) is logged
        # once, with its trace, and again only when it changes or goes away.
        failing = ""
        while True:
            try:
                self.manager.tick(time.time())
            except Exception as e:
                now = f"{type(e).__name__}: {e}"
                if now != failing:
                    self.log.exception("tick failed (logged once while it repeats)")
                    failing = now
            else:
                if failing:
                    self.log.info("tick works again after: %s", failing)
                    failing = ""
            await asyncio.sleep(self.tick_interval)

    # -- authentication: password or public key, failures throttled, passwords never logged
    async def check_password(self, username: str, password: str, peer: str) -> bool:
        await asyncio.sleep(self.throttle.delay(username, peer))
        user = self.manager.store.user(username)
        stored = user.password_hash if user else ""
        # Hash even for an unknown user, so the answer's timing does not tell who exists.
        ok = await asyncio.to_thread(verify_password, stored or _DUMMY_HASH, password)
        ok = ok and bool(stored)
        self._record(username, peer, ok, "password")
        return ok

    def check_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self.manager.store.user(username)
        for line in user.keys if user else ():
            try:
                if asyncssh.import_public_key(line).public_data == key.public_data:
                    return True
            except (asyncssh.KeyImportError, ValueError):
                self.log.warning("user %s has an unreadable public key", username)
        return False

    def _record(self, username: str, peer: str, ok: bool, method: str) -> None:
        if ok:
            self.throttle.succeeded(username, peer)
            self.log.info("login %s from %s by %s", username, peer, method)
        else:
            nxt = self.throttle.failed(username, peer)
            self.log.warning("failed %s login for %s from %s; next attempt answered after %.2fs",
                             method, username, peer, nxt)

    # -- sessions ------------------------------------------------------------------------
    async def _process(self, process: asyncssh.SSHServerProcess) -> None:
        user = process.get_extra_info("username")
        try:
            if process.subsystem is not None:
                code = await self._subsystem(process, user)
            elif process.command is None:
                await _err(process, "ldmd: interactive shells are not offered; run 'ssh HOST ldm SUBCOMMAND'\n")
                code = 1
            else:
                code = await self._exec(process, user, process.command)
        except (asyncssh.Error, OSError, BrokenPipeError) as e:
            self.log.info("session of %s ended: %s", user, e)
            return
        except Exception:
            self.log.exception("session of %s failed", user)
            code = 1
            try:
                await _err(process, "ldmd: internal error; see the ldmd log\n")
            except Exception:
                pass
        process.exit(code)

    async def _subsystem(self, process, user: str) -> int:
        if process.subsystem != RPC_SUBSYSTEM:
            await _err(process, f"ldmd: unknown subsystem {process.subsystem!r}\n")
            return 1
        peer = _peer(process)
        await rpc.serve(process.stdin, process.stdout, self.rpc_methods, user=user, peer=peer, local=_local(process))
        return 0

    async def _exec(self, process, user: str, command: str) -> int:
        try:
            argv = shlex.split(command)
        except ValueError as e:
            await _err(process, f"ldm: malformed command line: {e}\n")
            return 1
        if not argv or Path(argv[0]).name != "ldm":
            await _err(process, "ldmd: only ldm commands can be run here, e.g. 'ldm list'\n")
            return 127
        env = process.env or {}
        password = env.get(TARGET_PASSWORD_ENV)
        io = ExecChannelIO(process, password=password)
        watcher = asyncio.create_task(_watch_close(process, io.closed))
        try:
            stdout, stderr, code, request = self._execute(user, argv[1:], password)
            if stdout:
                await io.write(stdout)
            if stderr:
                await io.error(stderr)
            if request is not None:
                code = await self._perform(request, user, password, io)
            return code
        finally:
            watcher.cancel()

    def _execute(self, user: str, argv: list[str], password: str | None):
        from ldtui.core.commands import execute
        result = execute(self.manager, user, argv, password=password, read_file=_read_first_line)
        return result.stdout, result.stderr, result.exit_code, getattr(result, "request", None)

    async def _perform(self, request, user: str, password: str | None, io: ChannelIO) -> int:
        if self.migration_service is None:
            await io.error("ldmd: this manager cannot perform migrations\n")
            return 1
        result = await self.migration_service.perform(request, user, password, io)
        return int(getattr(result, "exit_code", result) or 0)

    # -- RPC methods ---------------------------------------------------------------------
    async def _rpc_ping(self, params: dict, ctx: rpc.RpcContext) -> dict:
        return {"hostname": self.hostname, "time": time.time()}

    async def _rpc_snapshot(self, params: dict, ctx: rpc.RpcContext) -> dict:
        self.manager.authorize(ctx.user, READ)
        snap = converter.unstructure(self.manager.snapshot())
        snap["peer_paths"] = [list(p) for p in self.peer_paths()]
        return snap

    async def _rpc_run(self, params: dict, ctx: rpc.RpcContext) -> dict:
        argv = params.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise LdmError("usage", "run needs argv: a list of strings")
        password = params.get("password")
        stdout, stderr, code, request = self._execute(ctx.user, argv, password)
        if request is not None:
            io = CollectedChannelIO(password=password, send_event=ctx.send_event)
            watcher = asyncio.create_task(_mirror(ctx.closed, io.closed))
            try:
                code = await self._perform(request, ctx.user, password, io)
            finally:
                watcher.cancel()
            stdout += "".join(io.stdout)
            stderr += "".join(io.stderr)
        return {"stdout": stdout, "stderr": stderr, "exit_code": code}

    async def _rpc_migrate(self, params: dict, ctx: rpc.RpcContext) -> dict:
        """A console's migration request: checked as ``ldm migrate-domain`` checks its
        command line, performed by the migration service, answered with its result."""
        from ldtui.core.cmd_migrate import MigrationResult, MigrationStatus, check_migration
        request, password = rpc.read_migrate_params(params)
        checked = check_migration(self.manager, ctx.user, request, password=password, read_file=_read_first_line)
        if isinstance(checked, MigrationResult):
            return converter.unstructure(checked)
        if self.migration_service is None:
            return converter.unstructure(MigrationResult.refusal(
                MigrationStatus.INVALID, ["ldmd: this manager cannot perform migrations"]))
        io = CollectedChannelIO(password=password, send_event=ctx.send_event)
        watcher = asyncio.create_task(_mirror(ctx.closed, io.closed))
        try:
            result = await self.migration_service.migrate(checked, ctx.user, password, io)
        finally:
            watcher.cancel()
        return converter.unstructure(result)


class _Session(asyncssh.SSHServer):
    """One SSH connection's authentication."""

    def __init__(self, ldmd: Ldmd) -> None:
        self.ldmd = ldmd
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = "?"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.peer = (conn.get_extra_info("peername") or ("?",))[0]
        self.ldmd._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn:
            self.ldmd._conns.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        return await self.ldmd.check_password(username, password, self.peer)

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Called twice per key (query, then signed proof); only the proof counts as a login.
        return self.ldmd.check_public_key(username, key)


_DUMMY_HASH = "scrypt$16384$8$1$00000000000000000000000000000000$" + "00" * 32


def _peer(process) -> str:
    return (process.get_extra_info("peername") or ("?",))[0]


def _local(process) -> str:
    """This end's IP address of the client's connection ('' on a Unix socket, behind sshd)."""
    name = process.get_extra_info("sockname")
    return name[0] if isinstance(name, tuple) and name and isinstance(name[0], str) else ""


async def _err(process, text: str) -> None:
    process.stderr.write(text.encode("utf-8"))
    await process.stderr.drain()


async def _watch_close(process, event: asyncio.Event) -> None:
    await process.channel.wait_closed()
    event.set()


async def _mirror(src: asyncio.Event, dst: asyncio.Event) -> None:
    await src.wait()
    dst.set()


def _read_first_line(path: str) -> str:
    """``ssh host ldm migrate -p FILE``: the first line of a file on this host, as 1.3's ``ldm``
    (which runs on the control domain) reads it. The ``ldm`` client reads ``-p`` locally instead."""
    from ldtui.net.secretfile import PasswordFileError, read_password_file
    try:
        return read_password_file(path)
    except PasswordFileError as e:
        raise LdmError(e.code, e.message) from None
