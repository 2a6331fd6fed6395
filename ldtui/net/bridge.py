"""``ldmd-bridge``: let a host's own OpenSSH server front its ``ldmd``.

    ldmd-bridge [--socket PATH] --rpc          sshd: Subsystem ldtui-rpc /usr/bin/ldmd-bridge --rpc
    ldmd-bridge [--socket PATH] --exec [CMD]   sshd: ForceCommand /usr/bin/ldmd-bridge --exec

sshd has already authenticated the operator and runs this program as that system user; it
connects to ``ldmd --socket`` (default ``$LDMD_SOCKET`` or ``/run/ldmd/ldmd.sock``), where
ldmd learns the user from the kernel. ``--rpc`` relays the console's and peer managers'
``ldtui-rpc`` frames untouched. ``--exec`` runs one ``ldm`` command line, taken from
``SSH_ORIGINAL_COMMAND`` (what the operator typed after ``ssh host``) or from its arguments,
and relays input, output and exit status, so ``ssh host ldm list`` prints what ``ldm``
prints. ``LDM_TARGET_PASSWORD`` (the ``ldm`` client's way to hand over a target password,
allowed by ``AcceptEnv``) is passed on; nothing else of the environment is.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import struct
import sys
import threading
from pathlib import Path

from ldtui.net.localsock import EXIT, HEADER, MAX_CHUNK, STDERR, STDIN, STDOUT, frame

DEFAULT_SOCKET = "/run/ldmd/ldmd.sock"
RPC_SUBSYSTEM = "ldtui-rpc"


def _connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        sys.stderr.write(f"ldmd-bridge: cannot reach ldmd at {path}: {e.strerror or e}\n")
        raise SystemExit(255)
    return s


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def relay_rpc(s: socket.socket) -> int:
    s.sendall(json.dumps({"mode": "rpc"}).encode() + b"\n")

    def up() -> None:
        try:
            while True:
                data = os.read(0, MAX_CHUNK)
                if not data:
                    break
                s.sendall(data)
        except OSError:
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=up, daemon=True).start()
    try:
        while True:
            data = s.recv(MAX_CHUNK)
            if not data:
                return 0
            _write_all(1, data)
    except OSError:
        return 0


def relay_exec(s: socket.socket, command: str) -> int:
    env = {k: os.environ[k] for k in ("LDM_TARGET_PASSWORD",) if k in os.environ}
    s.sendall(json.dumps({"mode": "exec", "command": command, "env": env}).encode() + b"\n")

    def up() -> None:
        try:
            while True:
                data = os.read(0, 65536)
                s.sendall(frame(STDIN, data))
                if not data:
                    return       # end of input sent; the socket stays open for the answer
        except OSError:
            # The operator's side is gone (ssh killed): closing tells ldmd, which cancels
            # a migration this session started, as killing ``ldm`` does.
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    threading.Thread(target=up, daemon=True).start()
    while True:
        head = _recv_exact(s, HEADER.size)
        if head is None:
            sys.stderr.write("ldmd-bridge: ldmd closed the session before the command finished\n")
            return 255
        kind, length = HEADER.unpack(head)
        data = _recv_exact(s, length) if length else b""
        if data is None:
            return 255
        if kind == STDOUT:
            _write_all(1, data)
        elif kind == STDERR:
            _write_all(2, data)
        elif kind == EXIT and len(data) == 4:
            return struct.unpack(">i", data)[0]
        else:
            sys.stderr.write("ldmd-bridge: garbled answer from ldmd\n")
            return 255


def is_subsystem_request(command: str) -> bool:
    """Under ForceCommand a subsystem request arrives here too: sshd then sets
    ``SSH_ORIGINAL_COMMAND`` to the ``Subsystem`` line's command (or, elsewhere, its name)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if words == [RPC_SUBSYSTEM]:
        return True
    return bool(words) and Path(words[0]).name in ("ldmd-bridge", "bridge.py") and "--rpc" in words


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ldmd-bridge", description="Relay sshd sessions to a local ldmd")
    p.add_argument("--socket", default=os.environ.get("LDMD_SOCKET", DEFAULT_SOCKET))
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--rpc", action="store_true", help="relay the ldtui-rpc subsystem")
    mode.add_argument("--exec", action="store_true", help="run one ldm command line")
    p.add_argument("command", nargs="*", help="the command line (default: $SSH_ORIGINAL_COMMAND)")
    args = p.parse_args(argv)
    s = _connect(args.socket)
    try:
        if args.rpc:
            code = relay_rpc(s)
        else:
            command = os.environ.get("SSH_ORIGINAL_COMMAND") or " ".join(args.command)
            code = relay_rpc(s) if is_subsystem_request(command) else relay_exec(s, command)
    except BrokenPipeError:
        code = 255
    finally:
        s.close()
    sys.stdout.flush()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
