"""Migrations that meet: crossing, doubled, to the host itself, more than a target can take (G-4, G-6, G-7, M-7).

Each case ends with the outcome or refusal an operator would expect, said in one clear line,
and with nothing left waiting: every migration and every look at the hosts has a timeout.
"""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from tests.faults.harness import PASSWORD, HostProcess, start_mesh
from tests.faults.load import host_table

pytestmark = pytest.mark.timeout(170)


def small_target(table: dict, *, memory: str, strands: int) -> dict:
    """A target with room for only a few of the domains (CPU and memory both)."""
    table = dict(table)
    table["machine"] = dict(table["machine"], cores=max(strands // 8, 1), strands_per_core=min(strands, 8),
                            memory=[{"pa": "0x0", "size": memory}])
    table["primary"] = dict(table["primary"], vcpus=2, memory="1G")
    table["domains"] = []
    return table


class Pair:
    def __init__(self, root, tables: list[dict]) -> None:
        self.root = root
        self.procs = [HostProcess(t["host"]["name"], root, t, ["--keepalive", "2:3", "--wait-timeout", "20"])
                      for t in tables]
        self.conns: list[asyncssh.SSHClientConnection] = []

    async def __aenter__(self):
        known = await start_mesh(self.procs, self.root)
        for p in self.procs:
            self.conns.append(await asyncio.wait_for(asyncssh.connect(
                "127.0.0.1", p.port, username="root", password=PASSWORD, known_hosts=str(known),
                client_keys=None, agent_path=None, config=None), 20))
        return self

    async def __aexit__(self, *exc):
        for c in self.conns:
            c.close()
        await asyncio.gather(*(p.stop() for p in self.procs), return_exceptions=True)

    async def migrate(self, i: int, line: str) -> tuple[int, str]:
        proc = await self.conns[i].create_process(f"ldm migrate-domain {line}")
        try:
            proc.stdin.write(PASSWORD + "\n")
        except BrokenPipeError:
            pass
        done = await asyncio.wait_for(proc.wait(check=False), 120)
        text = (done.stdout + done.stderr).replace("Target Password:", "", 1)
        return done.exit_status, text.strip()

    async def where(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for i, p in enumerate(self.procs):
            r = await asyncio.wait_for(self.conns[i].run("ldm list -p", check=False), 30)
            for line in r.stdout.splitlines():
                if line.startswith("DOMAIN|"):
                    f = dict(x.split("=", 1) for x in line.split("|")[1:] if "=" in x)
                    if f["name"] != "primary":
                        found.setdefault(f["name"], []).append(f"{p.name}:{f['state']}:{f['flags']}")
        return found


def _tables(n: int = 2) -> list[dict]:
    return [host_table(i, n) for i in range(1, n + 1)]


async def test_crossing_migrations_both_arrive(tmp_path):
    async with Pair(tmp_path, _tables()) as pair:
        a, b = await asyncio.gather(pair.migrate(0, "h1-d1 load-2"), pair.migrate(1, "h2-d1 load-1"))
        assert a == (0, "") and b == (0, "")
        where = await pair.where()
        assert where["h1-d1"] == ["load-2:active:-n----"]
        assert where["h2-d1"] == ["load-1:active:-n----"]


async def test_the_same_domain_migrated_twice_at_once_moves_once(tmp_path):
    async with Pair(tmp_path, _tables()) as pair:
        first, second = await asyncio.gather(pair.migrate(0, "h1-d1 load-2"), pair.migrate(0, "h1-d1 load-2"))
        outcomes = sorted([first, second])
        assert outcomes[0] == (0, "")
        code, text = outcomes[1]
        assert code != 0
        lines = text.splitlines()
        # Either it was still moving (the manager's refusal) or it had already left.
        assert lines[0] in ("Operation not allowed: domain h1-d1 is being migrated",
                            "LDom h1-d1 does not exist"), text
        where = await pair.where()
        assert where["h1-d1"] == ["load-2:active:-n----"]


async def test_a_migration_to_the_host_itself_is_refused_in_one_line(tmp_path):
    async with Pair(tmp_path, _tables()) as pair:
        code, text = await pair.migrate(0, "h1-d1 load-1")
        assert code != 0
        assert text.splitlines()[0] == ("Target host load-1 is the host LDom h1-d1 runs on: a domain can only be "
                                        "migrated to another machine")
        assert (await pair.where())["h1-d1"] == ["load-1:active:-n----"]


async def test_eight_migrations_to_a_target_with_room_for_four(tmp_path):
    sources = [host_table(i, 5) for i in range(1, 5)]
    # Room for four 512 MB domains beside 128 MB reserved and the control domain's 1 GB: the
    # fifth finds not enough memory.
    target = small_target(host_table(5, 5), memory="3200M", strands=48)
    async with Pair(tmp_path, [*sources, target]) as pair:
        jobs = [pair.migrate(s, f"h{s + 1}-d{d} load-5") for s in range(4) for d in (1, 2)]
        results = await asyncio.gather(*jobs)
        moved = [r for r in results if r[0] == 0]
        refused = [r for r in results if r[0] != 0]
        where = await pair.where()
        on_target = sorted(n for n, places in where.items() if any(p.startswith("load-5:") for p in places))
        assert len(moved) == len(on_target)
        assert len(moved) == 4 and len(refused) == 4, results
        for _, text in refused:
            assert text.splitlines()[-1].startswith("Domain Migration of LDom "), text
        # Every domain exists once, running, and nothing shows a migration any more.
        for name, places in where.items():
            assert len(places) == 1 and places[0].endswith(":active:-n----"), (name, places)
