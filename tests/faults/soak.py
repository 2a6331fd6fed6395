"""Soak: one busy domain migrated back and forth between two ldmd processes, for a long time.

    python -m tests.faults.soak --cycles N [--pollers 20] [--write-rate 20M] [--memory 512M]

The domain's guest keeps writing memory (20 MB/s unless told). Each cycle moves it to the
other host — warm and live in turn — while ``--pollers`` clients run ``ldm list -p`` in a loop
on their own SSH connections and one console-like client asks for the RPC snapshot. After
each cycle the domain must run on exactly one host with its guest counter not behind. At
the start, the middle and the end of the run each ``ldmd``'s resident memory, open file
descriptors, threads, database size and state directory size are sampled; the run fails
when any migration fails, the domain is lost or doubled, the counter goes back, a poll
fails, or a resource grows past its bound between the middle and the end (by then every
cache and pool has reached its working size, so growth there is a leak).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from ldtui.core.units import parse_size
from ldtui.net.hostlink import HostLink
from tests.faults.harness import PASSWORD, HostProcess, start_mesh
from tests.faults.load import host_table

DOMAIN = "soak-d1"
BOUNDS = {"rss_mb": 64, "fds": 16, "threads": 4, "db_mb": 8, "state_mb": 64}
"""Largest growth allowed between the middle and the end of a run. The database may grow until
its write-ahead log reaches the size SQLite checkpoints at and the history its bound. The
guest's own memory file is not in ``state_mb``: it fills as the guest touches pages, up to the
domain's memory, and is held to that instead (``guest_mb``)."""


def soak_table(i: int, *, memory: str, write_rate: str) -> dict:
    table = host_table(i, 2)
    table["host"]["name"] = f"soak-{i}"
    table["domains"] = [] if i != 1 else [{
        "name": DOMAIN, "vcpus": 2, "memory": memory, "state": "active", "write_rate": write_rate,
        "vdisks": [{"name": "vdisk1", "volume": "vol-1-1@primary-vds0"}],
        "vnets": [{"name": "vnet1", "switch": "primary-vsw0", "mac": "00:14:4f:fa:01:01"}]}]
    return table


def resources(h: HostProcess) -> dict[str, float]:
    """What one ldmd holds right now, read from /proc and its state directory."""
    pid = h.proc.pid
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    db = sum(p.stat().st_size for p in (h.dir / n for n in ("ldom.db", "ldom.db-wal", "ldom.db-shm")) if p.exists())
    # Memory files are sparse: what they take on disk is what counts. A runtime being given
    # back (its directory renamed to a discarded name) counts as state, so a reclaim that
    # never finishes shows as growth.
    state = guest = 0
    for p in h.dir.rglob("*"):
        if p.is_file():
            live_memory = p.name == "memory" and p.parent.parent.name == "hv" and not p.parent.name.startswith(".")
            if live_memory:
                guest += p.stat().st_blocks * 512
            else:
                state += p.stat().st_blocks * 512
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(status["Threads"]), "db_mb": db / 2**20, "state_mb": state / 2**20,
            "guest_mb": guest / 2**20}


async def _connect(h: HostProcess, known: Path) -> asyncssh.SSHClientConnection:
    return await asyncio.wait_for(asyncssh.connect(
        "127.0.0.1", h.port, username="root", password=PASSWORD, known_hosts=str(known),
        client_keys=None, agent_path=None, config=None), 20)


def _fields(line: str) -> dict[str, str]:
    return dict(x.split("=", 1) for x in line.split("|")[1:] if "=" in x)


