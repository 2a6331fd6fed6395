"""Secrets stay secret and a migration needs write on both hosts (SPEC S-5, M-6, G-1).

Two real ldmd on loopback. A migration runs with a login password, a target password typed
at the prompt and one handed over by the ``ldm`` client (``-p FILE``); afterwards neither
password appears in any log (at debug level) nor anywhere in either host's database files.
"""

from __future__ import annotations

import logging
import os

import pytest

from migkit import Hosts, ssh_ldm
from netkit import ldm_client

pytestmark = pytest.mark.timeout(120)

LOGIN_SECRET = "Login-Sekr1t-4711"
TARGET_SECRET = "Target-Sekr1t-0815"


@pytest.fixture
async def pair(tmp_path):
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    yield hosts
    await hosts.stop()


@pytest.fixture
def debug_log(tmp_path):
    """Every logger of the process at debug level, asyncssh included, into one file."""
    path = tmp_path / "all.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old = root.level, logging.getLogger("asyncssh").level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("asyncssh").setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    handler.close()
    root.setLevel(old[0])
    logging.getLogger("asyncssh").setLevel(old[1])


def _state_bytes(tmp_path) -> bytes:
    blob = b""
    for dirpath, _, files in os.walk(tmp_path):
        for f in files:
            if f.startswith("ldom.db") or f.endswith(".log") or f.endswith(".toml"):
                if f == "all.log":
                    continue
                with open(os.path.join(dirpath, f), "rb") as fh:
                    blob += fh.read()
    return blob


async def test_passwords_never_reach_a_log_or_the_database(pair, tmp_path, debug_log):
    for name in ("t5440-sys-1", "t5440-sys-2"):
        pair[name].manager.add_user("admin", password=LOGIN_SECRET if name == "t5440-sys-1" else TARGET_SECRET)
    src = pair["t5440-sys-1"]
    # 1. The target password typed at the prompt (ssh host ldm migrate …).
    code, out, err = await ssh_ldm(src, "migrate-domain ldg1 admin@t5440-sys-2", user="admin",
                                   login_password=LOGIN_SECRET, password_line=TARGET_SECRET)
    assert (code, err) == (0, "")
    # 2. The ldm client with -p FILE: the password travels in the SSH session's environment.
    kh = tmp_path / "client_kh"
    kh.write_text(f"[127.0.0.1]:{src.port} {src.host_public_key}\n")
    pw = tmp_path / "pw"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(TARGET_SECRET + "\n")
    ran = await ldm_client("-H", f"admin@127.0.0.1:{src.port}", "migrate-domain", "-p", str(pw), "ldg2",
                           "admin@t5440-sys-2", password=LOGIN_SECRET, known_hosts=kh, timeout=60)
    assert ran.returncode == 0, ran.stderr
    # 3. A wrong login password and a wrong target password are refused and not logged either.
    code, _, err = await ssh_ldm(src, "migrate-domain ldg3 admin@t5440-sys-2", user="admin",
                                 login_password=LOGIN_SECRET, password_line=TARGET_SECRET + "-wrong")
    assert code == 1 and "Permission denied" in err
    logged = debug_log.read_bytes()
    assert b"login admin" in logged                       # the log really was written at debug level
    for secret in (LOGIN_SECRET, TARGET_SECRET, TARGET_SECRET + "-wrong"):
        assert secret.encode() not in logged, f"{secret} is in a log"
        assert secret.encode() not in _state_bytes(tmp_path), f"{secret} is in a state file"
    # Stored: salted hashes, different for the same password on two hosts.
    h1 = pair["t5440-sys-1"].manager.store.user("root").password_hash
    h2 = pair["t5440-sys-2"].manager.store.user("root").password_hash
    assert h1.startswith("scrypt$") and h2.startswith("scrypt$") and h1 != h2


async def test_a_migration_needs_write_on_the_source_and_on_the_target(pair):
    src, tgt = pair["t5440-sys-1"], pair["t5440-sys-2"]
    tgt.manager.add_user("viewer", password="viewer-pw", authorizations=("solaris.ldoms.read",))
    src.manager.add_user("viewer", password="viewer-pw", authorizations=("solaris.ldoms.read",))
    # Read-only on the source: refused there, before anything is asked.
    code, out, err = await ssh_ldm(src, "migrate-domain ldg1 root@t5440-sys-2", user="viewer",
                                   login_password="viewer-pw", password_line=None)
    assert code == 1
    assert err.splitlines()[0] == "Authorization failed: user viewer does not have solaris.ldoms.write on t5440-sys-1"
    # Write on the source, read-only on the target: the target refuses.
    code, out, err = await ssh_ldm(src, "migrate-domain ldg1 viewer@t5440-sys-2", password_line="viewer-pw")
    assert code == 1
    lines = err.splitlines()
    assert lines[-1] == "Domain Migration of LDom ldg1 failed"
    assert "viewer" in lines[0] and "solaris.ldoms.write" in lines[0] and "t5440-sys-2" in lines[0]
    assert [d.name for d in tgt.manager.domains() if d.name == "ldg1"] == []
    row = pair.ldm("t5440-sys-1", "list -p ldg1").stdout.splitlines()[1]
    assert "|state=active|flags=-n----|" in row
