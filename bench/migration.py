"""Migration benchmark (issue 5, SPEC B-1, B-2): two real ``ldmd`` processes on loopback.

    python -m bench.migration [--size 4G] [--dirty 0,20M] [--modes warm,live]
                              [--downtime-ms 300] [--baseline-bytes N] [--no-openssh]
                              [--state-dir DIR] [--json FILE]

    python -m bench.migration --size 512M --baseline-bytes 256M     # a quick run (~1 min)

What it does, in order:
1. writes a lab file of two hosts (``bench-src``, ``bench-tgt``: same processor, primary
   with one crypto unit each) and starts one ``ldmd`` process per host (``ldtui-lab``'s
   ``start``), state directories under ``--state-dir`` (default: a fresh directory in
   /dev/shm when it exists — guest memory files stand for RAM, so they live in RAM, not
   on the disk; pass ``--state-dir /tmp`` to measure a disk-backed host);
2. fills the active domain ``ldg-bench`` (``--size``) with a fixed, seeded mix, written
   into its memory file with 2 MiB ``pwrite`` calls: per 64 MiB, 16 MiB never written
   (holes), 32 MiB text-like pages (words drawn by a seeded PRNG from a 4096-word
   vocabulary: zstd keeps ~42 % of them), 16 MiB random (SHAKE-256 of the seed; they do
   not compress);
3. for each dirty rate and mode sets the guest's write rate (``ldm set-guest``), runs
   ``ldm migrate-domain [--live -d MS] ldg-bench HOST`` over SSH exactly as an operator
   would (the password typed on stdin) and moves the domain back and forth; it measures
   the command's wall time (total), the source's own record of the migration over RPC
   (downtime: suspend on the source until the target's confirmation arrived — an upper
   bound of the guest's pause; bytes on the wire; rounds; zero pages) and each ``ldmd``'s
   peak resident memory during the migration (``VmHWM``, reset before each run);
4. in the same run, the baselines of ``bench/baselines.py``: raw TCP, one asyncssh
   channel (AES-GCM, the same byte count the warm migration put on the wire) and OpenSSH
   (``ssh`` into a local ``sshd`` on a loopback port; skipped with a note if absent), and
   an asyncssh *pipeline* (a memory file read in 2 MiB blocks, one channel with the peer
   link's settings, written into a memory file by a second process): the ceiling of any
   asyncssh data path here. The 2× OpenSSH line shows what that ceiling would reach with
   the run's own wire bytes;
5. prints a table with the ratios and writes JSON (``bench/results/migration-*.json``).

Rates: *effective* = guest memory size ÷ total time; *wire* = bytes on the wire ÷ total
time. Both use the operator's wall time, handshakes and checks included.
Targets (reported, never asserted): warm effective ≥ 2× OpenSSH; wire ≥ 80 % of one
asyncssh channel; live downtime ≤ 100 ms at 20 MB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from bench import baselines
from ldtui.core.cmd_args import parse_rate
from ldtui.core.units import parse_size

PASSWORD = "solaris"
DOMAIN = "ldg-bench"
HOSTS = ("bench-src", "bench-tgt")
CHUNK = 64 << 20
WRITE = 2 << 20
RESULTS = Path(__file__).resolve().parent / "results"


# -- the lab ---------------------------------------------------------------------------------
def lab_toml(size: int) -> str:
    machine_mem = size + (6 << 30)
    hosts = []
    for i, name in enumerate(HOSTS):
        domain = f"""
[[hosts.domains]]
name = "{DOMAIN}"
vcpus = 8
memory = "{size // (1 << 20)}M"
vdisks = [{{ name = "vdisk1", volume = "vol1@primary-vds0" }}]
vnets = [{{ name = "vnet1", switch = "primary-vsw0", mac = "00:14:4f:fa:20:01" }}]
state = "active"
""" if i == 0 else ""
        hosts.append(f"""
[[hosts]]
[hosts.host]
name = "{name}"
listen = "127.0.0.1"
port = 0
incoming_migration_enabled = true
migration_supported = true

