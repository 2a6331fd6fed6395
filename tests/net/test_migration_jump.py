"""Peer managers reach each other through an SSH jump host (SPEC S-3; issue: migration,
"directly, or through a jump host"). The jump host is a stock OpenSSH sshd on loopback; the
source ldmd logs in to it with its own host key and tunnels to the target's manager."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import attrs
import pytest

from migkit import Hosts, ssh_ldm

SSHD = next((p for p in ("/usr/sbin/sshd", shutil.which("sshd") or "") if p and os.path.exists(p)), None)
pytestmark = [pytest.mark.skipif(SSHD is None, reason="OpenSSH server not installed (apt-get install openssh-server)"),
              pytest.mark.skipif(os.geteuid() != 0, reason="sshd needs root to switch users")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_jump(base: Path, authorized: str) -> tuple[subprocess.Popen, int, str]:
    base.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host")], check=True)
    (base / "authorized_keys").write_text(authorized + "\n")
    port = _free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host'}\nAuthorizedKeysFile {base / 'authorized_keys'}\n"
        f"PasswordAuthentication no\nStrictModes no\nPidFile {base / 'sshd.pid'}\nUsePAM no\n"
        "AllowTcpForwarding yes\nLogLevel DEBUG1\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-f", str(base / "sshd_config"), "-E", str(base / "sshd.log")])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    host_pub = " ".join((base / "host.pub").read_text().split()[:2])
    return proc, port, host_pub


async def test_a_migration_tunnels_through_a_jump_host(tmp_path):
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src = hosts["t5440-sys-1"]
    proc, port, jump_key = _start_jump(tmp_path / "jump", src.host_public_key)
    try:
        with open(hosts.known_hosts, "a") as f:
            f.write(f"[127.0.0.1]:{port} {jump_key}\n")
        src.jumps = {"t5440-sys-2": ("127.0.0.1", port, "root")}
        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        assert (status, err) == (0, ""), err
        assert "ldg1" in [d.name for d in hosts["t5440-sys-2"].manager.domains()]
        assert "ldg1" not in [d.name for d in src.manager.domains()]
        log = (tmp_path / "jump" / "sshd.log").read_text()
        assert f"port {hosts['t5440-sys-2'].port}" in log and "direct-tcpip" in log
        # B-5: behind a jump host the memory is tunnelled through the SSH link, and it says why.
        job = next(j for j in src.manager.snapshot().jobs if j.domain == "ldg1")
        assert (job.transport, job.transport_reason) == ("tunnelled",
                                                         "t5440-sys-2 is reached through a jump host")
    finally:
        proc.terminate()
        proc.wait(10)
        await hosts.stop()


async def test_a_jump_host_with_an_unknown_key_is_refused_and_nothing_moves(tmp_path):
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src = hosts["t5440-sys-1"]
    proc, port, _ = _start_jump(tmp_path / "jump", src.host_public_key)
    try:
        src.jumps = {"t5440-sys-2": ("127.0.0.1", port, "root")}
        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        # As for any manager that cannot be reached: the seed's 8-4 text (the reason is logged).
        assert status == 1 and err.splitlines()[0] == "Failed to establish connection with ldmd(1m) on target: t5440-sys-2"
        assert src.manager.domain("ldg1").state.value == "active" and src.manager.migrating() == {}
        assert "ldg1" not in [d.name for d in hosts["t5440-sys-2"].manager.domains()]
    finally:
        proc.terminate()
        proc.wait(10)
        await hosts.stop()
