"""The ``ldm`` client on an operator's terminal and without one (SPEC G-1, S-5): prompts
end their line whatever the answer, help needs no host and asks no password."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import termios

from ldtui.core.commands import COMMANDS
from netkit import ROOT_PASSWORD, client_env, ldm_client

CLIENT = [sys.executable, "-c", "from ldtui.net.client import main; main()"]


def _take_the_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def on_a_terminal(argv: list[str], *, env: dict, typed: list[tuple[bytes, bytes]] = (),
                        timeout: float = 20.0) -> tuple[int, bytes]:
    """Run the client with a pseudo-terminal as its controlling terminal; each ``(seen,
    keys)`` waits until ``seen`` was printed, then types ``keys``. Returns (status, screen)."""
    master, slave = os.openpty()
    proc = await asyncio.create_subprocess_exec(*CLIENT, *argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                                preexec_fn=_take_the_terminal)
    os.close(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    screen = bytearray()
    more = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(master, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(master)
        screen.extend(data)
        more.set()

    loop.add_reader(master, readable)
    try:
        async def run() -> int:
            for seen, keys in typed:
                while seen not in screen:
                    more.clear()
                    await more.wait()
                os.write(master, keys)
            return await proc.wait()
        code = await asyncio.wait_for(run(), timeout)
        await asyncio.sleep(0.1)                    # what is still on its way to the screen
        return code, bytes(screen)
    finally:
        loop.remove_reader(master)
        os.close(master)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_ctrl_d_at_the_target_password_prompt_ends_its_line(tmp_path):
    """Before: ``Target Password:Traceback (most recent call last):`` on the prompt's line."""
    env = client_env(ROOT_PASSWORD, tmp_path / "known_hosts", None)
    code, screen = await on_a_terminal(["-H", "root@127.0.0.1:1", "migrate", "ldg1", "t5440-sys-2"], env=env,
                                       typed=[(b"Target Password:", b"\x04")])
    assert code == 1
    assert screen == (b"Target Password:\r\nA target password is required\r\n"
                      b"Domain Migration of LDom ldg1 failed\r\n")
    code, screen = await on_a_terminal(["-H", "root@127.0.0.1:1", "migrate", "-n", "ldg1", "t5440-sys-2"], env=env,
                                       typed=[(b"Target Password:", b"\x04")])
    assert screen.splitlines()[-1] == b"Domain Migration of LDom ldg1 would fail if attempted"


async def test_ctrl_d_at_the_login_password_prompt_ends_its_line(ldmd):
    env = client_env(None, ldmd.known_hosts_file, None)
    code, screen = await on_a_terminal(["-H", f"root@127.0.0.1:{ldmd.port}", "list"], env=env,
                                       typed=[(b"'s password: ", b"\x04")])
    assert code == 255
    assert screen == (f"root@[127.0.0.1]:{ldmd.port}'s password: \r\n"
                      f"ldm: Permission denied for root@[127.0.0.1]:{ldmd.port}\r\n").encode()


async def test_help_and_mistakes_on_a_terminal_ask_no_target_password(ldmd):
    """Before: ``ldm migrate-domain --help`` on a terminal asked ``Target Password:`` first."""
    env = client_env(ROOT_PASSWORD, ldmd.known_hosts_file, None)
    host = f"root@127.0.0.1:{ldmd.port}"
    code, screen = await on_a_terminal(["-H", host, "migrate-domain", "--help"], env=env)
    assert (code, screen) == (0, (COMMANDS["migrate-domain"].usage + "\n").replace("\n", "\r\n").encode())
    code, screen = await on_a_terminal(["-H", host, "migrate", "ldg1"], env=env)
    assert code == 1
    assert screen.startswith(b"Too few operands: expected source-ldom [user@]target-host[:target-ldom]\r\n")


async def test_help_needs_no_host(tmp_path):
    """A new operator's first ``ldm --help`` has no LDM_HOST yet: the table of this
    installation answers, with ldm's own options."""
    ran = await ldm_client("--help", known_hosts=tmp_path / "kh")
    out = ran.stdout.decode()
    assert ran.returncode == 0 and ran.stderr == b""
    assert out.splitlines()[:4] == ["Usage:",
                                    "    ldm [-H [USER@]HOST[:PORT]] [-F FILE] [-J [USER@]JUMP[:PORT][,...]]",
                                    "        [-i FILE] [--known-hosts FILE] [--persist SECONDS]",
                                    "        [--close [USER@]HOST[:PORT]] <subcommand> [options] [operands]"]
    assert "    migrate-domain (migrate) " in out and "-H, --host [USER@]HOST[:PORT]" in out
    ran = await ldm_client("migrate", "--help", known_hosts=tmp_path / "kh")
    assert (ran.returncode, ran.stdout.decode()) == (0, COMMANDS["migrate-domain"].usage + "\n")
    ran = await ldm_client(known_hosts=tmp_path / "kh")
    assert ran.returncode == 1 and ran.stderr.decode().startswith("Usage:\n")
