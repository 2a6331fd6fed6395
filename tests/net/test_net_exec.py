"""``ldm`` over SSH exec, as an operator types it (SPEC S-1, S-2, S-5, M-6)."""

from __future__ import annotations

import asyncio

import asyncssh

from ldtui.core.commands import execute
from netkit import OPERATOR_PASSWORD, ROOT_PASSWORD, ldm_client


def target(ldmd, user="root"):
    return f"{user}@127.0.0.1:{ldmd.port}"


async def exec_ldm(ldmd, command: str, *, user="root", password=ROOT_PASSWORD, env=None):
    async with asyncssh.connect("127.0.0.1", ldmd.port, username=user, password=password,
                                known_hosts=str(ldmd.known_hosts_file), client_keys=None, agent_path=None,
                                config=None) as conn:
        return await asyncio.wait_for(conn.run(command, encoding=None, env=env or {}), 10)


async def test_ldm_list_over_ssh_prints_what_the_manager_prints(ldmd):
    """S-2: `ldm list` through the client is byte for byte execute()'s output."""
    expected = execute(ldmd.manager, "root", ["list"])
    ran = await ldm_client("-H", target(ldmd), "list", known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 0, ran.stderr
    # UPTIME moves with the clock; compare everything but that column's seconds.
    assert _no_uptime(ran.stdout.decode()) == _no_uptime(expected.stdout)
    assert ran.stdout.decode().splitlines()[0] == "NAME       STATE      FLAGS   CONS    VCPU  MEMORY   UTIL  UPTIME"
    assert ran.stderr == b""


def _no_uptime(text: str) -> list[str]:
    return [line[:60].rstrip() for line in text.splitlines()]


async def test_exec_returns_stdout_stderr_and_status_unchanged(ldmd):
    ok = await exec_ldm(ldmd, "ldm list-services")
    assert ok.exit_status == 0
    assert ok.stdout.decode() == execute(ldmd.manager, "root", ["list-services"]).stdout
    bad = await exec_ldm(ldmd, "ldm list nosuchdomain")
    want = execute(ldmd.manager, "root", ["list", "nosuchdomain"])
    assert (bad.exit_status, bad.stdout.decode(), bad.stderr.decode()) == (want.exit_code, want.stdout, want.stderr)
    assert bad.exit_status != 0


async def test_a_change_over_ssh_lands_in_the_manager(ldmd):
    r = await exec_ldm(ldmd, "ldm add-domain ldg9")
    assert r.exit_status == 0, r.stderr
    assert "ldg9" in [d.name for d in ldmd.manager.domains()]


async def test_wrong_password_is_refused_in_one_line(ldmd):
    ran = await ldm_client("-H", target(ldmd), "list", password="guess", known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255
    assert ran.stderr.decode() == f"ldm: Permission denied for root@[127.0.0.1]:{ldmd.port}\n"
    assert ran.stdout == b""


async def test_unknown_user_is_refused_like_a_wrong_password(ldmd):
    ran = await ldm_client("-H", target(ldmd, "nobody"), "list", known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255
    assert ran.stderr.decode() == f"ldm: Permission denied for nobody@[127.0.0.1]:{ldmd.port}\n"


async def test_failed_logins_slow_down_the_next_attempt(ldmd):
    """S-5: each failure from one address doubles the wait for that user."""
    for _ in range(2):
        try:
            await exec_ldm(ldmd, "ldm list", password="guess")
        except asyncssh.PermissionDenied:
            pass
    assert ldmd.throttle.failures("root", "127.0.0.1") == 2
    assert ldmd.throttle.delay("root", "127.0.0.1") > 0
    ok = await exec_ldm(ldmd, "ldm list", password=ROOT_PASSWORD)
    assert ok.exit_status == 0
    assert ldmd.throttle.failures("root", "127.0.0.1") == 0


async def test_passwords_never_reach_the_log(ldmd, caplog):
    caplog.set_level("DEBUG")
    try:
        await exec_ldm(ldmd, "ldm list", password="s3cret-guess")
    except asyncssh.PermissionDenied:
        pass
    await exec_ldm(ldmd, "ldm list", env={"LDM_TARGET_PASSWORD": "target-s3cret"})
    assert "s3cret" not in caplog.text
    assert "failed password login for root" in caplog.text


async def test_read_only_operator_cannot_change_anything(ldmd):
    """M-6: the operator holds solaris.ldoms.read only."""
    before = [(d.name, d.state) for d in ldmd.manager.domains()]
    ran = await ldm_client("-H", target(ldmd, "operator"), "stop-domain", "ldg1", password=OPERATOR_PASSWORD,
                           known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 1
    assert ran.stderr.decode() == "Authorization failed: user operator does not have solaris.ldoms.write on t5440-sys-1\n"
    assert [(d.name, d.state) for d in ldmd.manager.domains()] == before
    listing = await ldm_client("-H", target(ldmd, "operator"), "list", password=OPERATOR_PASSWORD,
                               known_hosts=ldmd.known_hosts_file)
    assert listing.returncode == 0 and b"ldg1" in listing.stdout


async def test_malformed_command_line_is_one_clear_line(ldmd):
    r = await exec_ldm(ldmd, "ldm list 'ldg1")
    assert r.exit_status == 1
    assert r.stderr.decode() == "ldm: malformed command line: No closing quotation\n"


async def test_only_ldm_commands_run(ldmd):
    r = await exec_ldm(ldmd, "cat /etc/passwd")
    assert r.exit_status == 127
    assert r.stdout == b""
    assert r.stderr.decode() == "ldmd: only ldm commands can be run here, e.g. 'ldm list'\n"


async def test_a_shell_is_not_offered(ldmd):
    async with asyncssh.connect("127.0.0.1", ldmd.port, username="root", password=ROOT_PASSWORD,
                                known_hosts=str(ldmd.known_hosts_file), client_keys=None, agent_path=None,
                                config=None) as conn:
        proc = await conn.create_process(encoding=None)
        proc.stdin.write_eof()
        err = await asyncio.wait_for(proc.stderr.read(), 10)
        done = await asyncio.wait_for(proc.wait(), 10)
    assert done.exit_status == 1
    assert err.startswith(b"ldmd: interactive shells are not offered")


async def test_changed_host_key_is_refused_loudly(ldmd, tmp_path):
    """S-1: a known host presenting another key is an impostor until proven otherwise."""
    forged = tmp_path / "forged_known_hosts"
    other = asyncssh.generate_private_key("ssh-ed25519")
    forged.write_text(f"[127.0.0.1]:{ldmd.port} {other.export_public_key('openssh').decode().strip()}\n")
    ran = await ldm_client("-H", target(ldmd), "list", known_hosts=forged)
    err = ran.stderr.decode()
    assert ran.returncode == 255
    assert "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!" in err
    assert f"Offending key for [127.0.0.1]:{ldmd.port} in {forged}:1" in err
    assert err.endswith(f"ldm: Host key verification failed for [127.0.0.1]:{ldmd.port}\n")
    assert ran.stdout == b""
    assert forged.read_text().count("\n") == 1        # nothing was added


async def test_unknown_host_without_a_terminal_is_refused(ldmd, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    ran = await ldm_client("-H", target(ldmd), "list", known_hosts=empty)
    assert ran.returncode == 255
    assert ran.stderr.decode() == (f"ldm: Host key verification failed: [127.0.0.1]:{ldmd.port} "
                                   f"is not in {empty}\n")


async def test_unreachable_host_is_one_line(tmp_path):
    ran = await ldm_client("-H", "root@127.0.0.1:1", "list", known_hosts=tmp_path / "kh")
    assert ran.returncode == 255
    assert ran.stderr.decode() == "ldm: Cannot connect to [127.0.0.1]:1: Connection refused\n"


async def test_no_host_given_is_one_line(tmp_path):
    ran = await ldm_client("list", known_hosts=tmp_path / "kh")
    assert ran.returncode == 255
    assert ran.stderr.decode() == "ldm: no host given: use -H [USER@]HOST[:PORT] or set LDM_HOST\n"