[hosts.machine]
processor = "UltraSPARC-T2+"
clock_mhz = 1414
cores = 32
strands_per_core = 8
memory = [{{ pa = "0x0", size = "{machine_mem // (1 << 20)}M" }}]
reserved = [{{ pa = "0x0", size = "128M" }}]
pci_buses = ["pci@400", "pci@500"]
firmware = "7.2.2.e"
manager_version = "1.2"

[hosts.primary]
vcpus = 8
memory = "4G"
crypto = 1
io = ["pci@400"]

[[hosts.services.vcc]]
name = "primary-vcc0"
port_range = "5000-5100"

[[hosts.services.vsw]]
name = "primary-vsw0"
net_dev = "e1000g0"

[[hosts.services.vds]]
name = "primary-vds0"
volumes = [{{ name = "vol1", device = "/dev/dsk/c2t1d0s2" }}]
{domain}""")
    return f"""[[users]]
name = "root"
password = "{PASSWORD}"
authorizations = ["write"]
{''.join(hosts)}"""


class Lab:
    def __init__(self, base: Path, size: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ldtui-bench-mig-", dir=base))
        self.size = size
        self.record: dict = {}

    def start(self) -> None:
        from ldtui.net import labctl
        lab_file = self.dir / "lab.toml"
        lab_file.write_text(lab_toml(self.size), encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):
            labctl.start(lab_file, self.dir / "state")
        self.record = json.loads((self.dir / "state" / "lab.json").read_text())

    def host(self, name: str) -> dict:
        return next(h for h in self.record["hosts"] if h["name"] == name)

    def stop(self) -> None:
        from ldtui.net import labctl
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            labctl.stop(self.dir / "state")
        shutil.rmtree(self.dir, ignore_errors=True)

    def memory_file(self, host: str) -> Path:
        for rt in (Path(self.host(host)["state"]) / "hv").glob("*/runtime.json"):
            if json.loads(rt.read_text()).get("name") == DOMAIN:
                return rt.parent / "memory"
        raise LookupError(f"{DOMAIN} has no runtime on {host}")


# -- the memory mix --------------------------------------------------------------------------
def text_block(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(4096)]
    words = rng.choices(vocab, k=size // 5)
    out = " ".join(words).encode()
    while len(out) < size:
        out += out[: size - len(out)]
    return out[:size]


def fill(path: Path, size: int, seed: int = 1) -> dict:
    """Per 64 MiB: 16 MiB hole, 32 MiB text-like, 16 MiB random; returns what was written."""
    text = text_block(seed, 4 << 20)
    rand = hashlib.shake_256(f"ldtui-bench-{seed}".encode()).digest(16 << 20)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY)
    written = 0
    try:
        for base in range(0, size, CHUNK):
            span = min(CHUNK, size - base)
            q = span // 4
            for off in range(0, 2 * q, WRITE):              # text: the 2nd and 3rd quarter
                n = min(WRITE, 2 * q - off)
                os.pwrite(fd, text[(off % len(text)):(off % len(text)) + n], base + q + off)
                written += n
            for off in range(0, span - 3 * q, WRITE):       # random: the 4th quarter
                n = min(WRITE, span - 3 * q - off)
                os.pwrite(fd, rand[off % len(rand):off % len(rand) + n], base + 3 * q + off)
                written += n
    finally:
        os.close(fd)
    return {"bytes_written": written, "seconds": time.perf_counter() - start}


# -- talking to the hosts --------------------------------------------------------------------
async def ldm(port: int, line: str, *, password_line: str | None = None, timeout: float = 900.0):
    async with asyncssh.connect("127.0.0.1", port, username="root", password=PASSWORD, known_hosts=None,
                                client_keys=None, agent_path=None, config=None) as conn:
        proc = await conn.create_process("ldm " + line, encoding=None)
        if password_line is not None:
            proc.stdin.write(password_line.encode() + b"\n")
        done = await asyncio.wait_for(proc.wait(check=False), timeout)
        return done.exit_status, done.stdout.decode(), done.stderr.decode()


async def last_job(port: int, known_hosts: str):
    from ldtui.net.hostlink import HostLink
    link = HostLink("127.0.0.1", port, "root", password=PASSWORD, known_hosts=known_hosts)
    await link.connect()
    try:
        snap = await link.snapshot()
    finally:
        await link.close()
    jobs = [j for j in snap.jobs if j.domain == DOMAIN and j.role == "source"]
    return jobs[-1] if jobs else None


def reset_peak(pid: int) -> None:
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def cpu_seconds(pid: int) -> tuple[float, int]:
    """User + system CPU time a process has used so far and its minor page faults
    (``/proc/PID/stat``)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[7])
    return 0.0, 0