async def run_soak(root: Path, *, cycles: int, pollers: int = 20, memory: str = "512M", write_rate: str = "20M",
                   minutes: float | None = None, out=None) -> dict:
    """Run the soak; with ``minutes``, stop after the cycle that ends past that time (the
    middle is then the sample nearest half of the cycles that ran)."""
    memory_mb = parse_size(memory) / 2**20
    say = (lambda text: (out.write(text + "\n"), out.flush())) if out else (lambda text: None)
    procs = [HostProcess(f"soak-{i}", root, soak_table(i, memory=memory, write_rate=write_rate),
                         ["--keepalive", "2:3", "--wait-timeout", "30"]) for i in (1, 2)]
    conns: list[asyncssh.SSHClientConnection] = []
    links: list[HostLink] = []
    stop = asyncio.Event()
    problems: list[str] = []
    polls = {"ldm": 0, "rpc": 0}
    tasks: list[asyncio.Future] = []
    try:
        known = await start_mesh(procs, root)
        control = [await _connect(p, known) for p in procs]
        conns += control

        async def poller(k: int) -> None:
            conn = await _connect(procs[k % 2], known)
            conns.append(conn)
            while not stop.is_set():
                try:
                    r = await asyncio.wait_for(conn.run("ldm list -p", check=False), 30)
                except (asyncssh.Error, OSError, TimeoutError) as e:
                    problems.append(f"poller {k}: {type(e).__name__}: {e}")
                    return
                if r.exit_status != 0 or not r.stdout.startswith("VERSION 1.3"):
                    problems.append(f"poller {k}: {r.stderr.strip() or 'bad listing'}")
                    return
                polls["ldm"] += 1

        async def console() -> None:
            for p in procs:
                link = HostLink("127.0.0.1", p.port, "root", password=PASSWORD, known_hosts=known)
                await asyncio.wait_for(link.connect(), 20)
                links.append(link)
            while not stop.is_set():
                for link in links:
                    try:
                        await asyncio.wait_for(link.snapshot(), 30)
                    except Exception as e:  # noqa: BLE001 - any failure is a finding
                        problems.append(f"console snapshot: {type(e).__name__}: {e}")
                        return
                    polls["rpc"] += 1
                await asyncio.sleep(0.25)

        tasks = [asyncio.ensure_future(poller(k)) for k in range(pollers)] + [asyncio.ensure_future(console())]

        async def counter(i: int) -> int:
            r = await control[i].run(f"ldm guest-info {DOMAIN}", check=False)
            return int(dict(x.split("=", 1) for x in r.stdout.split() if "=" in x).get("counter", -1))

        async def where() -> list[str]:
            found = []
            for i, p in enumerate(procs):
                r = await control[i].run("ldm list -p", check=False)
                for line in r.stdout.splitlines():
                    f = _fields(line)
                    if line.startswith("DOMAIN|") and f.get("name") == DOMAIN:
                        found.append(f"{p.name}:{f['state']}:{f['flags']}")
            return found

        taken: dict[int, list[dict]] = {}
        """Resources after cycle 1 and every tenth cycle, and after the last one."""
        seconds: list[float] = []
        deadline = time.monotonic() + minutes * 60 if minutes else None
        here, last = 0, await counter(0)
        for cycle in range(1, cycles + 1):
            live = cycle % 2 == 0
            t = time.perf_counter()
            proc = await control[here].create_process(
                f"ldm migrate-domain {'--live ' if live else ''}{DOMAIN} {procs[1 - here].name}")
            proc.stdin.write(PASSWORD + "\n")
            done = await asyncio.wait_for(proc.wait(check=False), 300)
            seconds.append(time.perf_counter() - t)
            if done.exit_status != 0:
                problems.append(f"cycle {cycle} ({'live' if live else 'warm'}): {done.stderr.strip()}")
                break
            here = 1 - here
            found = await where()
            if found != [f"{procs[here].name}:active:-n----"]:
                problems.append(f"cycle {cycle}: {DOMAIN} is at {found or 'no host'}")
                break
            now = await counter(here)
            if now < last:
                problems.append(f"cycle {cycle}: the guest counter went back from {last} to {now}")
                break
            last = now
            if problems:
                break
            out_of_time = deadline is not None and time.monotonic() > deadline
            if cycle == 1 or cycle % 10 == 0 or cycle == cycles or out_of_time:
                taken[cycle] = [resources(p) for p in procs]
                for p, sample in zip(procs, taken[cycle], strict=True):
                    # A file system's own blocks for a file (extent trees) count in st_blocks too.
                    if sample["guest_mb"] > memory_mb * 1.01 + 1:
                        problems.append(f"cycle {cycle}: {p.name} holds {sample['guest_mb']:.1f} MB of guest memory "
                                        f"files for one {memory} domain")
                say(f"cycle {cycle}: {seconds[-1]:.2f} s ({'live' if live else 'warm'}), "
                    + "; ".join(f"{p.name} " + " ".join(f"{k}={v:.1f}" for k, v in sample.items())
                                for p, sample in zip(procs, taken[cycle], strict=True)))
            if out_of_time:
                break
        ran = len(seconds)
        middle = min(taken, key=lambda c: abs(c - max(ran // 2, 1))) if taken else 0
        samples = {"start": taken.get(1, []), "middle": taken.get(middle, []), "end": taken.get(ran, [])}
        growth = []
        if samples["middle"] and samples["end"] and middle != ran:
            for p, mid, end in zip(procs, samples["middle"], samples["end"], strict=True):
                for key, bound in BOUNDS.items():
                    if end[key] - mid[key] > bound:
                        growth.append(f"{p.name} {key} grew {end[key] - mid[key]:+.1f} (bound +{bound}) "
                                      f"between cycle {middle} and {ran}")
        return {"cycles": ran, "asked": cycles, "middle_cycle": middle, "timed_out": bool(deadline and ran < cycles), "problems": problems, "growth": growth,
                "seconds": seconds, "polls": dict(polls), "samples": samples,
                "cycle_p50": statistics.median(seconds) if seconds else float("nan"),
                "cycle_max": max(seconds, default=float("nan"))}
    finally:
        stop.set()
        try:
            # However the run ended, the two ldmd processes are stopped: a failure while the
            # clients close must not leave them running.
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 45)
            for link in links:
                with contextlib.suppress(Exception):
                    await link.close()
            for c in conns:
                c.close()
        finally:
            await asyncio.gather(*(p.stop() for p in procs), return_exceptions=True)


def verdict(stats: dict) -> list[str]:
    """Everything wrong with a run, one line each; empty when it passed."""
    wrong = list(stats["problems"]) + list(stats["growth"])
    if stats["cycles"] != stats["asked"] and not stats["problems"] and not stats["timed_out"]:
        wrong.append(f"only {stats['cycles']} of {stats['asked']} cycles ran")
    if stats["polls"]["rpc"] == 0:
        wrong.append("the console-like client never got a snapshot")
    return wrong


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=100)
    p.add_argument("--pollers", type=int, default=20)
    p.add_argument("--memory", default="512M", help="the domain's memory")
    p.add_argument("--write-rate", default="20M", help="how fast its guest writes memory")
    p.add_argument("--minutes", type=float, help="stop after this long, even if cycles remain")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ldtui-soak-"))
    print(f"soak: {args.cycles} cycles, {args.pollers} pollers, {args.memory} domain writing {args.write_rate}/s; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    stats = asyncio.run(run_soak(root, cycles=args.cycles, pollers=args.pollers, memory=args.memory,
                                 write_rate=args.write_rate, minutes=args.minutes, out=sys.stdout))
    wrong = verdict(stats)
    if stats["timed_out"]:
        print(f"stopped after {args.minutes:g} minutes, at cycle {stats['cycles']} of {args.cycles}")
    print(f"middle sample: cycle {stats['middle_cycle']}")
    for point in ("start", "middle", "end"):
        for name, sample in zip(("soak-1", "soak-2"), stats["samples"][point], strict=False):
            print(f"{point:>6} {name}: " + " ".join(f"{k}={v:.1f}" for k, v in sample.items()))
    print(f"{stats['cycles']} cycles in {time.monotonic() - started:.0f} s; cycle p50 {stats['cycle_p50']:.2f} s, "
          f"max {stats['cycle_max']:.2f} s; {stats['polls']['ldm']} ldm polls, {stats['polls']['rpc']} snapshots; "
          f"load average {os.getloadavg()[0]:.2f}")
    if wrong:
        print("FAILED (state kept in " + str(root) + "):\n  " + "\n  ".join(wrong))
        return 1
    shutil.rmtree(root, ignore_errors=True)
    print("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
