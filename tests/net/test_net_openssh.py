"""Stock OpenSSH runs ldm on an ldmd, byte for byte like the ldm client (SPEC S-2)."""

from __future__ import annotations

import os
import shutil

import asyncssh
import pytest

from netkit import ldm_client, run_process

SSH = shutil.which("ssh")
pytestmark = pytest.mark.skipif(SSH is None, reason="OpenSSH client (ssh) is not installed")


@pytest.fixture
def operator_key(ldmd, tmp_path):
    """A key pair registered for root: OpenSSH logs in without a password prompt."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "id_ed25519"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
    user = ldmd.manager.store.user("root")
    user.keys.append(key.export_public_key("openssh").decode().strip())
    ldmd.manager.store.save_user(user)
    return path


async def openssh(ldmd, key, *command: str):
    return await run_process(
        [SSH, "-p", str(ldmd.port), "-i", str(key), "-F", "/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
         "-o", f"UserKnownHostsFile={ldmd.known_hosts_file}", "-o", "LogLevel=ERROR",
         "root@127.0.0.1", *command], env={"PATH": os.environ.get("PATH", ""), "HOME": str(key.parent)})


@pytest.mark.parametrize("command", [
    ["ldm", "list-services"],
    ["ldm", "list-devices", "memory"],
    ["ldm", "list", "-o", "memory", "ldg1"],
    ["ldm", "list", "nosuchdomain"],
    ["ldm", "frobnicate"],
])
async def test_ssh_and_the_ldm_client_print_the_same_bytes(ldmd, operator_key, command):
    by_ssh = await openssh(ldmd, operator_key, *command)
    by_ldm = await ldm_client("-H", f"root@127.0.0.1:{ldmd.port}", *command[1:], password=None,
                              known_hosts=ldmd.known_hosts_file, env={"LDM_IDENTITY": str(operator_key)})
    assert by_ssh.stdout == by_ldm.stdout
    assert by_ssh.stderr == by_ldm.stderr
    assert by_ssh.returncode == by_ldm.returncode
    assert by_ssh.stdout or by_ssh.stderr


async def test_a_key_nobody_registered_is_refused(ldmd, tmp_path):
    stranger = tmp_path / "stranger"
    fd = os.open(stranger, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))
    ran = await openssh(ldmd, stranger, "ldm", "list")
    assert ran.returncode == 255
    assert b"Permission denied" in ran.stderr
