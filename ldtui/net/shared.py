"""The ``ldm`` client's side of a shared SSH connection, as OpenSSH's ControlMaster is.

A *holder* (``net.holder``, started by ``ldm --persist SECONDS``) keeps one SSH connection
to a manager open and serves later ``ldm`` runs for the same ``USER@HOST[:PORT]`` over a
unix socket, so they skip the SSH handshake and the SSH library: this module loads only
the standard library. The socket lives in a directory of its own user's, mode 0700
(``$XDG_RUNTIME_DIR/ldtui``, else ``~/.ldtui/sockets``); both ends check the other's uid
with ``SO_PEERCRED``.

The conversation: one JSON line from the client (``{"op": "exec", "argv": […], "env": {…},
"stdin": true}``, ``{"op": "close"}`` or ``{"op": "ping"}``), then frames ``KIND (1 byte) |
LENGTH (4 bytes, big-endian) | DATA`` both ways. The holder answers an exec with STARTED,
or REFUSED when it cannot run it (the client then makes its own connection, nothing having
run), then STDOUT and STDERR as the manager sends them and EXIT with the status (-1: the
connection ended first). The client sends STDIN (an empty one is end of input). A client
that goes away before EXIT closes the command's channel, as a killed ``ldm`` closes its
connection: for a migration that is a cancel.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import sys
import threading

STDIN, STDOUT, STDERR, EXIT, STARTED, REFUSED = range(6)
HEADER = struct.Struct(">BI")
MAX_CHUNK = 1 << 20
MAX_HELLO = 1 << 16
ANSWER_TIMEOUT = 60.0
"""How long a client waits for a holder to say whether it runs its command. The holder
answers within its connection's keepalive bound even when the manager is gone; after
this the command may or may not have started, so the client must not run it again."""


class NoAnswer(Exception):
    """A holder took a command and did not say whether it runs it."""
SOCKET_PATH_MAX = 104
"""Longest unix socket path every platform accepts."""


class UnsafeDirectory(Exception):
    """The socket directory is not private to this user; ``str()`` says why."""


def frame(kind: int, data: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(data)) + data


def share_key(user: str, host: str, port: int | None) -> str:
    """What a shared connection is found by: ``USER@HOST:PORT`` as the operator names it."""
    return f"{user}@{host}:{port or ''}"


def socket_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        try:
            st = os.stat(runtime)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
            return os.path.join(runtime, "ldtui")
    home = os.environ.get("LDTUI_HOME") or os.path.join(os.path.expanduser("~"), ".ldtui")
    return os.path.join(home, "sockets")


def check_private(directory: str) -> None:
    """Raise :class:`UnsafeDirectory` unless ``directory`` is a real directory of this user
    that nobody else may enter."""
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{directory} is not a directory")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"{directory} belongs to uid {st.st_uid}")
    if st.st_mode & 0o077:
        raise UnsafeDirectory(f"{directory} has mode {stat.S_IMODE(st.st_mode):04o}, not 0700")


def socket_path(key: str, *, create: bool = False) -> str | None:
    """The socket of ``key``'s holder; None when there is no private directory for it (and
    ``create`` is false). Raises :class:`UnsafeDirectory`."""
    directory = socket_dir()
    if create:
        old = os.umask(0o077)       # the parents too, when this makes them
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        finally:
            os.umask(old)
    try:
        check_private(directory)
    except FileNotFoundError:
        return None
    # Named as OpenSSH's ControlPath %r@%h:%p, so an operator sees whose socket is whose.
    name = "".join(c if c.isalnum() or c in "._@:+-" else f"%{ord(c):02X}" for c in key)
    path = os.path.join(directory, name + ".sock")
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        import hashlib

        path = os.path.join(directory, hashlib.sha256(key.encode()).hexdigest()[:24] + ".sock")
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise UnsafeDirectory(f"{directory} is too deep for a unix socket")
    return path


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def peer_pid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]


def dial(path: str) -> socket.socket | None:
    """A connection to a live holder of this user's at ``path``, or None. A socket nobody
    listens on any more (its holder was killed) is removed."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_TIMEOUT)
    try:
        sock.connect(os.fspath(path))
    except ConnectionRefusedError:
        sock.close()
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        except OSError:
            pass
        return None
    except OSError:
        sock.close()
        return None
    if peer_uid(sock) != os.geteuid():
        sock.close()
        return None
    return sock


