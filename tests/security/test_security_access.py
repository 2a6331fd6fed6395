"""Who gets in and what they may do (SPEC S-1, S-5, M-6, G-1).

Everything here goes through a real ldmd on loopback and the real ``ldm`` client process
or an SSH session, as an operator or an intruder would.
"""

from __future__ import annotations

import asyncio
import os
import time

import asyncssh
import pytest

from netkit import OPERATOR_PASSWORD, ROOT_PASSWORD, ldm_client

pytestmark = pytest.mark.timeout(90)


def _key_file(path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key("openssh"))
    return key


def _target(ldmd, user="root") -> str:
    return f"{user}@127.0.0.1:{ldmd.port}"


async def test_password_login_and_key_login_both_work(ldmd, tmp_path):
    by_password = await ldm_client("-H", _target(ldmd), "list", "-p", known_hosts=ldmd.known_hosts_file)
    assert by_password.returncode == 0 and by_password.stdout.startswith(b"VERSION 1.3")
    key = _key_file(tmp_path / "id")
    user = ldmd.manager.store.user("root")
    user.keys.append(key.export_public_key("openssh").decode().strip())
    ldmd.manager.store.save_user(user)
    by_key = await ldm_client("-H", _target(ldmd), "-i", str(tmp_path / "id"), "list", "-p", password=None,
                              known_hosts=ldmd.known_hosts_file)
    assert by_key.returncode == 0
    assert by_key.stdout.splitlines()[1:] and by_key.stdout.split(b"\n")[0] == b"VERSION 1.3"


@pytest.mark.parametrize("user, password", [("root", "wrong"), ("nobody", "whatever"), ("operator", ROOT_PASSWORD)])
async def test_wrong_or_unknown_credentials_get_one_line_and_no_session(ldmd, user, password):
    ran = await ldm_client("-H", _target(ldmd, user), "list", password=password, known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255
    assert ran.stdout == b""
    assert ran.stderr.decode() == f"ldm: Permission denied for {user}@[127.0.0.1]:{ldmd.port}\n"


async def test_a_stranger_key_is_refused(ldmd, tmp_path):
    _key_file(tmp_path / "stranger")
    ran = await ldm_client("-H", _target(ldmd), "-i", str(tmp_path / "stranger"), "list", password=None,
                           known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255 and b"Permission denied" in ran.stderr


@pytest.mark.parametrize("line", ["add-domain intruder", "stop-domain ldg1", "set-vcpu 1 ldg1",
                                  "remove-domain ldg3", "migrate-domain ldg1 t5440-sys-2",
                                  "cancel-operation migration ldg1"])
async def test_read_only_users_may_look_but_not_touch(ldmd, line):
    before = [(d.name, d.state) for d in ldmd.manager.domains()]
    ran = await ldm_client("-H", _target(ldmd, "operator"), *line.split(), password=OPERATOR_PASSWORD,
                           known_hosts=ldmd.known_hosts_file, stdin=b"pw\n")
    assert ran.returncode == 1
    assert ran.stderr.decode().splitlines()[0] == \
        "Authorization failed: user operator does not have solaris.ldoms.write on t5440-sys-1"
    assert [(d.name, d.state) for d in ldmd.manager.domains()] == before
    listing = await ldm_client("-H", _target(ldmd, "operator"), "list", password=OPERATOR_PASSWORD,
                               known_hosts=ldmd.known_hosts_file)
    assert listing.returncode == 0 and b"ldg1" in listing.stdout


async def test_a_changed_host_key_is_refused_loudly_before_any_password_leaves(ldmd, tmp_path):
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()[:2]
    kh = tmp_path / "kh_changed"
    kh.write_text(f"[127.0.0.1]:{ldmd.port} {' '.join(impostor)}\n")
    logins_before = ldmd.throttle.delay("root", "127.0.0.1")
    ran = await ldm_client("-H", _target(ldmd), "list", known_hosts=kh)
    err = ran.stderr.decode()
    assert ran.returncode == 255 and ran.stdout == b""
    assert "@@@@@@@@@@@" in err and "REMOTE HOST IDENTIFICATION HAS CHANGED" in err.upper()
    assert err.splitlines()[-1] == f"ldm: Host key verification failed for [127.0.0.1]:{ldmd.port}"
    assert ldmd.throttle.delay("root", "127.0.0.1") == logins_before   # no login was even tried
    unknown = await ldm_client("-H", _target(ldmd), "list", known_hosts=tmp_path / "empty_kh")
    assert unknown.returncode == 255 and "is not in" in unknown.stderr.decode()


async def test_failed_logins_are_answered_ever_more_slowly(ldmd):
    """The fixture's throttle: 0.05 s after the first failure, doubling, capped at 0.2 s."""
    async def attempt(password: str) -> float:
        t = time.monotonic()
        try:
            async with asyncssh.connect("127.0.0.1", ldmd.port, username="root", password=password,
                                        known_hosts=None, client_keys=None, agent_path=None, config=None,
                                        preferred_auth="password"):
                pass
        except asyncssh.PermissionDenied:
            pass
        return time.monotonic() - t

    await attempt("bad-1")
    waits = [ldmd.throttle.delay("root", "127.0.0.1")]
    for i in range(3):
        await attempt(f"bad-{i + 2}")
        waits.append(ldmd.throttle.delay("root", "127.0.0.1"))
    assert waits == sorted(waits) and waits[0] > 0 and waits[-1] == pytest.approx(0.2)
    # The wait is really served: a correct password after failures is answered no sooner.
    assert await attempt(ROOT_PASSWORD) >= 0.2
    assert ldmd.throttle.delay("root", "127.0.0.1") == 0


async def test_a_password_file_others_can_read_is_refused_here_and_on_the_host(ldmd, tmp_path):
    pw = tmp_path / "target-pw"
    pw.write_text("secret\n")
    pw.chmod(0o644)
    ran = await ldm_client("-H", _target(ldmd), "migrate-domain", "-p", str(pw), "ldg1", "t5440-sys-2",
                           known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255
    assert ran.stderr.decode() == (f"Password file {pw} is accessible by others (mode 0644); "
                                   f"run 'chmod 600 {pw}'\n")
    # The same file named to the host itself (ssh host ldm migrate -p FILE): the host refuses it.
    async with asyncssh.connect("127.0.0.1", ldmd.port, username="root", password=ROOT_PASSWORD,
                                known_hosts=None, client_keys=None, agent_path=None, config=None) as conn:
        r = await asyncio.wait_for(conn.run(f"ldm migrate-domain -p {pw} ldg1 t5440-sys-2", check=False), 20)
    assert r.exit_status == 1
    assert r.stderr.splitlines()[0] == f"Password file {pw} is accessible by others (mode 0644); run 'chmod 600 {pw}'"
    pw.chmod(0o640)
    ran = await ldm_client("-H", _target(ldmd), "migrate", "-p", str(pw), "ldg1", "t5440-sys-2",
                           known_hosts=ldmd.known_hosts_file)
    assert ran.returncode == 255 and b"mode 0640" in ran.stderr
