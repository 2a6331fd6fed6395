"""The background process that keeps one ``ldm`` SSH connection open for later runs.

``ldm --persist SECONDS`` starts it; the protocol is in ``net.shared``.

    python -m ldtui.net.holder --socket PATH --persist SECONDS --ready-fd FD -- LDM-OPTIONS…

It connects exactly as ``ldm LDM-OPTIONS`` would, asking its questions (host key,
password) on the terminal it was started from; a failure is printed as ``ldm`` prints it
and ends the holder. Connected, it listens on PATH (mode 0600, in a 0700 directory), leaves
the terminal (its own session, stdio on /dev/null), writes ``ready`` to FD and serves: each
command is one ``exec`` channel on the shared connection. Only processes of its own user
are served (``SO_PEERCRED``). It leaves once it has been idle SECONDS, when the manager's
connection ends, on ``ldm --close`` after its running commands finish, or on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import shlex
import signal
import socket
import struct
from pathlib import Path

import asyncssh

from ldtui.net import shared
from ldtui.net.client import ClientError, destination, report, split_options
from ldtui.net.names import TARGET_PASSWORD_ENV
from ldtui.net.ssh_exec import connect

HELLO_TIMEOUT = 10.0
ALLOWED_ENV = (TARGET_PASSWORD_ENV,)


class Holder:
    def __init__(self, conn: asyncssh.SSHClientConnection, persist: float) -> None:
        self.conn = conn
        self.persist = persist
        self.active = 0
        self.closing = False
        self.done = asyncio.Event()
        self._idle: asyncio.TimerHandle | None = None
        self.server: asyncio.AbstractServer | None = None

    def arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self.persist, self.done.set)

    def _busy(self) -> None:
        self.active += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_again(self) -> None:
        self.active -= 1
        if self.active == 0:
            if self.closing:
                self.done.set()
            else:
                self.arm_idle()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if shared.peer_uid(writer.get_extra_info("socket")) != os.geteuid():
                return
            line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT)
            if len(line) > shared.MAX_HELLO:
                return
            hello = json.loads(line or b"{}")
            op = hello.get("op") if isinstance(hello, dict) else None
            if op == "exec":
                await self._exec(hello, reader, writer)
            elif op == "close":
                self.stop_taking()
                writer.write(shared.frame(shared.EXIT, struct.pack(">i", 0)))
            elif op == "ping":
                writer.write(shared.frame(shared.EXIT, struct.pack(">i", 0)))
            await writer.drain()
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def stop_taking(self) -> None:
        """No new commands; leave once those running are done."""
        self.closing = True
        if self.server is not None:
            self.server.close()
        if self.active == 0:
            self.done.set()

    async def _exec(self, hello: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        argv = hello.get("argv")
        env = hello.get("env") or {}
        if (self.closing or not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)
                or not isinstance(env, dict)):
            writer.write(shared.frame(shared.REFUSED, b"not taken"))
            return
        env = {k: str(v) for k, v in env.items() if k in ALLOWED_ENV}
        self._busy()
        process = None
        finished = False
        try:
            try:
                process = await self.conn.create_process(shlex.join(["ldm", *argv]), env=env, encoding=None)
            except (asyncssh.Error, OSError) as e:
                # Nothing ran: the client makes a connection of its own.
                writer.write(shared.frame(shared.REFUSED, str(e).encode()))
                finished = True
                return
            writer.write(shared.frame(shared.STARTED))
            if not hello.get("stdin"):
                process.stdin.write_eof()
            feeding = asyncio.ensure_future(self._feed(reader, process))
            output = asyncio.gather(self._relay(process.stdout, writer, shared.STDOUT),
                                    self._relay(process.stderr, writer, shared.STDERR))
            try:
                await asyncio.wait({feeding, output}, return_when=asyncio.FIRST_COMPLETED)
                if not output.done():
                    if feeding.done():      # the client went away before the command ended
                        return
                await output
            finally:
                feeding.cancel()
                output.cancel()
                await asyncio.gather(feeding, output, return_exceptions=True)
            completed = await process.wait(check=False)
            status = completed.exit_status
            writer.write(shared.frame(shared.EXIT, struct.pack(">i", status if status is not None else -1)))
            finished = True
        finally:
            if process is not None and not finished:
                # The client was killed: close the command's channel, as a killed ldm's
                # connection would close (for a migration, a cancel).
                process.close()
            self._idle_again()

    async def _feed(self, reader: asyncio.StreamReader, process) -> str:
        """The client's STDIN frames to the command; ``gone`` when the client closed first."""
        ended = False
        while True:
            try:
                head = await reader.readexactly(shared.HEADER.size)
                kind, length = shared.HEADER.unpack(head)
                if length > shared.MAX_CHUNK:
                    return "gone"
                data = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, OSError):
                return "gone"
            if kind != shared.STDIN or ended:
                continue
            try:
                if data:
                    process.stdin.write(data)
                else:
                    process.stdin.write_eof()
                    ended = True
            except (OSError, asyncssh.Error, BrokenPipeError):
                ended = True

    @staticmethod
    async def _relay(stream, writer: asyncio.StreamWriter, kind: int) -> None:
        while True:
            data = await stream.read(65536)
            if not data:
                return
            writer.write(shared.frame(kind, data))
            await writer.drain()


def _bind(path: Path) -> socket.socket | None:
    """The listening socket at ``path``; None if a live holder already serves it."""
    for _ in range(2):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(os.fspath(path))
            sock.listen(16)
            return sock
        except OSError as e:
            sock.close()
            if e.errno != errno.EADDRINUSE:
                raise
        finally:
            os.umask(old)
        live = shared.dial(path)         # removes a socket nobody serves any more
        if live is not None:
            live.close()
            return None
    raise OSError(errno.EADDRINUSE, f"{path} stays in use")


def _detach(ready_fd: int) -> None:
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.write(ready_fd, f"ready {os.getpid()}\n".encode())
    os.close(ready_fd)


async def hold(ldm_options: list[str], path: Path, persist: float, ready_fd: int) -> int:
    opts, _ = split_options(ldm_options)
    dest = destination(opts, opts.get("host"))
    conn = await connect(dest)
    os.environ.pop("LDM_PASSWORD", None)
    try:
        listener = _bind(path)
        inode = os.stat(path).st_ino if listener is not None else 0
    except OSError as e:
        conn.close()
        raise ClientError(f"ldm: cannot share the connection: {e.strerror or e}") from None
    if listener is None:            # another ldm started one first: use that one
        conn.close()
        _detach(ready_fd)
        return 0
    holder = Holder(conn, persist)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, holder.done.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    try:
        holder.server = await asyncio.start_unix_server(holder.handle, sock=listener)
        _detach(ready_fd)
        holder.arm_idle()
        lost = asyncio.ensure_future(conn.wait_closed())
        stop = asyncio.ensure_future(holder.done.wait())
        await asyncio.wait({lost, stop}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        stop.cancel()
    finally:
        try:
            if os.stat(path).st_ino == inode:      # still ours, not a successor's
                os.unlink(path)
        except OSError:
            pass
        if holder.server is not None:
            holder.server.close()
        conn.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ldm-holder")
    p.add_argument("--socket", required=True, type=Path)
    p.add_argument("--persist", required=True, type=float)
    p.add_argument("--ready-fd", required=True, type=int)
    p.add_argument("ldm_options", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    options = args.ldm_options[1:] if args.ldm_options[:1] == ["--"] else args.ldm_options
    try:
        code = asyncio.run(hold(options, args.socket, args.persist, args.ready_fd))
    except ClientError as e:
        code = report(e)
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    main()
