"""Peer managers reach each other through an SSH jump host (SPEC S-3; issue: migration,
"directly, or through a jump host"). The jump host is a stock OpenSSH sshd on loopback; the
source ldmd logs in to it with its own host key and tunnels to the target's manager."""

from __future__ import annotations

from migkit import Hosts, ssh_ldm
from sshdkit import Bastion, needs_sshd

pytestmark = needs_sshd


def _start_jump(base, authorized: str):
    bastion = Bastion(base, [authorized])
    bastion.start()
    return bastion, bastion.port, " ".join(bastion.known_hosts_line.split()[1:])


async def test_a_migration_tunnels_through_a_jump_host(tmp_path):
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src = hosts["t5440-sys-1"]
    jump, port, jump_key = _start_jump(tmp_path / "jump", src.host_public_key)
    try:
        with open(hosts.known_hosts, "a") as f:
            f.write(f"[127.0.0.1]:{port} {jump_key}\n")
        src.jumps = {"t5440-sys-2": f"root@127.0.0.1:{port}"}
        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        assert (status, err) == (0, ""), err
        assert "ldg1" in [d.name for d in hosts["t5440-sys-2"].manager.domains()]
        assert "ldg1" not in [d.name for d in src.manager.domains()]
        log = jump.log
        assert f"port {hosts['t5440-sys-2'].port}" in log and "direct-tcpip" in log
        # B-5: behind a jump host the memory is tunnelled through the SSH link, and it says why.
        job = next(j for j in src.manager.snapshot().jobs if j.domain == "ldg1")
        assert (job.transport, job.transport_reason) == ("tunnelled",
                                                         "t5440-sys-2 is reached through a jump host")
    finally:
        jump.stop()
        await hosts.stop()


async def test_a_jump_host_with_an_unknown_key_is_refused_and_nothing_moves(tmp_path):
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src = hosts["t5440-sys-1"]
    jump, port, _ = _start_jump(tmp_path / "jump", src.host_public_key)
    try:
        src.jumps = {"t5440-sys-2": f"root@127.0.0.1:{port}"}
        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        # As for any manager that cannot be reached: the seed's 8-4 text (the reason is logged).
        assert status == 1 and err.splitlines()[0] == "Failed to establish connection with ldmd(1m) on target: t5440-sys-2"
        assert src.manager.domain("ldg1").state.value == "active" and src.manager.migrating() == {}
        assert "ldg1" not in [d.name for d in hosts["t5440-sys-2"].manager.domains()]
    finally:
        jump.stop()
        await hosts.stop()


async def test_managers_that_reach_each_other_only_through_the_bastion_migrate_there_and_back(tmp_path):
    """S-3, B-5: each manager reaches the other through the bastion as its ssh_config says —
    t5440-sys-1 by its [peers] address and the file's ProxyJump, t5440-sys-2 by an alias only
    the file knows (HostName, Port, ProxyJump) — and the memory is tunnelled, as the status
    says. The bastion is a stock sshd; each manager logs in to it with its own host key."""
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src, dst = hosts["t5440-sys-1"], hosts["t5440-sys-2"]
    bastion = Bastion(tmp_path / "bastion", [src.host_public_key, dst.host_public_key])
    bastion.start()
    try:
        with open(hosts.known_hosts, "a") as f:
            f.write(bastion.known_hosts_line)
        jump = f"Host bastion\n    HostName 127.0.0.1\n    Port {bastion.port}\n    User root\n"
        (tmp_path / "src_ssh_config").write_text(f"Host t5440-sys-2\n    ProxyJump bastion\n\n{jump}")
        src.ssh_config = str(tmp_path / "src_ssh_config")
        (tmp_path / "dst_ssh_config").write_text(
            f"Host t5440-sys-1\n    HostName 127.0.0.1\n    Port {src.port}\n    ProxyJump bastion\n\n{jump}")
        dst.ssh_config = str(tmp_path / "dst_ssh_config")
        dst.set_peers({})
        assert src.peer_paths() == (("t5440-sys-2", "via bastion"),)

        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        assert (status, err) == (0, ""), err
        assert "ldg1" in [d.name for d in dst.manager.domains()]
        completed = hosts.ldm("t5440-sys-1", "list -o status --completed ldg1").stdout
        assert "tunnelled through SSH (t5440-sys-2 is reached through a jump host)" in completed, completed

        status, out, err = await ssh_ldm(dst, "migrate-domain ldg1 t5440-sys-1")
        assert (status, err) == (0, ""), err
        assert "ldg1" in [d.name for d in src.manager.domains()]
        back = next(j for j in dst.manager.snapshot().jobs if j.domain == "ldg1" and j.role == "source")
        assert (back.transport, back.transport_reason) == ("tunnelled", "t5440-sys-1 is reached through a jump host")
        assert bastion.log.count("direct-tcpip") >= 2
        assert f"port {dst.port}" in bastion.log and f"port {src.port}" in bastion.log
    finally:
        bastion.stop()
        await hosts.stop()


async def test_a_chain_of_two_jump_hosts_from_the_jumps_table(tmp_path):
    """S-3: ``[jumps] peer = "outer,inner"`` goes through both, in order."""
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src = hosts["t5440-sys-1"]
    outer = Bastion(tmp_path / "outer", [src.host_public_key])
    inner = Bastion(tmp_path / "inner", [src.host_public_key])
    outer.start()
    inner.start()
    try:
        with open(hosts.known_hosts, "a") as f:
            f.write(outer.known_hosts_line + inner.known_hosts_line)
        src.jumps = {"t5440-sys-2": f"root@127.0.0.1:{outer.port},root@127.0.0.1:{inner.port}"}
        assert src.peer_route("t5440-sys-2").path == f"via root@127.0.0.1:{outer.port} → root@127.0.0.1:{inner.port}"
        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-2")
        assert (status, err) == (0, ""), err
        assert "ldg1" in [d.name for d in hosts["t5440-sys-2"].manager.domains()]
        assert f"port {inner.port}" in outer.log and f"port {hosts['t5440-sys-2'].port}" in inner.log
    finally:
        inner.stop()
        outer.stop()
        await hosts.stop()


async def test_a_host_neither_the_peers_table_nor_the_ssh_config_names_is_unknown(tmp_path):
    """S-3, G-4: a host only the ssh_config names is known (the bastion test above); one it
    does not name is refused before the password prompt, and the hint names that file too."""
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    src = hosts["t5440-sys-1"]
    try:
        config = tmp_path / "ssh_config"
        config.write_text("Host t5440-sys-2\n    HostName 127.0.0.1\n")
        src.ssh_config = str(config)
        src.set_peers({})
        status, out, err = await ssh_ldm(src, "migrate-domain ldg1 t5440-sys-9", password_line=None)
        assert (status, out) == (1, "")
        lines = err.splitlines()
        assert lines[0] == ("Target host t5440-sys-9 is not known to the Logical Domains Manager on t5440-sys-1 "
                            "(it knows no other manager)")
        assert lines[1].endswith(f"; or add a Host t5440-sys-9 block (HostName, Port) to {config}")
        assert lines[2] == "Domain Migration of LDom ldg1 failed"
        assert src.manager.domain("ldg1").migration is None
    finally:
        await hosts.stop()