class _Frames:
    """Frames from a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _fill(self, n: int) -> bool:
        while len(self.buffer) < n:
            data = self.sock.recv(max(65536, n - len(self.buffer)))
            if not data:
                return False
            self.buffer += data
        return True

    def next(self) -> tuple[int, bytes] | None:
        """The next frame, None at the end of the stream (or a broken one)."""
        if not self._fill(HEADER.size):
            return None
        kind, length = HEADER.unpack_from(self.buffer)
        if length > MAX_CHUNK or not self._fill(HEADER.size + length):
            return None
        data = bytes(self.buffer[HEADER.size:HEADER.size + length])
        del self.buffer[:HEADER.size + length]
        return kind, data


def _hello(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def run(path: str, argv: list[str], env: dict[str, str], *, forward_stdin: bool,
        hung_up: threading.Event) -> int | None:
    """Run ``ldm ARGV`` through the holder at ``path``; its exit status (-1: the connection
    ended before the command did), or None when no holder took it (nothing has run)."""
    sock = dial(path)
    if sock is None:
        return None
    try:
        frames = _Frames(sock)
        try:
            _hello(sock, {"op": "exec", "argv": argv, "env": env, "stdin": forward_stdin})
        except OSError:
            return None                 # it was leaving: nothing ran
        try:
            answer = frames.next()
        except TimeoutError:
            raise NoAnswer(path) from None
        except OSError:
            return None
        if answer is None or answer[0] != STARTED:
            return None                 # REFUSED, or gone before taking it: nothing ran
        sock.settimeout(None)
        if forward_stdin:
            _forward_stdin(sock)
        outs = {STDOUT: sys.stdout.buffer, STDERR: sys.stderr.buffer}
        while True:
            try:
                got = frames.next()
            except OSError:
                got = None
            if got is None:
                return -1
            kind, data = got
            if kind == EXIT:
                return struct.unpack(">i", data)[0] if len(data) == 4 else -1
            out = outs.get(kind)
            if out is not None:
                write_output(out, data, hung_up)
    finally:
        sock.close()


def write_output(out, data: bytes, hung_up: threading.Event) -> None:
    """A command's output to the operator's terminal, until it hangs up: then, or when the
    terminal is gone, the output is dropped and the command runs on."""
    if hung_up.is_set():
        return
    try:
        out.write(data)
        out.flush()
    except OSError:
        hung_up.set()


def _forward_stdin(sock: socket.socket) -> None:
    def pump() -> None:
        # A daemon thread: a blocking read of a pipe must never keep ldm from exiting.
        try:
            # The descriptor, not sys.stdin: a read of the buffered file still blocked here
            # at exit holds its lock, and the interpreter aborts when it cannot take it.
            for line in iter(lambda: os.read(0, 65536), b""):
                sock.sendall(frame(STDIN, line))
            sock.sendall(frame(STDIN))
        except (OSError, ValueError):
            pass            # the command ended first, or ldm is exiting

    threading.Thread(target=pump, daemon=True).start()


def request(path: str, op: str) -> int | None:
    """A ``close`` or ``ping`` to the holder at ``path``: its status, None if none answered."""
    sock = dial(path)
    if sock is None:
        return None
    try:
        _hello(sock, {"op": op})
        got = _Frames(sock).next()
    except OSError:
        return None
    finally:
        sock.close()
    if got is None or got[0] != EXIT or len(got[1]) != 4:
        return None
    return struct.unpack(">i", got[1])[0]


def start_holder(path: str, persist: float, ldm_options: list[str]) -> int | None:
    """Start a holder for ``path`` that connects as ``ldm LDM_OPTIONS`` would and stays for
    ``persist`` idle seconds. None once it serves; else its exit status (it has said why,
    on this terminal, as ``ldm`` would have)."""
    import subprocess

    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ldtui.net.holder", "--socket", os.fspath(path), "--persist", f"{persist:g}",
             "--ready-fd", str(write_end), "--", *ldm_options],
            pass_fds=(write_end,))
    finally:
        os.close(write_end)
    answer = b""
    with os.fdopen(read_end, "rb") as ready:
        while chunk := ready.read(64):
            answer += chunk
    if answer.startswith(b"ready"):
        return None
    return proc.wait()
