"""The ``ldm`` host protocol over stock SSH exec, against real ldmd's on loopback (issue 13;
S-3, L-1): one login for every poll, the same figures as the manager's own snapshot, a
migration on a terminal that answers ``Target Password:`` with the password never on a
command line or in the output, and hosts that have no ``ldm`` or echo what is typed."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from ldtui.net.hostlink import LinkDown
from ldtui.net.ldmexec import LdmExecLink, migrated_domain
from migkit import ROOT_PASSWORD, fill_memory, lab, wait_for  # noqa: F401  (lab: shared fixture)

pytestmark = pytest.mark.timeout(120)
SRC, DST = "t5440-sys-1", "t5440-sys-2"


def known_hosts(lab) -> str:
    path = lab.tmp / "console_known_hosts"
    path.write_text("".join(f"[127.0.0.1]:{d.port} {d.host_public_key}\n" for d in lab.ldmds.values()))
    return str(path)


async def ldm_link(lab, name: str, **kw) -> LdmExecLink:
    link = LdmExecLink("127.0.0.1", lab[name].port, "root", password=ROOT_PASSWORD, known_hosts=known_hosts(lab),
                       label=name, **kw)
    await asyncio.wait_for(link.connect(), 10)
    return link


def record_commands(ldmd) -> list[tuple[str, str | None]]:
    """Every exec command line the host ran, with the terminal type it was given."""
    seen: list[tuple[str, str | None]] = []
    run = ldmd._exec

    async def recording(process, user, command):
        seen.append((command, process.get_terminal_type()))
        return await run(process, user, command)

    ldmd._exec = recording
    return seen


def record_logins(ldmd) -> list[str]:
    seen: list[str] = []
    record = ldmd._record

    def recording(username, peer, ok, method):
        seen.append(f"{username} {ok}")
        record(username, peer, ok, method)

    ldmd._record = recording
    return seen


async def test_the_snapshot_has_the_figures_of_the_managers_own_and_one_login_serves_every_poll(lab):
    logins = record_logins(lab[SRC])
    link = await ldm_link(lab, SRC)
    try:
        for _ in range(5):
            snap = await link.snapshot()
        own = lab[SRC].manager.snapshot()
        for field in ("strands_total", "strands_free", "memory_total", "memory_free", "maus_total", "maus_free",
                      "manager_version"):
            assert getattr(snap, field) == getattr(own, field), field
        assert [(d.name, d.state, d.flags, d.cons, d.vcpus, d.memory) for d in snap.domains] == [
            (d.name, d.state, d.flags, d.cons, d.vcpus, d.memory) for d in own.domains]
        assert snap.hostname == SRC and "processor" in snap.unreported
        assert logins == ["root True"]
        assert link.path == "direct · ldm" and link.migrate is None
    finally:
        await link.close()


async def test_a_migration_answers_the_prompt_and_the_password_is_never_on_a_command_line(lab):
    commands = record_commands(lab[SRC])
    fill_memory(lab[SRC].manager, "ldg1", 64)
    src, dst = await ldm_link(lab, SRC), await ldm_link(lab, DST)
    try:
        out = await src.run(["migrate-domain", "ldg1", f"root@{DST}"], password=ROOT_PASSWORD, timeout=60)
        assert (out.exit_code, out.stdout, out.stderr) == (0, "", "")
        assert "ldg1" not in [d.name for d in (await src.snapshot()).domains]
        after = await dst.snapshot()
        assert next(d for d in after.domains if d.name == "ldg1").flags == "-n----"
        assert [j.state for j in after.jobs if j.domain == "ldg1"] in ([], ["completed"])
        migrate = [(c, term) for c, term in commands if "migrate-domain" in c]
        assert migrate == [("ldm migrate-domain ldg1 root@t5440-sys-2", "vt100")]
        assert not any(ROOT_PASSWORD in c for c, _ in commands)
        # The listings ran without a terminal, each on the one connection.
        assert all(term is None for c, term in commands if "migrate-domain" not in c)
    finally:
        await src.close()
        await dst.close()


async def test_refusals_come_back_as_ldm_prints_them_and_without_a_password_nothing_moves(lab):
    src = await ldm_link(lab, SRC)
    try:
        out = await src.run(["migrate-domain", "ldg1", f"root@{DST}"], password="wrong", timeout=60)
        assert out.exit_code == 1
        assert out.stderr.splitlines()[-1] == "Domain Migration of LDom ldg1 failed"
        assert "wrong" not in out.stdout + out.stderr
        out = await src.run(["migrate-domain", "ldg1", f"root@{DST}"], timeout=60)
        assert out.exit_code == 1
        assert "A target password is required" in out.stdout + out.stderr
        assert "ldg1" in [d.name for d in (await src.snapshot()).domains]
        out = await src.run(["list-domain", "nosuch"])
        assert (out.exit_code, out.stderr) == (1, "LDom nosuch does not exist\n")
    finally:
        await src.close()


async def test_a_dropped_connection_marks_the_link_down_and_it_comes_back(lab):
    states: list[str] = []
    link = await ldm_link(lab, SRC, keepalive_interval=0.5, keepalive_count_max=2,
                          on_state=lambda lk: states.append(lk.state))
    keeper = asyncio.create_task(link.reconnect_forever(first_delay=0.5, max_delay=1.0))
    try:
        await link.snapshot()
        states.clear()
        link._conn.abort()
        await wait_for(lambda: "down" in states, 10)
        assert "connection lost" in link.last_error
        await wait_for(lambda: link.state == "connected", 10)
        assert states[:3] == ["down", "connecting", "connected"]
        assert (await link.snapshot()).hostname == SRC
    finally:
        keeper.cancel()
        await link.close()


# -- hosts that are not ldmd ---------------------------------------------------------------

class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return password == "pw"


async def fake_host(tmp_path, handler):
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(_Server, "127.0.0.1", 0, server_host_keys=[key], process_factory=handler,
                                          line_editor=False)
    port = server.sockets[0].getsockname()[1]
    kh = tmp_path / "fake_known_hosts"
    kh.write_text(f"[127.0.0.1]:{port} {key.export_public_key().decode()}")
    return server, port, str(kh)


async def test_a_host_without_ldm_is_down_with_the_reason(tmp_path):
    async def shell(process):
        process.stderr.write(f"sh: {process.command.split()[0]}: not found\n")
        process.exit(127)

    server, port, kh = await fake_host(tmp_path, shell)
    try:
        link = LdmExecLink("127.0.0.1", port, "root", password="pw", known_hosts=kh, label="plain-host")
        with pytest.raises(LinkDown) as caught:
            await asyncio.wait_for(link.connect(), 10)
        assert caught.value.code == "no-service"
        assert str(caught.value) == "plain-host: no Logical Domains Manager here (ldm -V: sh: ldm: not found)"
        assert link.state == "down"
    finally:
        server.close()


async def test_an_echoing_terminal_does_not_put_the_password_in_the_output(tmp_path):
    typed: list[str] = []

    async def oracle_like(process):
        if process.command == "ldm -V":
            process.stdout.write("Logical Domains Manager (v 3.4.0.3.6)\n\tHypervisor control protocol v 1.12\n")
            process.exit(0)
            return
        assert process.get_terminal_type()
        process.stdout.write("Checking the target...\r\nTarget Pass")
        await process.stdout.drain()
        await asyncio.sleep(0.2)                         # the prompt arrives in two pieces
        process.stdout.write("word:")
        line = await process.stdin.readline()
        typed.append(line)
        process.stdout.write(line.replace("\n", "\r\n"))          # a terminal with echo left on
        process.stdout.write("Failed to establish connection with ldmd(8) on target: t5440-sys-2\r\n"
                             "Check that the 'ldmd' service is enabled on the target machine and\r\n"
                             "that the version supports Domain Migration.\r\n")
        process.exit(1)

    server, port, kh = await fake_host(tmp_path, oracle_like)
    try:
        link = LdmExecLink("127.0.0.1", port, "root", password="pw", known_hosts=kh, label="t5440-sys-1")
        await asyncio.wait_for(link.connect(), 10)
        out = await link.run(["migrate-domain", "ldg1", "t5440-sys-2"], password="s3cret", timeout=20)
        assert typed == ["s3cret\n"]
        assert "s3cret" not in out.stdout + out.stderr
        assert out.exit_code == 1
        assert out.stdout.splitlines() == [
            "Checking the target...",
            "Failed to establish connection with ldmd(8) on target: t5440-sys-2",
            "Check that the 'ldmd' service is enabled on the target machine and",
            "that the version supports Domain Migration."]
        await link.close()
    finally:
        server.close()


def test_the_domain_of_a_migrate_command_line():
    assert migrated_domain(["migrate-domain", "ldg1", "root@h"]) == "ldg1"
    assert migrated_domain(["migrate-domain", "-n", "-p", "/tmp/pw", "ldg-src", "h:ldg-tgt"]) == "ldg-src"
    assert migrated_domain(["migrate", "--live", "-d", "300", "-b", "10M", "-P", "2201", "d", "h"]) == "d"
    assert migrated_domain(["migrate-domain", "-n"]) == ""


async def test_list_devices_is_read_again_only_when_what_the_domains_hold_changes(lab):
    commands = record_commands(lab[SRC])
    link = await ldm_link(lab, SRC)

    def devices_reads() -> int:
        return sum(1 for c, _ in commands if c == "ldm list-devices -a -p")

    async def same_figures() -> None:
        snap, own = await link.snapshot(), lab[SRC].manager.snapshot()
        assert (snap.strands_free, snap.memory_free, snap.maus_free) == (
            own.strands_free, own.memory_free, own.maus_free)

    try:
        for _ in range(4):
            await same_figures()
        assert devices_reads() == 1
        # Changed behind the link's back: ldg2's state changes, so its resources are read again.
        assert lab.ldm(SRC, "unbind-domain ldg2").exit_code == 0
        await same_figures()
        assert devices_reads() == 2
        # Changed through the link: whatever the command did, the next snapshot reads again.
        assert (await link.run(["bind-domain", "ldg2"])).exit_code == 0
        await same_figures()
        assert devices_reads() == 3
        await same_figures()
        assert devices_reads() == 3
    finally:
        await link.close()
