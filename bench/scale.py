"""Scale of the console and of ``ldm list -p``: many hosts, many domains.

    python -m bench.scale [--hosts 50] [--domains 100] [--refreshes 20] [--list-domains 1000]
                          [--json bench/results/scale.json]

Part 1, the console: one ``LdtuiApp`` (headless, Textual's ``run_test``, 200×50 cells) fed
by ``--hosts`` in-memory hosts of ``--domains`` domains each. The hosts are an in-memory
``HostSource`` (this file's ``GeneratedHost``), not SSH links: it measures the console's own
work (cells, diff, sort, draw), not the network. Measured:
  - time to first full table: from the app's start until every row is in the domain table;
  - one refresh of all rows: every host's snapshot changes (each active domain's UTIL and
    UPTIME move, as they do every second), then the console redraws every table — timed
    from the change until the console is idle again with the new values in the table
    (p50/max over ``--refreshes`` rounds), and the same with nothing changed;
  - memory: the process's resident set (VmRSS) before the console starts and with every row
    in the table.

Part 2, ``ldm list -p`` over SSH: one real ``ldmd`` (in this process, on its own thread and
event loop) with ``--list-domains`` inactive domains, asked by an asyncssh client over
loopback SSH exactly as ``ssh host ldm list -p`` asks; also once with the ``ldm`` command
line program (a new process: Python start-up included). Times are wall-clock, p50 and max.

Prints a table and writes JSON. Targets (docs/PERFORMANCE.md, "The console"): refresh of
5000 rows ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

from ldtui.core.snapshot import DomainRow, HostSnapshot

G = 1 << 30
ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(result: dict, text: str, path: Path) -> None:
    """Print the machine line and ``text``; write ``result`` as JSON to ``path``."""
    print(f"machine: {result['machine']['cpus']} CPUs, Python {result['machine']['python']}, "
          f"{result['machine']['platform']}")
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


# -- part 1: the console ------------------------------------------------------------------

@attrs.define
class GeneratedHost:
    """An in-memory host: answers snapshots from a generated list of domains."""

    hostname: str
    ndomains: int
    tick: int = 0
    state: str = "connecting"
    _snap: HostSnapshot | None = None

    def __attrs_post_init__(self) -> None:
        self._snap = self._build()

    def _build(self) -> HostSnapshot:
        rows = [DomainRow(name="primary", state="active", flags="-n-cv-", cons="SP", vcpus=8, memory=4 * G,
                          util=0.3 + self.tick % 7 / 10, uptime=335220 + self.tick)]
        for i in range(1, self.ndomains):
            kind = i % 3
            if kind == 0:
                rows.append(DomainRow(name=f"ldg{i}", state="inactive", flags="------", cons="", vcpus=2,
                                      memory=G, util=None, uptime=None))
            elif kind == 1:
                rows.append(DomainRow(name=f"ldg{i}", state="bound", flags="------", cons=str(5000 + i),
                                      vcpus=4, memory=2 * G, util=None, uptime=None))
            else:
                rows.append(DomainRow(name=f"ldg{i}", state="active", flags="-n----", cons=str(5000 + i),
                                      vcpus=8, memory=G, util=(i * 7 + self.tick) % 1000 / 10,
                                      uptime=7200 + i + self.tick))
        return HostSnapshot(hostname=self.hostname, processor="UltraSPARC-T2+", clock_mhz=1414,
                            manager_version="1.2", strands_total=256, strands_free=128, memory_total=256 * G,
                            memory_free=64 * G, maus_total=32, maus_free=16, incoming_migration_enabled=True,
                            domains=tuple(rows), taken_at=float(self.tick))

    def advance(self) -> None:
        """A second passes: every active domain's UTIL and UPTIME change."""
        self.tick += 1
        self._snap = self._build()

    async def connect(self) -> None:
        self.state = "connected"

    async def close(self) -> None:
        pass

    async def snapshot(self) -> HostSnapshot:
        self.state = "connected"
        assert self._snap is not None
        return self._snap

    async def run(self, argv, *, password=None, timeout=None):
        raise RuntimeError("the generated hosts run no commands")


