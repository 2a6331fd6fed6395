"""An ldmd reachable only through the host's own OpenSSH server (SPEC S-1…S-3).

A stock sshd (Debian openssh-server) runs on a loopback port with its own configuration:
``Subsystem ldtui-rpc`` and ``ForceCommand`` both run ``ldmd-bridge``, which talks to
``ldmd --socket``. ``ssh -p PORT root@127.0.0.1 ldm …`` then prints what ldmd's own SSH port
prints, and the console's HostLink gets its snapshot the same way.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from ldtui.net.hostlink import HostLink
from ldtui.net.localsock import LocalEndpoint
from netkit import run_process

SSHD = next((p for p in ("/usr/sbin/sshd", shutil.which("sshd") or "") if p and os.path.exists(p)), None)
SSH = shutil.which("ssh")
pytestmark = [pytest.mark.skipif(SSHD is None or SSH is None, reason="OpenSSH server or client is not installed"),
              pytest.mark.skipif(os.geteuid() != 0, reason="sshd needs root to switch users")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _key(path: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
    return key


@pytest.fixture
async def sshd(ldmd, tmp_path):
    """sshd on 127.0.0.1:PORT fronting the ``ldmd`` fixture through its unix socket."""
    base = tmp_path / "sshd"
    base.mkdir(mode=0o700)
    sock = base / "ldmd.sock"
    local = LocalEndpoint(ldmd, sock)
    await local.start()
    bridge = base / "ldmd-bridge"
    bridge.write_text(f"#!/bin/sh\nexec {sys.executable} -m ldtui.net.bridge --socket {sock} \"$@\"\n")
    bridge.chmod(0o755)
    host_key = _key(base / "host_key")
    client = _key(base / "client_key")
    (base / "authorized_keys").write_text(client.export_public_key("openssh").decode())
    port = _free_port()
    cfg = base / "sshd_config"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n"
        f"StrictModes no\nPidFile {base / 'sshd.pid'}\nUsePAM no\nAcceptEnv LDM_TARGET_PASSWORD\n"
        + Path(__file__).parent.joinpath("..", "..", "deploy", "sshd_config.snippet").resolve().read_text()
        .replace("/usr/bin/ldmd-bridge", str(bridge)).replace("Match Group ldm", "Match User root"))
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stderr=open(base / "sshd.log", "wb"))
    known = base / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_key.export_public_key('openssh').decode().strip()}\n")
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                await asyncio.sleep(0.05)
        yield {"port": port, "key": base / "client_key", "known_hosts": known, "base": base}
    finally:
        proc.terminate()
        proc.wait(10)
        await local.stop()


async def openssh(sshd, *command: str):
    return await run_process(
        [SSH, "-p", str(sshd["port"]), "-i", str(sshd["key"]), "-F", "/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={sshd['known_hosts']}", "-o", "LogLevel=ERROR",
         "root@127.0.0.1", *command], env={"PATH": os.environ.get("PATH", ""), "HOME": str(sshd["base"])},
        timeout=30)


@pytest.mark.timeout(90)
async def test_ssh_ldm_list_through_the_hosts_own_sshd(ldmd, sshd):
    ran = await openssh(sshd, "ldm", "list")
    assert ran.returncode == 0, ran.stderr
    direct = ldmd.manager
    lines = ran.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["NAME", "STATE", "FLAGS"]
    assert [ln.split()[0] for ln in lines[1:]] == [d.name for d in direct.domains()]
    refused = await openssh(sshd, "ldm", "list", "nosuchdomain")
    assert refused.returncode != 0 and refused.stdout == b""
    assert refused.stderr.decode().count("\n") == 1 and "nosuchdomain" in refused.stderr.decode()
    other = await openssh(sshd, "cat", "/etc/passwd")
    assert other.returncode == 127 and b"only ldm commands" in other.stderr


@pytest.mark.timeout(90)
async def test_the_console_link_works_through_the_hosts_own_sshd(ldmd, sshd):
    link = HostLink("127.0.0.1", sshd["port"], "root", client_keys=[str(sshd["key"])],
                    known_hosts=sshd["known_hosts"])
    await asyncio.wait_for(link.connect(), 20)
    try:
        snap = await asyncio.wait_for(link.snapshot(), 20)
        assert snap.hostname == ldmd.hostname
        assert [d.name for d in snap.domains] == [d.name for d in ldmd.manager.domains()]
        result = await link.run(["list-services"], timeout=20)
        assert result.exit_code == 0 and "primary-vds0" in result.stdout
    finally:
        await asyncio.wait_for(link.close(), 10)


async def test_the_local_socket_takes_the_user_from_the_kernel_not_the_caller(ldmd, tmp_path):
    """A caller cannot claim to be someone else: the opening's user field is ignored."""
    sock = tmp_path / "l.sock"
    local = LocalEndpoint(ldmd, sock)
    await local.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock))
        # operator may only read; root (uid 0, this test's user) may write.
        writer.write(b'{"mode": "exec", "command": "ldm set-variable boot-device=disk ldg3", "user": "operator"}\n')
        writer.write(b"\0\0\0\0\0")      # end of input
        await writer.drain()
        from ldtui.net.localsock import EXIT, read_frame
        out = b""
        while True:
            kind, data = await asyncio.wait_for(read_frame(reader), 10)
            if kind == EXIT:
                break
            out += data
        writer.close()
        assert (int.from_bytes(data, "big", signed=True), out) == (0, b"")  # ran as root, whatever it said
        assert oct(sock.stat().st_mode & 0o777) == "0o666"
    finally:
        await local.stop()
    assert not sock.exists()


@pytest.mark.timeout(90)
async def test_the_ldm_protocol_through_the_hosts_own_sshd_answers_the_prompt_without_a_terminal(ldmd, sshd):
    """Protocol ``ldm`` through a stock sshd, ``ldm`` behind ForceCommand: this deployment
    offers no terminal (``PermitTTY no``), so the prompt is answered on the session's own
    input, and neither the prompt nor the password comes back in the output."""
    from ldtui.net.ldmexec import LdmExecLink
    from ldtui.net.migrate import install

    install(ldmd)
    ldmd.set_peers({"t5440-sys-9": ("127.0.0.1", _free_port())})      # known, but nobody listens
    link = LdmExecLink("127.0.0.1", sshd["port"], "root", client_keys=[str(sshd["key"])],
                       known_hosts=sshd["known_hosts"], label=ldmd.hostname)
    await asyncio.wait_for(link.connect(), 20)
    try:
        snap = await asyncio.wait_for(link.snapshot(), 20)
        assert [d.name for d in snap.domains] == [d.name for d in ldmd.manager.domains()]
        out = await link.run(["migrate-domain", "ldg1", "root@t5440-sys-9"], password="Pa55-word", timeout=60)
        assert out.exit_code == 1
        text = out.stdout + out.stderr
        assert "Pa55-word" not in text
        assert "Target Password:" not in text
        # Asked, answered, and then the target could not be reached.
        assert "A target password is required" not in text
        assert text.splitlines()[0] == "Failed to establish connection with ldmd(1m) on target: t5440-sys-9"
    finally:
        await asyncio.wait_for(link.close(), 10)
