"""Two or three real ldmd on loopback, from the default lab file, with migration installed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh

from ldtui.core.commands import execute
from ldtui.core.hostconfig import load_lab
from ldtui.net.lab import default_lab_file
from ldtui.net.migrate import install

ROOT_PASSWORD = "solaris"


class Hosts:
    def __init__(self, tmp_path: Path, names) -> None:
        self.tmp = tmp_path
        self.configs = {c.name: c for c in load_lab(default_lab_file()) if c.name in names}
        self.known_hosts = tmp_path / "peer_known_hosts"
        self.ldmds: dict = {}
        self.services: dict = {}

    async def start(self, **options) -> None:
        from ldtui.net.ratelimit import LoginThrottle
        from ldtui.net.server import Ldmd
        for name, cfg in self.configs.items():
            d = Ldmd(cfg, self.tmp / name, listen=("127.0.0.1", 0), peers={},
                     peer_known_hosts=self.known_hosts, throttle=LoginThrottle(base=0.01, cap=0.05))
            self.services[name] = install(d, **options)
            await asyncio.wait_for(d.start(), 10)
            self.ldmds[name] = d
        # Peers are known by name, as an operator types them (HostKeyAlias-style entries).
        self.known_hosts.write_text("".join(f"{n} {d.host_public_key}\n" for n, d in self.ldmds.items()))
        for name, d in self.ldmds.items():
            d.set_peers({o: ("127.0.0.1", x.port) for o, x in self.ldmds.items() if o != name})

    async def stop(self) -> None:
        for d in self.ldmds.values():
            await asyncio.wait_for(d.stop(), 10)

    def __getitem__(self, name: str):
        return self.ldmds[name]

    def ldm(self, host: str, line: str, user: str = "root"):
        """``ldm LINE`` run in-process on ``host`` (listings and local commands)."""
        return execute(self.ldmds[host].manager, user, line.split())


async def ssh_ldm(ldmd, line: str, *, password_line: str | None = ROOT_PASSWORD, user: str = "root",
                  login_password: str = ROOT_PASSWORD, timeout: float = 60.0, started=None):
    """``ssh HOST ldm LINE`` with the target password typed on stdin, as the seed shows it.

    Returns (exit status, stdout, stderr). ``started`` (an asyncio.Event) is set once the
    command is running, so a test can act while it waits.
    """
    async with asyncssh.connect("127.0.0.1", ldmd.port, username=user, password=login_password,
                                known_hosts=None, client_keys=None, agent_path=None, config=None) as conn:
        proc = await conn.create_process("ldm " + line, encoding=None)
        if password_line is not None:
            try:
                proc.stdin.write(password_line.encode() + b"\n")
            except BrokenPipeError:
                pass            # answered (refused) before it asked: its output says why
        if started is not None:
            started.set()
        done = await asyncio.wait_for(proc.wait(check=False), timeout)
        return done.exit_status, done.stdout.decode(), done.stderr.decode()


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > end:
            raise AssertionError("condition not met within the time allowed")
        await asyncio.sleep(interval)


def fill_memory(manager, name: str, pages: int) -> str:
    """Give a domain ``pages`` distinct non-zero pages; returns its digest."""
    d = manager.domain(name)
    mem = manager.hv.memory(d.uuid)
    for p in range(pages):
        mem.write_page(p * 7 % mem.pages, (p + 1).to_bytes(4, "big") * 2048)
    return mem.digest()


# -- fixtures shared by the migration tests ------------------------------------------------
import pytest  # noqa: E402


@pytest.fixture
async def lab(tmp_path):
    """t5440-sys-1 and t5440-sys-2 of the default lab, migration installed."""
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start()
    yield hosts
    await hosts.stop()


@pytest.fixture
async def slow_lab(tmp_path):
    """Small batches and a pause between them, so a migration can be watched and cancelled."""
    hosts = Hosts(tmp_path, ("t5440-sys-1", "t5440-sys-2"))
    await hosts.start(page_delay=0.05, batch_pages=4)
    yield hosts
    await hosts.stop()