def logged_transfer(log: Path) -> tuple[int, int, float]:
    """From the source's ldmd.log, its last migration's compressed and total page batches
    and the seconds it waited for the target's acknowledgements."""
    found = (0, 0, 0.0)
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            m = re.search(r"(\d+) of (\d+) batches compressed, ([\d.]+)s waiting", line)
            if m:
                found = (int(m[1]), int(m[2]), float(m[3]))
    return found


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def migrate_once(lab: Lab, src: str, dst: str, *, live: bool, dirty: int, downtime_ms: float) -> dict:
    s, d = lab.host(src), lab.host(dst)
    code, _, err = await ldm(s["port"], f"set-guest write-rate={dirty} {DOMAIN}")
    if code:
        raise RuntimeError(f"set-guest failed: {err.strip()}")
    await asyncio.sleep(1.0)  # the guest writes at its rate before the migration starts
    for h in (s, d):
        reset_peak(h["pid"])
    options = f"--live -d {downtime_ms:g} " if live else ""
    cpu = [cpu_seconds(h["pid"]) for h in (s, d)]
    start = time.perf_counter()
    code, out, err = await ldm(s["port"], f"migrate-domain {options}{DOMAIN} {dst}", password_line=PASSWORD)
    total = time.perf_counter() - start
    cpu = [tuple(a - b for a, b in zip(cpu_seconds(h["pid"]), c)) for h, c in zip((s, d), cpu)]
    if code:
        raise RuntimeError(f"migration {src} → {dst} failed: {err.strip()}")
    job = await last_job(s["port"], lab.record["known_hosts"])
    compressed, batches, stalled = logged_transfer(Path(s["state"]) / "ldmd.log")
    return {
        "mode": "live" if live else "warm", "dirty_rate": dirty, "from": src, "to": dst,
        "total_s": total, "downtime_ms": job.downtime_ms, "expected_downtime_ms": job.expected_downtime_ms,
        "wire_bytes": job.bytes_on_wire, "memory_sent_bytes": job.bytes_sent, "rounds": job.iteration + 1 if live else 1,
        "throttle": job.throttle, "zero_pages": job.zero_pages,
        "effective_rate": lab.size / total, "wire_rate": job.bytes_on_wire / total,
        "peak_rss_source": peak_rss(s["pid"]), "peak_rss_target": peak_rss(d["pid"]),
        "cpu_source_s": cpu[0][0], "cpu_target_s": cpu[1][0],
        "minor_faults_source": cpu[0][1], "minor_faults_target": cpu[1][1],
        "batches": batches, "batches_compressed": compressed, "ack_wait_s": stalled,
    }


# -- the run ---------------------------------------------------------------------------------
def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    mem = 0
    with contextlib.suppress(OSError, StopIteration):
        mem = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")).split()[1]) * 1024
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory": mem, "python": platform.python_version(),
            "kernel": platform.release(), "asyncssh": asyncssh.__version__,
            "load_average_at_start": os.getloadavg()[0]}


