"""``ldm --persist`` shares one SSH connection among later ``ldm`` runs, as OpenSSH's
ControlMaster/ControlPersist does, and nothing an operator sees changes: the same stdout,
stderr and exit status, the Target Password prompt, ``-p FILE``, a password piped on stdin,
and a KILL of ``ldm`` still cancels its migration (SPEC S-1, S-4, G-1, G-12). Only the
same user may use it: a private directory, and SO_PEERCRED on the socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ldtui.net import shared
from migkit import ROOT_PASSWORD as LAB_PASSWORD
from migkit import fill_memory, lab, slow_lab, wait_for  # noqa: F401  (lab, slow_lab: shared fixtures)
from netkit import client_env, ldm_client

CLIENT = [sys.executable, "-c", "from ldtui.net.client import main; main()"]


@pytest.fixture
def runtime():
    """A private XDG_RUNTIME_DIR short enough for unix socket paths; every holder left in it
    is ended (by the pid its socket reports) when the test is done."""
    path = Path(tempfile.mkdtemp(prefix="ldm-", dir="/tmp"))
    yield path
    for sock_path in (path / "ldtui").glob("*.sock") if (path / "ldtui").exists() else ():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(sock_path))
            pid = shared.peer_pid(s)
        except OSError:
            continue
        finally:
            s.close()
        os.kill(pid, signal.SIGTERM)
    shutil.rmtree(path, ignore_errors=True)


def holders(runtime: Path) -> list[int]:
    """Pids of the holders serving sockets in ``runtime``."""
    out = []
    for sock_path in (runtime / "ldtui").glob("*.sock") if (runtime / "ldtui").exists() else ():
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(sock_path))
            out.append(shared.peer_pid(s))
        except OSError:
            pass
        finally:
            s.close()
    return out


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("command", [["list-services"], ["list", "nosuchdomain"], ["frobnicate"],
                                     ["list-devices", "memory"], ["remove-domain", "ldg3"]])
async def test_a_shared_connection_prints_the_same_bytes_and_exits_with_the_same_status(ldmd, runtime, command):
    target = f"root@127.0.0.1:{ldmd.port}"
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    direct = await ldm_client("-H", target, *command, known_hosts=ldmd.known_hosts_file, env=env)
    first = await ldm_client("--persist", "30", "-H", target, "list-services", known_hosts=ldmd.known_hosts_file,
                             env=env)
    assert (first.returncode, first.stderr) == (0, b""), first.stderr
    (pid,) = holders(runtime)
    if command[0] == "remove-domain":      # changes state: direct and shared each on a twin domain
        ldmd.manager.add_domain("ldg3")
    # No password and no key: only the shared connection can log this in.
    again = await ldm_client("-H", target, *command, password=None, known_hosts=ldmd.known_hosts_file, env=env)
    assert (again.stdout, again.stderr, again.returncode) == (direct.stdout, direct.stderr, direct.returncode)
    assert direct.stdout or direct.stderr or command[0] == "remove-domain"
    assert holders(runtime) == [pid]


async def test_close_ends_the_shared_connection_and_ldm_logs_in_by_itself_again(ldmd, runtime):
    target = f"root@127.0.0.1:{ldmd.port}"
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    assert (await ldm_client("--persist", "30", "-H", target, "list", known_hosts=ldmd.known_hosts_file,
                             env=env)).returncode == 0
    (pid,) = holders(runtime)
    closed = await ldm_client("--close", target, password=None, known_hosts=ldmd.known_hosts_file, env=env)
    assert (closed.returncode, closed.stdout, closed.stderr) == (0, b"", b"")
    await wait_for(lambda: gone(pid), timeout=10)
    assert list((runtime / "ldtui").glob("*.sock")) == []
    alone = await ldm_client("-H", target, "list", password=None, known_hosts=ldmd.known_hosts_file, env=env)
    assert alone.returncode == 255 and b"Permission denied" in alone.stderr
    again = await ldm_client("--close", target, password=None, known_hosts=ldmd.known_hosts_file, env=env)
    assert (again.returncode, again.stderr) == (255, f"ldm: no shared connection to {target}\n".encode())


async def test_an_idle_shared_connection_leaves_after_its_seconds(ldmd, runtime):
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    ran = await ldm_client("--persist", "1", "-H", f"root@127.0.0.1:{ldmd.port}", "list",
                           known_hosts=ldmd.known_hosts_file, env=env)
    assert ran.returncode == 0
    (pid,) = holders(runtime)
    await wait_for(lambda: gone(pid), timeout=15)
    assert list((runtime / "ldtui").glob("*.sock")) == []


async def test_only_its_own_user_may_use_it(ldmd, runtime):
    """The directory is 0700 and the socket 0600; a directory others may enter is not used
    (ldm says so and goes on by itself); a process of another user that gets through to the
    socket anyway is not answered (SO_PEERCRED)."""
    target = f"root@127.0.0.1:{ldmd.port}"
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    assert (await ldm_client("--persist", "30", "-H", target, "list", known_hosts=ldmd.known_hosts_file,
                             env=env)).returncode == 0
    directory = runtime / "ldtui"
    (sock_path,) = directory.glob("*.sock")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700 and stat.S_IMODE(sock_path.stat().st_mode) == 0o600

    directory.chmod(0o755)
    try:
        ran = await ldm_client("-H", target, "list", password=None, known_hosts=ldmd.known_hosts_file, env=env)
        assert ran.returncode == 255 and b"Permission denied" in ran.stderr       # not served: on its own
        ran = await ldm_client("--persist", "30", "-H", target, "list", known_hosts=ldmd.known_hosts_file, env=env)
        assert ran.returncode == 0
        assert ran.stderr == f"ldm: not sharing the connection: {directory} has mode 0755, not 0700\n".encode()

        runtime.chmod(0o711)            # as if the file modes had been got around
        sock_path.chmod(0o666)
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])\n"
                 "try:\n    s.sendall(b'{\"op\": \"ping\"}\\n'); got = s.recv(100)\n"
                 "except OSError:\n    got = b''\nsys.stdout.write(repr(got))")
        # A stock interpreter: the test's own may sit where another user cannot read.
        python = shutil.which("python3", path="/usr/bin:/bin") or pytest.skip("no /usr/bin/python3 for another user")
        other = await asyncio.to_thread(subprocess.run, [python, "-c", probe, str(sock_path)], user=65534,
                                        capture_output=True, timeout=20, cwd="/")
        assert (other.returncode, other.stdout) == (0, b"b''"), other.stderr
    finally:
        runtime.chmod(0o700)
        directory.chmod(0o700)
        sock_path.chmod(0o600)
    pinged = shared.request(sock_path, "ping")
    assert pinged == 0


async def _ldm_on(lab, host: str, *argv: str, stdin: bytes = b"", password: str | None = LAB_PASSWORD, env=None):
    d = lab[host]
    return await ldm_client("-H", f"root@127.0.0.1:{d.port}", *argv, password=password, stdin=stdin,
                            known_hosts=_console_known_hosts(lab), env=env, timeout=60)


def _console_known_hosts(lab) -> Path:
    path = lab.tmp / "client_known_hosts"
    if not path.exists():
        path.write_text("".join(f"[127.0.0.1]:{d.port} {d.host_public_key}\n" for d in lab.ldmds.values()))
    return path


async def test_migrations_through_a_shared_connection_print_what_they_print_without(lab, runtime, tmp_path):
    """G-1: -p FILE, and a password piped on stdin, through the shared connection."""
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    pw = tmp_path / "pw"
    pw.write_text(LAB_PASSWORD + "\n")
    pw.chmod(0o600)
    dry = ("migrate-domain", "-n", "-p", str(pw), "ldg-src", "t5440-sys-2")
    direct = await _ldm_on(lab, "t5440-sys-1", *dry)
    assert direct.returncode == 1 and b"Unable to bind 2G memory region at real address 0x8000000" in direct.stderr
    assert (await _ldm_on(lab, "t5440-sys-1", "--persist", "60", "list", env=env)).returncode == 0
    shared_dry = await _ldm_on(lab, "t5440-sys-1", *dry, password=None, env=env)
    assert (shared_dry.stdout, shared_dry.stderr, shared_dry.returncode) == \
        (direct.stdout, direct.stderr, direct.returncode)

    piped = LAB_PASSWORD.encode() + b"\n"
    moved = await _ldm_on(lab, "t5440-sys-1", "migrate", "ldg1", "t5440-sys-2", stdin=piped, password=None, env=env)
    assert moved.returncode == 0, moved.stderr
    assert "ldg1" in [d.name for d in lab["t5440-sys-2"].manager.domains()]
    back = await _ldm_on(lab, "t5440-sys-2", "migrate", "ldg1", "t5440-sys-1", stdin=piped)
    assert (moved.stdout, moved.stderr, moved.returncode) == (back.stdout, back.stderr, back.returncode)
    assert "ldg1" in [d.name for d in lab["t5440-sys-1"].manager.domains()]


async def test_the_target_password_prompt_on_a_terminal_is_the_same(lab, runtime):
    """G-1: on a terminal ``Target Password:`` is asked here, without echo, shared or not."""
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    port = lab["t5440-sys-1"].port
    known = _console_known_hosts(lab)
    dry = ("-H", f"root@127.0.0.1:{port}", "migrate-domain", "-n", "ldg-src", "t5440-sys-2")

    async def on_a_terminal(password_env: str | None) -> tuple[int, bytes, bytes]:
        master, slave = os.openpty()
        e = client_env(password_env, known, env)
        proc = await asyncio.create_subprocess_exec(*CLIENT, *dry, stdin=slave, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=e, start_new_session=True)
        os.close(slave)
        try:
            err = b""
            while b"Target Password:" not in err:       # answered once asked (getpass flushes earlier input)
                err += await asyncio.wait_for(proc.stderr.read(100), 30)
            os.write(master, LAB_PASSWORD.encode() + b"\n")
            out, rest = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out, err + rest
        finally:
            os.close(master)

    direct = await on_a_terminal(LAB_PASSWORD)
    assert direct[0] == 1 and direct[2].startswith(b"Target Password:\n") and b"Unable to bind 2G" in direct[2]
    assert (await _ldm_on(lab, "t5440-sys-1", "--persist", "60", "list", env=env)).returncode == 0
    assert await on_a_terminal(None) == direct


async def test_killing_ldm_on_a_shared_connection_cancels_its_migration(slow_lab, runtime):
    """G-12: a KILL of ldm closes its command's channel, as it would close its connection."""
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    src, dst = slow_lab["t5440-sys-1"], slow_lab["t5440-sys-2"]
    fill_memory(src.manager, "ldg1", 400)       # seconds of transfer: the KILL comes before GO
    assert (await _ldm_on(slow_lab, "t5440-sys-1", "--persist", "60", "list", env=env)).returncode == 0
    e = client_env(None, _console_known_hosts(slow_lab), env)
    proc = await asyncio.create_subprocess_exec(*CLIENT, "-H", f"root@127.0.0.1:{src.port}", "migrate", "ldg1",
                                                "t5440-sys-2", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                                                env=e)
    proc.stdin.write(LAB_PASSWORD.encode() + b"\n")
    await proc.stdin.drain()
    try:
        await wait_for(lambda: "ldg1" in [d.name for d in dst.manager.domains()], timeout=30)
    finally:
        proc.kill()
        await proc.wait()
    await wait_for(lambda: not src.manager.migrating() and src.manager.domain("ldg1").state.value == "active",
                   timeout=30)
    await wait_for(lambda: "ldg1" not in [d.name for d in dst.manager.domains()], timeout=30)
