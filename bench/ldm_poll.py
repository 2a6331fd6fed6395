"""What one console poll costs a host over protocol ``ldm`` against the default protocol.

    python -m bench.ldm_poll [--polls 200]

One ``ldmd`` of the default lab on loopback, in this process's loop. Three links poll it
``--polls`` times each, one after the other: the default protocol's ``HostLink`` (one
``snapshot`` request on its ``ldtui-rpc`` channel), and ``LdmExecLink`` twice — reading
``list-devices`` on every poll (as it first did), and only when what the domains hold
changed (as it does). For each it prints the median and 95th percentile time of one poll,
the ``exec`` channels the host ran per poll, and the ratio of each median to the default
protocol's, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HOST = "t5440-sys-1"
PASSWORD = "solaris"


async def measure(polls: int) -> list[tuple[str, float, float, float]]:
    from ldtui.core.hostconfig import load_lab
    from ldtui.net import ldmexec
    from ldtui.net.hostlink import HostLink
    from ldtui.net.lab import default_lab_file
    from ldtui.net.ldmexec import LdmExecLink
    from ldtui.net.ratelimit import LoginThrottle
    from ldtui.net.server import Ldmd

    tmp = Path(tempfile.mkdtemp(prefix="ldtui-bench-poll-"))
    config = next(c for c in load_lab(default_lab_file()) if c.name == HOST)
    ldmd = Ldmd(config, tmp / HOST, listen=("127.0.0.1", 0), peers={}, throttle=LoginThrottle(base=0.01, cap=0.05))
    await ldmd.start()
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{ldmd.port} {ldmd.host_public_key}\n")
    execs = 0
    run = ldmd._exec

    async def counting(process, user, command):
        nonlocal execs
        execs += 1
        return await run(process, user, command)

    ldmd._exec = counting
    rows = []
    try:
        for label, kind, max_age in (("ldtui-rpc snapshot", HostLink, None),
                                     ("ldm, list-devices every poll", LdmExecLink, 0.0),
                                     ("ldm, list-devices on change", LdmExecLink, ldmexec.DEVICES_MAX_AGE)):
            if max_age is not None:
                ldmexec.DEVICES_MAX_AGE = max_age
            link = kind("127.0.0.1", ldmd.port, "root", password=PASSWORD, known_hosts=str(known), label=HOST)
            await link.connect()
            await link.snapshot()
            execs = 0
            times = []
            for _ in range(polls):
                started = time.perf_counter()
                await link.snapshot()
                times.append(time.perf_counter() - started)
            await link.close()
            times.sort()
            rows.append((label, statistics.median(times), times[int(len(times) * 0.95) - 1], execs / polls))
    finally:
        ldmexec.DEVICES_MAX_AGE = 10.0
        await ldmd.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ldm_poll", description=__doc__.splitlines()[0])
    p.add_argument("--polls", type=int, default=200)
    args = p.parse_args(argv)
    print(f"ldm_poll: {args.polls} polls each of {HOST}; load average {os.getloadavg()[0]:.2f}")
    rows = asyncio.run(measure(args.polls))
    base = rows[0][1]
    print(f"{'link':<32}{'p50 ms':>9}{'p95 ms':>9}{'execs/poll':>12}{'p50 ÷ rpc':>11}")
    for label, p50, p95, execs in rows:
        print(f"{label:<32}{p50 * 1000:>9.2f}{p95 * 1000:>9.2f}{execs:>12.2f}{p50 / base:>11.2f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