async def run(args) -> dict:
    size = parse_size(args.size)
    dirties = [parse_rate(x) for x in args.dirty.split(",")]
    modes = args.modes.split(",")
    base = Path(args.state_dir) if args.state_dir else (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    lab = Lab(base or Path(tempfile.gettempdir()), size)
    result: dict = {"machine": machine(), "size": size, "state_dir": str(lab.dir),
                    "memory_mix": "per 64 MiB: 16 MiB never written, 32 MiB text-like, 16 MiB random",
                    "runs": [], "baselines": {}}
    try:
        lab.start()
        result["fill"] = fill(lab.memory_file(HOSTS[0]), size)
        here, there = HOSTS
        for dirty in dirties:
            for mode in modes:
                r = await migrate_once(lab, here, there, live=mode == "live", dirty=dirty,
                                       downtime_ms=args.downtime_ms)
                result["runs"].append(r)
                print(f"  {r['mode']:4} dirty {dirty / 1e6:5.1f} MB/s: {r['total_s']:6.2f} s, "
                      f"downtime {r['downtime_ms']:8.1f} ms", file=sys.stderr, flush=True)
                here, there = there, here
    finally:
        lab.stop()
    warm = next((r for r in result["runs"] if r["mode"] == "warm"), result["runs"][0])
    nbytes = parse_size(args.baseline_bytes) if args.baseline_bytes else max(warm["wire_bytes"], 256 << 20)
    b = result["baselines"]
    b["bytes"] = nbytes
    b["raw_tcp"] = await baselines.raw_tcp(nbytes)
    b["asyncssh_channel"] = await baselines.asyncssh_channel(nbytes)
    if args.no_openssh:
        b["openssh_stream"], b["openssh_note"] = None, "skipped (--no-openssh)"
    else:
        b["openssh_stream"], b["openssh_note"] = await asyncio.to_thread(baselines.openssh_stream, nbytes)
    scratch = Path(tempfile.mkdtemp(prefix="ldtui-bench-pipe-", dir=base))
    try:
        b["asyncssh_pipeline"] = await baselines.asyncssh_pipeline(nbytes, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    pipe = b["asyncssh_pipeline"]["rate"]
    for r in result["runs"]:
        r["ratio_effective_to_openssh"] = r["effective_rate"] / b["openssh_stream"] if b["openssh_stream"] else None
        r["ratio_wire_to_asyncssh"] = r["wire_rate"] / b["asyncssh_channel"]
        r["ratio_wire_to_raw_tcp"] = r["wire_rate"] / b["raw_tcp"]
        r["ratio_wire_to_pipeline"] = r["wire_rate"] / pipe
        # The most an asyncssh data path could do with this run's bytes: the pipeline's rate
        # over the same wire bytes, with no handshake, check, journal or page ledger at all.
        r["ceiling_effective_rate"] = lab.size / (r["wire_bytes"] / pipe)
        r["ceiling_ratio_to_openssh"] = (r["ceiling_effective_rate"] / b["openssh_stream"]
                                         if b["openssh_stream"] else None)
    result["targets"] = targets(result)
    result["load_average_at_end"] = os.getloadavg()[0]
    return result


def targets(result: dict) -> dict:
    warm = [r for r in result["runs"] if r["mode"] == "warm" and r["ratio_effective_to_openssh"] is not None]
    live20 = [r for r in result["runs"] if r["mode"] == "live" and r["dirty_rate"] >= 20_000_000]
    out = {}
    if warm:
        v = min(r["ratio_effective_to_openssh"] for r in warm)
        out["warm effective rate >= 2x OpenSSH"] = {
            "value": v, "met": v >= 2.0,
            "ceiling": min(r["ceiling_ratio_to_openssh"] for r in warm)}
    v = min(r["ratio_wire_to_asyncssh"] for r in result["runs"])
    out["wire rate >= 80% of one asyncssh channel"] = {"value": v, "met": v >= 0.8}
    if live20:
        v = max(r["downtime_ms"] for r in live20)
        out["live downtime <= 100 ms at 20 MB/s"] = {"value": v, "met": v <= 100.0}
    return out


def mb(x: float | None) -> str:
    return f"{x / 1e6:8.1f}" if x else "       -"


def ns(seconds: float, nbytes: int) -> str:
    return f"{seconds / max(nbytes, 1) * 1e9:.2f}"


def table(result: dict) -> str:
    m, b = result["machine"], result["baselines"]
    lines = [f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory'] / (1 << 30):.1f} GiB RAM, "
             f"Python {m['python']}, asyncssh {m['asyncssh']}; state in {result['state_dir']}",
             f"Load average (1 min) at start {m.get('load_average_at_start', 0):.2f}, at end "
             f"{result.get('load_average_at_end', 0):.2f} — other work on the machine slows every figure alike",
             f"Domain: {result['size'] / (1 << 30):.2f} GiB active, {result['memory_mix']}",
             "",
             "mode  dirty MB/s  total s  downtime ms  wire MB  eff MB/s  wire MB/s  rounds  RSS src/tgt MB"
             "  CPU s src/tgt  eff/OpenSSH  wire/asyncssh  wire/TCP"]
    for r in result["runs"]:
        o = r["ratio_effective_to_openssh"]
        lines.append(
            f"{r['mode']:<5} {r['dirty_rate'] / 1e6:10.1f} {r['total_s']:8.2f} {r['downtime_ms']:12.1f} "
            f"{r['wire_bytes'] / 1e6:8.0f} {r['effective_rate'] / 1e6:9.0f} {r['wire_rate'] / 1e6:10.0f} "
            f"{r['rounds']:7d} {r['peak_rss_source'] / 1e6:7.0f}/{r['peak_rss_target'] / 1e6:<6.0f} "
            f"{r.get('cpu_source_s', 0):7.1f}/{r.get('cpu_target_s', 0):<5.1f} "
            f"{(f'{o:.2f}x' if o else '-'):>12} {r['ratio_wire_to_asyncssh']:13.2f}x "
            f"{r['ratio_wire_to_raw_tcp']:8.2f}x")
    p, first = b["asyncssh_pipeline"], result["runs"][0]
    ratios = [r["ratio_wire_to_pipeline"] for r in result["runs"]]
    lines += ["", f"Baselines ({b['bytes'] / 1e6:.0f} MB each): raw TCP {mb(b['raw_tcp'])} MB/s, "
                  f"asyncssh channel {mb(b['asyncssh_channel'])} MB/s, OpenSSH {mb(b['openssh_stream'])} MB/s"
                  f" ({b['openssh_note']})",
              f"asyncssh pipeline (memory file → one channel → memory file, two processes): {mb(p['rate'])} MB/s, "
              f"CPU {ns(p['cpu_source_s'], p['bytes'])}/{ns(p['cpu_target_s'], p['bytes'])} ns a byte "
              f"(ldmd, first run: {ns(first['cpu_source_s'], first['wire_bytes'])}/"
              f"{ns(first['cpu_target_s'], first['wire_bytes'])}); ours at {min(ratios):.2f}–{max(ratios):.2f}x "
              f"its rate", ""]
    for name, t in result["targets"].items():
        extra = (f" (the asyncssh pipeline itself would reach {t['ceiling']:.2f}x with these bytes)"
                 if t.get("ceiling") else "")
        lines.append(f"target: {name}: {t['value']:.2f} — {'met' if t['met'] else 'NOT met'}{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.migration", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="4G", help="guest memory of the domain (default 4G)")
    p.add_argument("--dirty", default="0,20M", help="guest dirty rates to run, comma-separated (default 0,20M)")
    p.add_argument("--modes", default="warm,live", help="warm (suspend and copy), live, or both (default)")
    p.add_argument("--downtime-ms", type=float, default=300.0, help="live downtime limit (default 300)")
    p.add_argument("--baseline-bytes", help="bytes per baseline (default: what the warm migration sent)")
    p.add_argument("--no-openssh", action="store_true", help="skip the OpenSSH baseline")
    p.add_argument("--state-dir", help="where the hosts' state lives (default: /dev/shm if present)")
    p.add_argument("--json", help="where to write the JSON (default bench/results/migration-TIME.json)")
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    print(table(result))
    path = Path(args.json) if args.json else RESULTS / f"migration-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
