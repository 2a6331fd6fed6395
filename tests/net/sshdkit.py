"""A stock OpenSSH server (Debian's sshd) on a loopback port, as the jump host of a test.

It has its own configuration, host key and authorized keys; :meth:`Bastion.stop` ends it
and every session it forked (so the tunnels through it break, as when the machine goes
down), :meth:`Bastion.start` brings it back on the same port with the same host key.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncssh
import pytest

SSHD = next((p for p in ("/usr/sbin/sshd", shutil.which("sshd") or "") if p and os.path.exists(p)), None)
needs_sshd = [pytest.mark.skipif(SSHD is None, reason="OpenSSH server not installed (apt-get install openssh-server)"),
              pytest.mark.skipif(os.geteuid() != 0, reason="sshd needs root to switch users")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_key(path: Path) -> asyncssh.SSHKey:
    """A new ed25519 private key at ``path`` (mode 0600, public half beside it)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
    Path(f"{path}.pub").write_bytes(key.export_public_key("openssh"))
    return key


def public_line(key: asyncssh.SSHKey) -> str:
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


class Bastion:
    """sshd on 127.0.0.1:``port`` that lets in the ``authorized`` public keys as root."""

    def __init__(self, base: Path, authorized: list[str]) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.host_key = write_key(base / "host")
        (base / "authorized_keys").write_text("".join(line + "\n" for line in authorized))
        self.port = free_port()
        (base / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {base / 'host'}\n"
            f"AuthorizedKeysFile {base / 'authorized_keys'}\nPasswordAuthentication no\n"
            f"KbdInteractiveAuthentication no\nStrictModes no\nPidFile {base / 'sshd.pid'}\nUsePAM no\n"
            "AllowTcpForwarding yes\nLogLevel DEBUG1\n")
        self.proc: subprocess.Popen | None = None

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {public_line(self.host_key)}\n"

    @property
    def log(self) -> str:
        path = self.base / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 10.0) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(self.base / "sshd_config"),
                                      "-E", str(self.base / "sshd.log")])
        end = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise RuntimeError(f"sshd did not start on port {self.port}:\n{self.log[-2000:]}")
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """End sshd and every session it forked (their pids, read from /proc)."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *_descendants(self.proc.pid)]
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout)
        end = time.monotonic() + timeout
        while any(_alive(pid) for pid in pids[1:]) and time.monotonic() < end:
            time.sleep(0.05)
        self.proc = None


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