async def console_scale(nhosts: int, ndomains: int, refreshes: int) -> dict:
    from ldtui.app import LdtuiApp

    os.environ.setdefault("LDTUI_HOME", tempfile.mkdtemp(prefix="ldtui-scale-"))
    hosts = {f"host-{h:02d}": GeneratedHost(f"host-{h:02d}", ndomains) for h in range(nhosts)}
    total = nhosts * ndomains
    rss_before = rss_mib()
    # A long poll interval: the benchmark decides when snapshots arrive (one round below).
    app = LdtuiApp(hosts, users={n: "root" for n in hosts}, poll_interval=3600.0)
    redraws: list[float] = []
    redraw = app._redraw

    def timed_redraw() -> None:
        # The console's own redraw (every table's diff update), timed where it runs.
        t = time.perf_counter()
        redraw()
        redraws.append(time.perf_counter() - t)
    app._redraw = timed_redraw  # type: ignore[method-assign]
    t0 = time.perf_counter()
    async with app.run_test(size=(200, 50)) as pilot:
        main = app.main_screen()
        while main is None or main.domains_table.row_count < total:
            await pilot.pause(0.005)
            main = app.main_screen()
            if time.perf_counter() - t0 > 300:
                raise TimeoutError("the table never filled")
        await pilot.pause()
        first_full = time.perf_counter() - t0
        rss_full = rss_mib()

        async def one_round(change: bool) -> tuple[float, float]:
            if change:
                for host in hosts.values():
                    host.advance()
            redraws.clear()
            start = time.perf_counter()
            # What the pollers do when a second has passed: every host's snapshot arrives.
            for name, host in hosts.items():
                app.record(app.fleet.apply(name, await host.snapshot(), app.clock()))
                app.refresh_views()
            await pilot.pause()      # until the console has processed and repainted
            if not redraws:
                raise AssertionError("the console did not redraw")
            return sum(redraws), time.perf_counter() - start

        changed = [await one_round(True) for _ in range(refreshes)]
        same = [await one_round(False) for _ in range(refreshes)]
        # The values on screen are the newest ones (no refresh lost to coalescing).
        sample = next(iter(hosts.values()))
        key = f"{sample.hostname}/ldg2"
        shown = str(main.domains_table.get_cell(key, "uptime"))
        want_row = next(d for d in (await sample.snapshot()).domains if d.name == "ldg2")
        from ldtui.core.units import format_uptime
        if shown != format_uptime(want_row.uptime):
            raise AssertionError(f"table shows {shown!r} for {key}, the host says {want_row.uptime}")

    def ms(values: list[float]) -> dict:
        return {"p50_ms": statistics.median(values) * 1000, "max_ms": max(values) * 1000}

    return {
        "hosts": nhosts, "domains_per_host": ndomains, "rows": total,
        "source": "in-memory GeneratedHost (no SSH)",
        "first_full_table_s": first_full,
        "refresh_all_changed": {"redraw": ms([a for a, _ in changed]), "until_idle": ms([b for _, b in changed])},
        "refresh_all_unchanged": {"redraw": ms([a for a, _ in same]), "until_idle": ms([b for _, b in same])},
        "rss_before_mib": rss_before, "rss_full_mib": rss_full,
    }


# -- part 2: ldm list -p over SSH ------------------------------------------------------------

async def _add_domains(manager, count: int) -> None:
    for i in range(count):
        manager.add_domain(f"scale{i:04d}")


