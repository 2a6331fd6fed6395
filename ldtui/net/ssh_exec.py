"""The ``ldm`` client's own SSH connection, for one ``exec`` of the command.

The route comes from ssh_config and ``-J``; host keys are checked, then the login.

``net.client`` comes here when no shared connection serves the command; a holder
(``net.holder``) comes here to open the connection it shares. Questions go to the
operator's terminal (an unknown host key, a password), and without one the answer is no.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import threading
from typing import Protocol

import asyncssh

from ldtui.net.connect import CONNECT_TIMEOUT, ConnectError, open_connection
from ldtui.net.knownhosts import host_pattern, unknown_key_question
from ldtui.net.ldm_terminal import ClientError, ask_secret
from ldtui.net.shared import write_output
from ldtui.net.sshroute import Hop, RouteError, config_files, resolve

KEEPALIVE = (10.0, 3)


class Destination(Protocol):
    """The manager a command goes to (``net.client.Destination`` has this shape)."""

    host: str
    port: int | None
    user: str | None
    ssh_config: str | None
    jump: str | None
    identity: str | None
    known_hosts: str


def _ask_unknown(host: str, port: int, key: asyncssh.SSHKey) -> bool:
    if not sys.stdin.isatty():
        return False
    sys.stderr.write(unknown_key_question(host, port, key))
    sys.stderr.flush()
    while True:
        answer = sys.stdin.readline().strip().lower()
        if answer in ("yes", "no", ""):
            break
        sys.stderr.write("Please type 'yes' or 'no': ")
        sys.stderr.flush()
    if answer != "yes":
        return False
    sys.stderr.write(f"Warning: Permanently added '{host_pattern(host, port)}' ({key.get_algorithm()}) "
                     "to the list of known hosts.\n")
    return True


async def connect(dest: Destination) -> asyncssh.SSHClientConnection:
    """Log in to ``dest``'s manager as the operator set it up; raises :class:`ClientError`."""
    try:
        route = resolve(dest.host, files=config_files(dest.ssh_config), user=dest.user, port=dest.port,
                        jumps=dest.jump)
    except RouteError as e:
        raise ClientError(f"ldm: {e.message}") from None
    target = route.target
    login_password = os.environ.get("LDM_PASSWORD")
    tty = sys.stdin.isatty()
    ask = None
    if login_password is None and tty:
        def ask() -> str | None:
            return ask_secret(f"{target.user}@{host_pattern(target.host, target.port)}'s password: ")

    def ask_jump(hop: Hop) -> str | None:
        return ask_secret(f"{hop.user}@{hop.address}'s password: ")

    keys = [*([dest.identity] if dest.identity else []), *(p for p in target.identities if os.path.exists(p))]
    try:
        return await open_connection(
            target.host, target.port, target.user, password=login_password, ask_password=ask,
            client_keys=keys or (), known_hosts=dest.known_hosts, on_unknown=_ask_unknown, jumps=route.jumps,
            agent_path=target.agent_path(), host_key_alias=target.host_key_alias,
            connect_timeout=target.connect_timeout or CONNECT_TIMEOUT,
            keepalive_interval=target.keepalive_interval or KEEPALIVE[0],
            keepalive_count_max=target.keepalive_count_max or KEEPALIVE[1],
            ask_jump_password=ask_jump if tty else None,
            agent_identities=keys if target.identities_only else ())
    except ConnectError as e:
        raise ClientError(f"ldm: {e.message}", detail=e.detail) from None


def run_direct(dest: Destination, argv: list[str], env: dict[str, str], *, forward_stdin: bool,
               hung_up: threading.Event) -> int:
    """Run ``ldm ARGV`` over a connection of its own; the exit status, -1 if the connection
    ended first."""
    try:
        return asyncio.run(_run(dest, argv, env, forward_stdin, hung_up))
    except (asyncssh.Error, OSError) as e:
        raise ClientError(f"ldm: connection failed: {getattr(e, 'reason', None) or e}") from None


async def _run(dest: Destination, argv: list[str], env: dict[str, str], forward_stdin: bool,
               hung_up: threading.Event) -> int:
    conn = await connect(dest)
    async with conn:
        process = await conn.create_process(shlex.join(["ldm", *argv]), env=env, encoding=None)
        if forward_stdin:
            _forward_stdin(process)
        else:
            process.stdin.write_eof()
        await asyncio.gather(_copy(process.stdout, sys.stdout.buffer, hung_up),
                             _copy(process.stderr, sys.stderr.buffer, hung_up))
        completed = await process.wait(check=False)
    if completed.exit_status is None or completed.exit_status < 0:
        return -1
    return completed.exit_status


def _forward_stdin(process) -> None:
    loop = asyncio.get_running_loop()

    def deliver(line: bytes | None) -> None:
        # The command may have ended (and its channel closed) before our input did.
        try:
            if line is None:
                process.stdin.write_eof()
            else:
                process.stdin.write(line)
        except (OSError, asyncssh.Error, RuntimeError, BrokenPipeError):
            pass

    def pump() -> None:
        # A daemon thread: a blocking read of a pipe must never keep ldm from exiting.
        try:
            # The descriptor, not sys.stdin: a read of the buffered file still blocked here
            # at exit holds its lock, and the interpreter aborts when it cannot take it.
            for line in iter(lambda: os.read(0, 65536), b""):
                loop.call_soon_threadsafe(deliver, line)
            loop.call_soon_threadsafe(deliver, None)
        except (RuntimeError, OSError, ValueError):
            pass            # ldm is exiting: its loop is closed, or stdin went away

    threading.Thread(target=pump, daemon=True).start()


async def _copy(reader, out, hung_up: threading.Event) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            return
        write_output(out, data, hung_up)
