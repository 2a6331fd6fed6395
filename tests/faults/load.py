"""Load: concurrent migrations among several ldmd processes while many clients poll.

    python -m tests.faults.load [--hosts 4] [--migrations 8] [--pollers 20]

Each host is an ``ldmd`` process on loopback with two active domains. All migrations start
at once (host i's domains go to host i+1), each as ``ssh HOST ldm migrate-domain`` with the
password typed at the prompt; meanwhile every poller runs ``ldm list -p`` in a loop on its
own SSH connection, and while the migrations run, operations that conflict with them are
tried (a second migration, stop, set-vcpu, remove, unbind) and must be refused in one line.
At the end every domain must exist exactly once, running, its guest counter not behind,
and no host may show a migration. Poll latency is reported (p50, p99, max) as measured.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from tests.faults.harness import PASSWORD, HostProcess, start_mesh, check

CONFLICTS = ("migrate-domain {d} {t}", "stop-domain {d}", "set-vcpu 1 {d}", "remove-domain {d}",
             "unbind-domain {d}", "set-memory 1G {d}")


def host_table(i: int, n: int) -> dict:
    volumes = [{"name": f"vol-{h}-{d}", "device": f"/ldoms/h{h}-d{d}.img"} for h in range(1, n + 1) for d in (1, 2)]
    return {
        "host": {"name": f"load-{i}", "listen": "127.0.0.1", "port": 0},
        "machine": {"processor": "UltraSPARC-T2+", "clock_mhz": 1414, "cores": 8, "strands_per_core": 8,
                    "memory": [{"pa": "0x0", "size": "16G"}], "reserved": [{"pa": "0x0", "size": "128M"}],
                    "pci_buses": ["pci@400"]},
        "users": [{"name": "root", "password": PASSWORD, "authorizations": ["write"]}],
        "primary": {"vcpus": 4, "memory": "2G", "io": ["pci@400"]},
        "services": {"vcc": [{"name": "primary-vcc0", "port_range": "5000-5100"}],
                     "vsw": [{"name": "primary-vsw0", "mac": f"00:14:4f:f8:00:{i:02x}", "net_dev": "e1000g0"}],
                     "vds": [{"name": "primary-vds0", "volumes": volumes}]},
        "domains": [{"name": f"h{i}-d{d}", "vcpus": 2, "memory": "512M",
                     "vdisks": [{"name": "vdisk1", "volume": f"vol-{i}-{d}@primary-vds0"}],
                     "vnets": [{"name": "vnet1", "switch": "primary-vsw0", "mac": f"00:14:4f:fa:{i:02x}:{d:02x}"}],
                     "state": "active", "write_rate": "2M"} for d in (1, 2)],
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def _connect(h: HostProcess, known: Path) -> asyncssh.SSHClientConnection:
    return await asyncio.wait_for(asyncssh.connect(
        "127.0.0.1", h.port, username="root", password=PASSWORD, known_hosts=str(known),
        client_keys=None, agent_path=None, config=None), 20)


async def run_load(root: Path, *, hosts: int = 4, migrations: int = 8, pollers: int = 20,
                   page_delay: float = 0.1, batch_pages: int = 16, out=None) -> dict:
    say = (lambda text: (out.write(text + "\n"), out.flush())) if out else (lambda text: None)
    check(migrations <= 2 * hosts, "each host offers two domains to migrate")
    procs = [HostProcess(f"load-{i}", root, host_table(i, hosts),
                         ["--page-delay", str(page_delay), "--batch-pages", str(batch_pages),
                          "--keepalive", "2:3", "--wait-timeout", "30"]) for i in range(1, hosts + 1)]
    conns: list[asyncssh.SSHClientConnection] = []
    try:
        known = await start_mesh(procs, root)
        say(f"{hosts} ldmd started")
        await asyncio.sleep(1.0)           # the guests write some memory first

        control = [await _connect(p, known) for p in procs]
        conns += control
        before = {}
        for i, p in enumerate(procs):
            for d in (1, 2):
                r = await control[i].run(f"ldm guest-info h{i + 1}-d{d}", check=False)
                before[f"h{i + 1}-d{d}"] = int(dict(x.split("=", 1) for x in r.stdout.split())["counter"])

        stop = asyncio.Event()
        latencies: list[float] = []
        poll_errors: list[str] = []

        async def poller(k: int) -> None:
            conn = await _connect(procs[k % hosts], known)
            conns.append(conn)
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    r = await asyncio.wait_for(conn.run("ldm list -p", check=False), 30)
                except (asyncssh.Error, OSError, TimeoutError) as e:
                    poll_errors.append(f"poller {k}: {type(e).__name__}: {e}")
                    return
                latencies.append(time.perf_counter() - t)
                if r.exit_status != 0 or not r.stdout.startswith("VERSION 1.3"):
                    poll_errors.append(r.stderr.strip())

        async def migrate(m: int) -> tuple[str, int, str, float]:
            src = m % hosts
            dom = f"h{src + 1}-d{m // hosts + 1}"
            tgt = procs[(src + 1) % hosts].name
            t = time.perf_counter()
            proc = await control[src].create_process(f"ldm migrate-domain {dom} {tgt}")
            proc.stdin.write(PASSWORD + "\n")
            done = await asyncio.wait_for(proc.wait(check=False), 240)
            return dom, done.exit_status, done.stderr.strip(), time.perf_counter() - t

        poll_tasks = [asyncio.ensure_future(poller(k)) for k in range(pollers)]
        started = time.perf_counter()
        mig_tasks = [asyncio.ensure_future(migrate(m)) for m in range(migrations)]

        # Conflicting operations on domains that are moving right now (M-7, G-12), all at once,
        # as soon as the sources show the migration (flag s).
        moving = {m % hosts: set() for m in range(migrations)}
        for m in range(migrations):
            moving[m % hosts].add(f"h{m % hosts + 1}-d{m // hosts + 1}")
        deadline = time.perf_counter() + 60
        while moving and time.perf_counter() < deadline:
            for src in list(moving):
                r = await control[src].run("ldm list -p", check=False)
                for line in r.stdout.splitlines():
                    f = dict(x.split("=", 1) for x in line.split("|")[1:] if "=" in x)
                    if f.get("name") in moving[src] and f.get("flags", "")[5:6] == "s":
                        moving[src].discard(f["name"])
                if not moving[src]:
                    del moving[src]
            await asyncio.sleep(0.02)
        refusals: list[str] = []
        accepted: list[str] = []
        too_late: list[str] = []

        async def conflict(src: int, dom: str, form: str) -> None:
            line = "ldm " + form.format(d=dom, t=procs[(src + 2) % hosts].name)
            proc = await control[src].create_process(line)
            if "migrate" in line:
                try:
                    proc.stdin.write(PASSWORD + "\n")
                except BrokenPipeError:
                    pass        # refused before it asked for the password
            r = await asyncio.wait_for(proc.wait(check=False), 60)
            reason = r.stderr.strip().splitlines()[0] if r.stderr.strip() else "(no reason)"
            if r.exit_status == 0:
                accepted.append(f"{line} on {procs[src].name}")
            elif "does not exist" in reason:
                too_late.append(line)       # it had already left: nothing to conflict with
            else:
                refusals.append(reason)

        await asyncio.gather(*(conflict(m % hosts, f"h{m % hosts + 1}-d{m // hosts + 1}", form)
                               for m in range(migrations) for form in CONFLICTS))
        results = await asyncio.gather(*mig_tasks)
        elapsed = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*poll_tasks, return_exceptions=True)

        # Where is everything now?
        where: dict[str, list[str]] = {}
        busy = []
        for i, p in enumerate(procs):
            r = await control[i].run("ldm list -p", check=False)
            for line in r.stdout.splitlines():
                if line.startswith("DOMAIN|"):
                    f = dict(x.split("=", 1) for x in line.split("|")[1:] if "=" in x)
                    if f["name"] != "primary":
                        where.setdefault(f["name"], []).append(f"{p.name}:{f['state']}")
                    if f["flags"][5:6] != "-":
                        busy.append(f"{f['name']}@{p.name}={f['flags']}")
        behind = []
        for name, places in where.items():
            host = places[0].split(":")[0]
            i = [p.name for p in procs].index(host)
            r = await control[i].run(f"ldm guest-info {name}", check=False)
            counter = int(dict(x.split("=", 1) for x in r.stdout.split()).get("counter", -1))
            if counter < before[name]:
                behind.append(f"{name}: {before[name]} -> {counter}")
        failed = [f"{d}: {err}" for d, code, err, _ in results if code != 0]
        stats = {
            "hosts": hosts, "migrations": migrations, "pollers": pollers, "seconds": elapsed,
            "migration_seconds": sorted(round(s, 2) for *_, s in results),
            "failed_migrations": failed, "polls": len(latencies), "poll_errors": poll_errors,
            "poll_p50_ms": 1000 * _pct(latencies, 0.50), "poll_p99_ms": 1000 * _pct(latencies, 0.99),
            "poll_max_ms": 1000 * max(latencies, default=float("nan")),
            "poll_mean_ms": 1000 * (statistics.fmean(latencies) if latencies else float("nan")),
            "refusals": refusals, "accepted_conflicts": accepted, "too_late": too_late,
            "domains": {k: v for k, v in where.items()}, "busy": busy, "behind": behind,
        }
        lost = sorted(set(before) - set(where))
        doubled = sorted(k for k, v in where.items() if len(v) != 1)
        stopped = sorted(k for k, v in where.items() if not all(x.endswith(":active") for x in v))
        moved = sorted(d for d, code, *_ in results if code == 0)
        stats.update(lost=lost, doubled=doubled, stopped=stopped, moved=moved)
        return stats
    finally:
        for c in conns:
            c.close()
        await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)


def verdict(stats: dict) -> list[str]:
    """What went wrong, one line each (empty: the run kept every promise)."""
    problems = []
    for key, text in (("lost", "domains lost"), ("doubled", "domains on two hosts"),
                      ("stopped", "domains not running"), ("busy", "migration still shown"),
                      ("behind", "guest counter went back"), ("failed_migrations", "migrations failed"),
                      ("poll_errors", "polls failed"), ("accepted_conflicts", "conflicting operations accepted")):
        if stats[key]:
            problems.append(f"{text}: {stats[key]}")
    if any("\n" in r or not r or r == "(no reason)" for r in stats["refusals"]):
        problems.append("a refusal did not give one clear line")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.faults.load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--migrations", type=int, default=8)
    ap.add_argument("--pollers", type=int, default=20)
    ap.add_argument("--page-delay", type=float, default=0.1, help="test knob of ldmd: slows each stream")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ldtui-load-"))
    stats = asyncio.run(run_load(root, hosts=args.hosts, migrations=args.migrations, pollers=args.pollers,
                                 page_delay=args.page_delay, out=sys.stdout))
    print(f"{stats['migrations']} concurrent migrations among {stats['hosts']} hosts, "
          f"{stats['pollers']} clients polling 'ldm list -p': {stats['seconds']:.1f}s")
    print(f"migrations: {len(stats['moved'])} completed, durations {stats['migration_seconds']} s")
    print(f"polls: {stats['polls']}, latency p50 {stats['poll_p50_ms']:.1f} ms, p99 {stats['poll_p99_ms']:.1f} ms, "
          f"max {stats['poll_max_ms']:.1f} ms")
    reasons = sorted(set(stats["refusals"]))
    print(f"conflicting operations while the domains moved: {len(stats['refusals'])} refused, "
          f"{len(stats['accepted_conflicts'])} accepted, {len(stats['too_late'])} came after the domain had left; "
          f"{len(reasons)} distinct reasons:")
    for r in reasons:
        print(f"  {r}")
    problems = verdict(stats)
    for p in problems:
        print(f"PROBLEM: {p}")
    checks = 8
    print(f"{checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