def ldm_list_scale(ndomains: int, runs: int) -> dict:
    import asyncssh

    from ldtui.net.lab import EmbeddedLab

    lab = EmbeddedLab()
    try:
        endpoints = {e.hostname: e for e in lab.start()}
        ep = endpoints["t5440-sys-1"]
        ldmd = lab.ldmds["t5440-sys-1"]
        existing = len(lab.call(_count(ldmd.manager)))
        t = time.perf_counter()
        lab.call(_add_domains(ldmd.manager, ndomains - existing), timeout=600)
        populate = time.perf_counter() - t

        async def over_ssh() -> tuple[float, list[float], int, int]:
            t0 = time.perf_counter()
            async with asyncssh.connect(ep.host, ep.port, username=ep.user, password=ep.password,
                                        known_hosts=ep.known_hosts_path) as conn:
                connect = time.perf_counter() - t0
                times = []
                lines = size = 0
                for _ in range(runs):
                    t1 = time.perf_counter()
                    result = await conn.run("ldm list -p", check=True, timeout=60)
                    times.append(time.perf_counter() - t1)
                    out = result.stdout or ""
                    lines, size = out.count("\n"), len(out.encode())
            return connect, times, lines, size

        connect, times, lines, size = asyncio.run(over_ssh())
        if lines < ndomains:
            raise AssertionError(f"ldm list -p printed {lines} lines for {ndomains} domains")
        env = dict(os.environ, LDM_PASSWORD=ep.password)
        cli = []
        for _ in range(max(1, runs // 4)):
            t1 = time.perf_counter()
            out = subprocess.run([ldm_program(), "-H", f"{ep.user}@{ep.host}:{ep.port}",
                                  "--known-hosts", ep.known_hosts_path, "list", "-p"],
                                 env=env, capture_output=True, text=True, timeout=120)
            cli.append(time.perf_counter() - t1)
            if out.returncode != 0 or out.stdout.count("\n") < ndomains:
                raise AssertionError(f"ldm list -p failed: {out.stderr.strip()[:200]}")
    finally:
        lab.stop()
    return {"domains": ndomains, "lines": lines, "bytes": size, "populate_s": populate,
            "ssh_connect_ms": connect * 1000,
            "asyncssh_exec": {"p50_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
                              "runs": runs},
            "ldm_cli_process": {"p50_ms": statistics.median(cli) * 1000, "max_ms": max(cli) * 1000,
                                "runs": len(cli)}}


def ldm_program() -> str:
    """The installed ``ldm`` next to this Python (the virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("ldm")
    return str(beside) if beside.exists() else (shutil.which("ldm") or "ldm")


async def _count(manager):
    return manager.domains()


# -- report --------------------------------------------------------------------------------

def table(result: dict) -> str:
    c, l = result["console"], result["ldm_list"]
    rows = [
        ("console rows", f"{c['rows']} ({c['hosts']} hosts × {c['domains_per_host']})", ""),
        ("time to first full table", f"{c['first_full_table_s']:.2f} s", ""),
        ("refresh, all rows changed (redraw)", f"{c['refresh_all_changed']['redraw']['p50_ms']:.0f} ms p50, "
                                               f"{c['refresh_all_changed']['redraw']['max_ms']:.0f} max", "≤ 100 ms"),
        ("refresh, all rows changed (to idle)",
         f"{c['refresh_all_changed']['until_idle']['p50_ms']:.0f} ms p50, "
         f"{c['refresh_all_changed']['until_idle']['max_ms']:.0f} max", "≤ 100 ms"),
        ("refresh, nothing changed (to idle)",
         f"{c['refresh_all_unchanged']['until_idle']['p50_ms']:.0f} ms p50", ""),
        ("memory (RSS before → full)", f"{c['rss_before_mib']:.0f} → {c['rss_full_mib']:.0f} MiB", ""),
        ("ldm list -p, domains", f"{l['domains']} ({l['bytes'] // 1024} KiB)", ""),
        ("  over one SSH connection", f"{l['asyncssh_exec']['p50_ms']:.0f} ms p50, "
                                      f"{l['asyncssh_exec']['max_ms']:.0f} max", ""),
        ("  ldm program (new process)", f"{l['ldm_cli_process']['p50_ms']:.0f} ms p50", ""),
    ]
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    head = f"{'measure':<{w}}  {'result':<{v}}  target"
    return "\n".join([head, "-" * len(head)] + [f"{a:<{w}}  {b:<{v}}  {t}" for a, b, t in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--domains", type=int, default=100)
    p.add_argument("--refreshes", type=int, default=20)
    p.add_argument("--list-domains", type=int, default=1000)
    p.add_argument("--list-runs", type=int, default=20)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = p.parse_args(argv)
    import logging
    logging.disable(logging.WARNING)   # the lab's own log lines would interleave with the table
    result = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "console": asyncio.run(console_scale(args.hosts, args.domains, args.refreshes)),
              "ldm_list": ldm_list_scale(args.list_domains, args.list_runs)}
    report(result, table(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
