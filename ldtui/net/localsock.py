"""``ldmd --socket PATH``: the same ``ldm`` exec and ``ldtui-rpc`` service on a unix socket.

It is for hosts that keep their own OpenSSH server as the only way in.

sshd authenticates the operator as a system user and runs ``ldmd-bridge`` as that user (a
``Subsystem ldtui-rpc`` line, or ``ForceCommand`` for ``ssh host ldm …``). The bridge
connects here. Who is calling is taken from the kernel (``SO_PEERCRED``), never from what
the bridge says: the system user's name is the ``ldm`` user name, and that user's
authorizations in the host's database decide what it may do, exactly as over ldmd's own
SSH port. A user unknown to the host may do nothing.

The conversation opens with one JSON line from the bridge::

    {"mode": "rpc"}                                  then ldtui-rpc frames both ways
    {"mode": "exec", "command": "ldm list", "env": {"LDM_TARGET_PASSWORD": "…"}}

In ``exec`` mode both directions carry small frames ``KIND (1 byte) | LENGTH (4 bytes,
big-endian) | DATA``: the bridge sends ``STDIN`` (an empty one is end of input); ldmd
sends ``STDOUT``, ``STDERR`` and finally ``EXIT`` with the status as 4 signed bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import socket
import stat
import struct
from pathlib import Path

from ldtui.net import rpc

STDIN, STDOUT, STDERR, EXIT = 0, 1, 2, 3
HEADER = struct.Struct(">BI")
MAX_CHUNK = 1 << 20
MAX_HELLO = 1 << 16
HELLO_TIMEOUT = 10.0
ALLOWED_ENV = ("LDM_TARGET_PASSWORD",)

log = logging.getLogger("ldtui.net.localsock")


def frame(kind: int, data: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next frame, or None at a clean end of the stream."""
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise ValueError("truncated frame header") from None
        return None
    kind, length = HEADER.unpack(head)
    if kind > EXIT or length > MAX_CHUNK:
        raise ValueError(f"bad frame (kind {kind}, length {length})")
    return kind, await reader.readexactly(length)


def peer_user(writer: asyncio.StreamWriter) -> tuple[str, int]:
    """The calling process's user name and uid, from the kernel."""
    sock = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name, uid
    except KeyError:
        return f"uid{uid}", uid


class _Stream:
    """stdout/stderr of a local exec, as the exec code writes them."""

    def __init__(self, writer: asyncio.StreamWriter, kind: int) -> None:
        self._writer, self._kind = writer, kind

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), MAX_CHUNK):
            self._writer.write(frame(self._kind, data[i:i + MAX_CHUNK]))

    async def drain(self) -> None:
        await self._writer.drain()


class _Channel:
    def __init__(self, closed: asyncio.Event) -> None:
        self._closed = closed

    async def wait_closed(self) -> None:
        await self._closed.wait()


class LocalProcess:
    """What ``Ldmd._exec`` needs of an SSH session, over the local socket."""

    def __init__(self, reader, writer, env: dict[str, str]) -> None:
        self.env = env
        self.stdout = _Stream(writer, STDOUT)
        self.stderr = _Stream(writer, STDERR)
        self.stdin = asyncio.StreamReader()
        self.closed = asyncio.Event()
        self.channel = _Channel(self.closed)
        self._reader = reader
        self._pump = asyncio.ensure_future(self._read_stdin())

    async def _read_stdin(self) -> None:
        try:
            while True:
                got = await read_frame(self._reader)
                if got is None:
                    break
                kind, data = got
                if kind != STDIN:
                    raise ValueError("only input may come from the bridge")
                if not data:
                    self.stdin.feed_eof()
                    # Input ended; the bridge stays until it is told the exit status.
                    continue
                self.stdin.feed_data(data)
        except (ValueError, OSError, asyncio.IncompleteReadError) as e:
            log.info("local exec input ended: %s", e)
        finally:
            if not self.stdin.at_eof():
                self.stdin.feed_eof()
            self.closed.set()

    def stop(self) -> None:
        self._pump.cancel()


class LocalEndpoint:
    """A unix socket beside ldmd's SSH port (``ldmd --socket``)."""

    def __init__(self, ldmd, path: str | Path, *, mode: int = 0o666) -> None:
        self.ldmd = ldmd
        self.path = Path(path)
        self.mode = mode
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()     # a stale socket of an earlier run (the state lock is ours)
        except FileNotFoundError:
            pass
        self._server = await asyncio.start_unix_server(self._accept, path=str(self.path))
        # Anyone local may connect: each caller is identified by the kernel, not trusted.
        os.chmod(self.path, self.mode)
        log.info("serving ldm on %s", self.path)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
            log.info("local session ended: %s", e)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader, writer) -> None:
        user, uid = peer_user(writer)
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), HELLO_TIMEOUT)
            hello = json.loads(line)
            if not isinstance(hello, dict):
                raise ValueError("not an object")
        except (TimeoutError, asyncio.LimitOverrunError, asyncio.IncompleteReadError, ValueError) as e:
            log.warning("local session of %s (uid %d): bad opening: %s", user, uid, e)
            return
        mode = hello.get("mode")
        log.info("local %s session of %s (uid %d)", mode, user, uid)
        if mode == "rpc":
            await rpc.serve(reader, writer, self.ldmd.rpc_methods, user=user, peer=f"local:{user}")
        elif mode == "exec":
            await self._exec(reader, writer, user, hello)
        else:
            writer.write(frame(STDERR, b"ldmd: unknown local session mode\n") + frame(EXIT, struct.pack(">i", 2)))
            await writer.drain()

    async def _exec(self, reader, writer, user: str, hello: dict) -> None:
        command = hello.get("command")
        env = hello.get("env") if isinstance(hello.get("env"), dict) else {}
        env = {k: str(v) for k, v in env.items() if k in ALLOWED_ENV}
        process = LocalProcess(reader, writer, env)
        try:
            if not isinstance(command, str) or not command.strip():
                process.stderr.write(b"ldmd: interactive shells are not offered; run 'ssh HOST ldm SUBCOMMAND'\n")
                code = 1
            else:
                try:
                    code = await self.ldmd._exec(process, user, command)
                except Exception:
                    log.exception("local exec of %s failed", user)
                    process.stderr.write(b"ldmd: internal error; see the ldmd log\n")
                    code = 1
            writer.write(frame(EXIT, struct.pack(">i", int(code))))
            await writer.drain()
        finally:
            process.stop()
