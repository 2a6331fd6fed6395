"""``ldm`` reaches a manager the way the operator's SSH is set up (SPEC S-1, S-3): a
ProxyJump alias of an ``-F`` ssh_config, ``-J``, ssh-agent keys — and every jump host's key
checked against the same known_hosts file as the manager's, never accepted blindly. The
jump host is a stock OpenSSH sshd on loopback."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from netkit import ROOT_PASSWORD, ldm_client
from sshdkit import Bastion, needs_sshd, public_line, write_key

pytestmark = needs_sshd


@pytest.fixture
def operator_key(tmp_path):
    return tmp_path / "operator_key", write_key(tmp_path / "operator_key")


@pytest.fixture
def bastion(tmp_path, operator_key):
    b = Bastion(tmp_path / "bastion", [public_line(operator_key[1])])
    b.start()
    yield b
    b.stop()


def ssh_config(tmp_path, bastion, ldmd, key_path) -> str:
    path = tmp_path / "ssh_config"
    path.write_text(f"Host bastion\n    HostName 127.0.0.1\n    Port {bastion.port}\n    User root\n"
                    f"    IdentityFile {key_path}\n\n"
                    f"Host t5440-sys-1\n    HostName 127.0.0.1\n    Port {ldmd.port}\n    User root\n"
                    "    ProxyJump bastion\n")
    return str(path)


async def test_a_proxyjump_alias_from_an_ssh_config_file_prints_what_a_direct_ldm_prints(
        ldmd, bastion, operator_key, tmp_path):
    with open(ldmd.known_hosts_file, "a") as f:
        f.write(bastion.known_hosts_line)
    config = ssh_config(tmp_path, bastion, ldmd, operator_key[0])
    through = await ldm_client("-F", config, "-H", "t5440-sys-1", "list-services", known_hosts=ldmd.known_hosts_file)
    direct = await ldm_client("-H", f"root@127.0.0.1:{ldmd.port}", "list-services", known_hosts=ldmd.known_hosts_file)
    assert (through.returncode, through.stderr) == (0, b""), through.stderr
    assert through.stdout == direct.stdout and b"primary-vds0" in through.stdout
    # The bastion really carried it: a forward to the manager's port.
    assert f"port {ldmd.port}" in bastion.log and "direct-tcpip" in bastion.log


async def test_a_jump_host_nobody_recorded_is_refused_before_anything_is_sent(ldmd, bastion, operator_key, tmp_path):
    config = ssh_config(tmp_path, bastion, ldmd, operator_key[0])
    ran = await ldm_client("-F", config, "-H", "t5440-sys-1", "list", known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255 and ran.stdout == b""
    assert ran.stderr.decode() == (f"ldm: Host key verification failed: [127.0.0.1]:{bastion.port} "
                                   f"is not in {ldmd.known_hosts_file}\n")
    assert "direct-tcpip" not in bastion.log


async def test_a_jump_host_whose_key_changed_is_refused_loudly(ldmd, bastion, operator_key, tmp_path):
    impostor = write_key(tmp_path / "impostor")
    with open(ldmd.known_hosts_file, "a") as f:
        f.write(f"[127.0.0.1]:{bastion.port} {public_line(impostor)}\n")
    config = ssh_config(tmp_path, bastion, ldmd, operator_key[0])
    ran = await ldm_client("-F", config, "-H", "t5440-sys-1", "list", known_hosts=ldmd.known_hosts_file)
    err = ran.stderr.decode()
    assert ran.returncode == 255 and "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!" in err
    assert err.endswith(f"ldm: Host key verification failed for [127.0.0.1]:{bastion.port}\n")
    assert "direct-tcpip" not in bastion.log


@pytest.mark.skipif(shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None,
                    reason="OpenSSH client tools (ssh-agent, ssh-add) are not installed")
async def test_minus_j_with_ssh_agent_keys_and_no_password(ldmd, bastion, operator_key, tmp_path):
    key_path, key = operator_key
    user = ldmd.manager.store.user("root")
    user.keys.append(public_line(key))
    ldmd.manager.store.save_user(user)
    with open(ldmd.known_hosts_file, "a") as f:
        f.write(bastion.known_hosts_line)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            await asyncio.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(key_path)], env={"SSH_AUTH_SOCK": str(sock)}, check=True, timeout=10)
        argv = ("-J", f"root@127.0.0.1:{bastion.port}", "-H", f"root@127.0.0.1:{ldmd.port}", "list")
        ran = await ldm_client(*argv, password=None, known_hosts=ldmd.known_hosts_file,
                               env={"SSH_AUTH_SOCK": str(sock)})
        assert (ran.returncode, ran.stderr) == (0, b""), ran.stderr
        assert b"primary" in ran.stdout
        # Without the agent there is no key for the bastion: refused there, in one line.
        ran = await ldm_client(*argv, password=ROOT_PASSWORD, known_hosts=ldmd.known_hosts_file)
        assert ran.returncode == 255
        assert ran.stderr.decode() == (f"ldm: Permission denied for root@[127.0.0.1]:{bastion.port} "
                                       f"(jump host [127.0.0.1]:{bastion.port})\n")
    finally:
        agent.terminate()
        agent.wait(10)
