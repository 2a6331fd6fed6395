"""Crash consistency of the store: random ``ldm`` writes against a real ``ldmd``, SIGKILLed at random moments.

    python -m tests.faults.crashstore [--commands 300] [--kills 12] [--seed N]

After every restart the host's configuration (``ldm list -l -p``, measurements left out)
must be the one that the acknowledged commands give, replayed one by one on a fresh
in-process manager — or that plus the command that was in flight when the process died,
which may or may not have been committed. Anything else is a lost acknowledged command or
a half-applied one. SQLite's integrity check of the database must pass after every kill.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from ldtui.core.commands import execute
from ldtui.core.hostconfig import apply_seed, load_host_config
from ldtui.core.manager import Manager
from ldtui.core.state_health import check_report
from ldtui.net.hostlink import HostLink
from tests.faults.harness import HostProcess

PASSWORD = "ldoms-root"
HOST_TOML = """\
[host]
name = "t5440-sys-7"

[machine]
memory = [{ pa = "0x0", size = "16G" }]

[[users]]
name = "root"
password = "ldoms-root"
authorizations = ["write"]

[primary]
vcpus = 8
memory = "4G"

[[services.vcc]]
name = "primary-vcc0"
port_range = "5000-5100"

[[services.vds]]
name = "primary-vds0"
volumes = [{ name = "vol1", device = "/dev/dsk/c2t1d0s2" }, { name = "vol2", device = "/dev/dsk/c2t2d0s2" }]

[[domains]]
name = "ldg1"
vcpus = 4
memory = "1G"
state = "active"
write_rate = "256K"
"""

NAMES = ("ldg1", "ldg2", "ldg3", "ldg4", "ldg5")
_MEASURED = re.compile(r"\|(?:util|uptime|norm_util)=[^|]*")


def random_command(rng: random.Random) -> list[str]:
    """One write an operator might type; many are refused, which is a fine answer too."""
    name = rng.choice(NAMES)
    kind = rng.choices(
        ["add", "remove", "vcpu", "addvcpu", "memory", "vdisk", "rmvdisk", "bind", "unbind", "start", "stop"],
        weights=[3, 1, 2, 1, 2, 2, 1, 3, 1, 2, 2])[0]
    if kind == "add":
        return ["add-domain", name]
    if kind == "remove":
        return ["remove-domain", name]
    if kind == "vcpu":
        return ["set-vcpu", str(rng.randint(1, 6)), name]
    if kind == "addvcpu":
        return ["add-vcpu", "1", name]
    if kind == "memory":
        return ["set-memory", rng.choice(["256M", "512M", "1G", "2G"]), name]
    if kind == "vdisk":
        return ["add-vdisk", rng.choice(["vd1", "vd2"]), rng.choice(["vol1", "vol2"]) + "@primary-vds0", name]
    if kind == "rmvdisk":
        return ["remove-vdisk", rng.choice(["vd1", "vd2"]), name]
    return [{"bind": "bind-domain", "unbind": "unbind-domain", "start": "start-domain",
             "stop": "stop-domain"}[kind], name]


def configuration(listing: str) -> str:
    """``ldm list -l -p`` without what is measured rather than configured."""
    return "\n".join(_MEASURED.sub("", line) for line in listing.splitlines())


def replay(config_file: Path, commands: list[list[str]], scratch: Path) -> str:
    """The configuration these commands give on a freshly configured host."""
    state = Path(tempfile.mkdtemp(dir=scratch))
    manager = Manager(load_host_config(config_file).machine, state)
    try:
        apply_seed(manager, load_host_config(config_file))
        for argv in commands:
            execute(manager, "root", argv)
        return configuration(execute(manager, "root", ["list", "-l", "-p"]).stdout)
    finally:
        manager.close()
        shutil.rmtree(state, ignore_errors=True)


async def _connect(host: HostProcess, root: Path) -> HostLink:
    known = root / "known_hosts"
    key = " ".join((host.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    known.write_text(f"[127.0.0.1]:{host.port} {key}\n")
    link = HostLink("127.0.0.1", host.port, "root", password=PASSWORD, known_hosts=known)
    await asyncio.wait_for(link.connect(), 15)
    return link


async def run(root: Path, *, commands: int = 300, kills: int = 12, seed: int = 0,
              log=lambda line: None) -> dict:
    """Run the commands, killing ``ldmd`` about ``kills`` times; return what happened.
    Raises AssertionError on the first configuration that no prefix explains."""
    rng = random.Random(seed)
    table = tomllib.loads(HOST_TOML)
    host = HostProcess("t5440-sys-7", root, table, [])
    scratch = root / "replay"
    scratch.mkdir(exist_ok=True)
    done: list[list[str]] = []
    stats = {"commands": 0, "acknowledged": 0, "refused": 0, "kills": 0, "in_flight_applied": 0,
             "in_flight_lost": 0, "seconds": 0.0}
    started = time.monotonic()
    kill_at = sorted(rng.sample(range(1, commands), min(kills, commands - 1)))
    await host.start()
    link = await _connect(host, root)
    try:
        for i in range(commands):
            argv = random_command(rng)
            stats["commands"] += 1
            if kill_at and i == kill_at[0]:
                kill_at.pop(0)
                # Kill while this command runs: a random moment inside its handling, or before it.
                pending = asyncio.ensure_future(link.run(argv))
                await asyncio.sleep(rng.choice([0, rng.uniform(0, 0.004), rng.uniform(0, 0.012)]))
                await host.kill()
                stats["kills"] += 1
                answered = None
                try:
                    answered = await asyncio.wait_for(pending, 10)
                except Exception:  # noqa: BLE001 - the connection died with the process
                    pass
                await link.close()
                code, lines = check_report(host.dir)
                assert code == 0, "\n".join(lines)
                await host.start()
                link = await _connect(host, root)
                now = configuration((await link.run(["list", "-l", "-p"])).stdout)
                if answered is not None:
                    done.append(argv)  # it was acknowledged before the kill
                    stats["acknowledged"] += 1
                    assert now == replay(host.config, done, scratch), \
                        f"after kill {stats['kills']}: an acknowledged {' '.join(argv)} is not in the configuration"
                    log(f"kill {stats['kills']}: after command {i + 1} ({' '.join(argv)}) was answered; "
                        f"configuration matches {len(done)} commands")
                    continue
                without = replay(host.config, done, scratch)
                with_it = replay(host.config, [*done, argv], scratch)
                if now == with_it:
                    done.append(argv)
                    stats["in_flight_applied" if with_it != without else "in_flight_lost"] += 1
                else:
                    assert now == without, (
                        f"after kill {stats['kills']} during {' '.join(argv)}: the configuration is neither the one "
                        f"before it nor the one after it\n--- found\n{now}\n--- before\n{without}\n--- after\n{with_it}")
                    stats["in_flight_lost"] += 1
                log(f"kill {stats['kills']}: at command {i + 1} ({' '.join(argv)}), configuration matches "
                    f"{len(done)} commands")
                continue
            result = await asyncio.wait_for(link.run(argv), 30)
            done.append(argv)
            stats["acknowledged"] += 1
            stats["refused"] += result.exit_code != 0
        final = configuration((await link.run(["list", "-l", "-p"])).stdout)
        assert final == replay(host.config, done, scratch), "the final configuration is not the commands' one"
    finally:
        await link.close()
        await host.stop()
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faults.crashstore", description=__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=300)
    p.add_argument("--kills", type=int, default=12)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--keep", action="store_true", help="keep the state directory")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ldtui-crashstore-"))
    print(f"seed {args.seed}, state in {root}")
    try:
        stats = asyncio.run(run(root, commands=args.commands, kills=args.kills, seed=args.seed, log=print))
    except AssertionError as e:
        print(f"FAILED (seed {args.seed}, state kept in {root}): {e}")
        return 1
    print(" ".join(f"{k}={v}" for k, v in stats.items()))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
