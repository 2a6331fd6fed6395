"""Migration benchmark: two real ``ldmd`` processes move a domain, as an operator would.

    python -m bench.migration [--size 4G] [--dirty 0,20M,50M] [--modes warm,live]
                              [--downtime-ms 300] [--streams N | --tunnelled] [--link 1gbit]
                              [--baseline-bytes N] [--no-openssh] [--asyncssh] [--touch N]
                              [--state-dir DIR] [--json FILE]

    python -m bench.migration --size 512M       # a quick run
    python -m bench.migration --link 1gbit      # over a rate-limited link (root, ip and tc)

What it does, in order:
1. **first touch**: writes and deletes 3 × the domain size + 2 GiB (bounded by free
   memory; ``--touch``) in the state directory's filesystem and prints the rate it saw. On
   a VM the first write to a never-touched page of RAM costs the hypervisor work that a
   host up for a while has paid long ago; without this the first run's target (which
   writes a fresh memory file) paid it alone (``bench.first_touch``);
2. writes a lab file of two hosts (``bench-src``, ``bench-tgt``: same processor, primary
   with one crypto unit each) and starts one ``ldmd`` per host (``bench.migration_lab``):
   on loopback, or with ``--link RATE`` each in a network namespace of its own, joined by
   a veth pair shaped by ``tc`` (token bucket at RATE, 0.5 ms each way where the kernel
   has netem; ``bench.netlink``). State directories live under ``--state-dir`` (default:
   a fresh directory in /dev/shm — guest memory files stand for RAM);
3. fills the active domain ``ldg-bench`` (``--size``) with a fixed, seeded mix, written
   into its memory file with 2 MiB ``pwrite`` calls: per 64 MiB, 16 MiB never written
   (holes), 32 MiB text-like pages (words drawn by a seeded PRNG from a 4096-word
   vocabulary, so they compress as text does), 16 MiB random (SHAKE-256 of the seed);
4. for each dirty rate and mode sets the guest's write rate (``ldm set-guest``), runs
   ``ldm migrate-domain [--live -d MS] [--streams N | --tunnelled] ldg-bench HOST`` over
   SSH exactly as an operator would (the password typed on stdin) and moves the domain back
   and forth; it measures the command's wall time (total), the source's record of the
   migration over RPC (downtime: suspend on the source until the target's confirmation
   arrived — an upper bound of the guest's pause; bytes on the wire; rounds; zero pages),
   the transport and streams the migration used (``ldm list -o status --completed -p`` on
   the source), each ``ldmd``'s peak resident memory (``VmHWM``, reset before each run)
   and CPU seconds, and from the source's log the page batches sent and compressed;
5. in the same run, over the same path, the baselines: raw TCP and one Python ``ssl`` TLS
   socket with blocking sockets between two processes, memory file to memory file
   (``bench.transport``); the OpenSSH stream (``ssh`` into a throw-away ``sshd``,
   ``head -c N /dev/zero`` into the client — the targets' reference); and, informational,
   OpenSSH carrying the same bytes into a memory file (``ssh host 'cat > file'``).
   ``--asyncssh`` (implied by ``--tunnelled`` on loopback) adds the asyncssh channel and
   pipeline of ``bench.baselines``;
6. prints a table, the baselines and the targets (``bench.migration_report``: met, or
   NOT met with what the measurements show instead), and writes JSON
   (``bench/results/migration-*.json``).

Rates: *effective* = guest memory size ÷ total time; *wire* = bytes on the wire ÷ total
time. Both use the operator's wall time, handshakes and checks included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
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

from bench import baselines, first_touch, migration_report, netlink, openssh, transport
from bench.migration_lab import DOMAIN, HOSTS, PASSWORD, Lab, NamespaceLab, lab_toml
from bench.migration_report import table, targets
from ldtui.core.cmd_args import parse_rate
from ldtui.core.units import parse_size

__all__ = ["DOMAIN", "HOSTS", "Lab", "NamespaceLab", "lab_toml", "table", "targets", "fill", "main"]

CHUNK = 64 << 20
WRITE = 2 << 20
RESULTS = Path(__file__).resolve().parent / "results"
LINK_BASELINE_BYTES = 1 << 30
"""Over a slow link a baseline's rate settles in seconds; more bytes only take longer."""


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
async def ldm(host: dict, line: str, *, password_line: str | None = None, timeout: float = 900.0):
    async with asyncssh.connect(host["address"], host["port"], username="root", password=PASSWORD,
                                known_hosts=None, client_keys=None, agent_path=None, config=None) as conn:
        proc = await conn.create_process("ldm " + line, encoding=None)
        if password_line is not None:
            proc.stdin.write(password_line.encode() + b"\n")
        done = await asyncio.wait_for(proc.wait(check=False), timeout)
        return done.exit_status, done.stdout.decode(), done.stderr.decode()


async def last_job(host: dict, known_hosts: str):
    from ldtui.net.hostlink import HostLink
    link = HostLink(host["address"], host["port"], "root", password=PASSWORD, known_hosts=known_hosts)
    await link.connect()
    try:
        snap = await link.snapshot()
    finally:
        await link.close()
    jobs = [j for j in snap.jobs if j.domain == DOMAIN and j.role == "source"]
    return jobs[-1] if jobs else None


def completed_fields(text: str) -> dict[str, str]:
    """The fields of the ``LAST`` record of ``ldm list -o status --completed -p``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line == "LAST" and i + 1 < len(lines) and lines[i + 1].startswith("|"):
            return dict(f.split("=", 1) for f in lines[i + 1].strip("|").split("|") if "=" in f)
    return {}


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


def migrate_options(*, live: bool, downtime_ms: float, streams: int | None, tunnelled: bool) -> str:
    """The options of ``ldm migrate-domain`` for one run, as an operator types them."""
    words = [f"--live -d {downtime_ms:g}"] if live else []
    if tunnelled:
        words.append("--tunnelled")
    elif streams:
        words.append(f"--streams {streams}")
    return "".join(w + " " for w in words)


async def migrate_once(lab: Lab, src: str, dst: str, *, live: bool, dirty: int, downtime_ms: float,
                       streams: int | None = None, tunnelled: bool = False) -> dict:
    s, d = lab.host(src), lab.host(dst)
    code, _, err = await ldm(s, f"set-guest write-rate={dirty} {DOMAIN}")
    if code:
        raise RuntimeError(f"set-guest failed: {err.strip()}")
    await asyncio.sleep(1.0)  # the guest writes at its rate before the migration starts
    for h in (s, d):
        reset_peak(h["pid"])
    options = migrate_options(live=live, downtime_ms=downtime_ms, streams=streams, tunnelled=tunnelled)
    cpu = [cpu_seconds(h["pid"]) for h in (s, d)]
    handed_back = first_touch.reported_bytes()
    start = time.perf_counter()
    code, out, err = await ldm(s, f"migrate-domain {options}{DOMAIN} {dst}", password_line=PASSWORD)
    total = time.perf_counter() - start
    if handed_back is not None:
        handed_back = first_touch.reported_bytes() - handed_back
    cpu = [tuple(a - b for a, b in zip(cpu_seconds(h["pid"]), c)) for h, c in zip((s, d), cpu)]
    rss = peak_rss(s["pid"]), peak_rss(d["pid"])
    if code:
        raise RuntimeError(f"migration {src} → {dst} failed: {err.strip()}")
    job = await last_job(s, lab.record["known_hosts"])
    _, text, _ = await ldm(s, f"list -o status --completed -p {DOMAIN}")
    done = completed_fields(text)
    compressed, batches, stalled = logged_transfer(Path(s["state"]) / "ldmd.log")
    return {
        "mode": "live" if live else "warm", "dirty_rate": dirty, "from": src, "to": dst, "options": options.strip(),
        "total_s": total, "downtime_ms": job.downtime_ms, "expected_downtime_ms": job.expected_downtime_ms,
        "downtime_limit_ms": downtime_ms if live else None,
        "wire_bytes": job.bytes_on_wire, "memory_sent_bytes": job.bytes_sent, "rounds": job.iteration + 1 if live else 1,
        "throttle": job.throttle, "zero_pages": job.zero_pages,
        "transport": done.get("transport") or job.transport,
        "streams": int(done["streams"]) if done.get("streams", "").isdigit() else job.streams,
        "transport_job": job.transport, "streams_job": job.streams,
        "effective_rate": lab.size / total, "wire_rate": job.bytes_on_wire / total,
        "peak_rss_source": rss[0], "peak_rss_target": rss[1],
        "cpu_source_s": cpu[0][0], "cpu_target_s": cpu[1][0],
        "minor_faults_source": cpu[0][1], "minor_faults_target": cpu[1][1],
        "batches": batches, "batches_compressed": compressed, "ack_wait_s": stalled,
        "handed_back_bytes": handed_back,
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
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "load_average_at_start": os.getloadavg()[0]}


def baseline_bytes(args, runs: list[dict], *, link: bool) -> int:
    """What each baseline moves: ``--baseline-bytes``, else what the first warm migration
    put on the wire (at least 256 MiB; over a link at most ``LINK_BASELINE_BYTES``);
    whole 2 MiB chunks."""
    if args.baseline_bytes:
        n = parse_size(args.baseline_bytes)
    else:
        warm = next((r for r in runs if r["mode"] == "warm"), runs[0] if runs else None)
        n = max(warm["wire_bytes"] if warm else 0, 256 << 20)
        if link:
            n = min(n, LINK_BASELINE_BYTES)
    return max(n - n % baselines.PIPE_BLOCK, baselines.PIPE_BLOCK)


def touch_amount(text: str | None, size: int, directory: Path) -> int:
    """``--touch``: a size, ``0`` for none, or (not given) what ``first_touch`` advises."""
    if text is None:
        return first_touch.touch_bytes(size, first_touch.mem_available(), first_touch.fs_free(directory))
    return 0 if text.strip() == "0" else parse_size(text)


async def run_baselines(args, nbytes: int, base: Path, link) -> dict:
    """The baselines over the path the migrations took: loopback, or from the source's
    namespace to the target's across the shaped link."""
    b: dict = {"bytes": nbytes}
    plan = link.plan if link else None
    src_ns, tgt_ns = (plan.src_ns, plan.tgt_ns) if plan else (None, None)
    src_addr, tgt_addr = (plan.src_link_addr, plan.tgt_link_addr) if plan else ("127.0.0.1", "127.0.0.1")
    sender = tuple(plan.exec_prefix(src_ns)) if plan else ()
    receiver = tuple(plan.exec_prefix(tgt_ns)) if plan else ()
    scratch = Path(tempfile.mkdtemp(prefix="ldtui-bench-base-", dir=base))
    try:
        src = scratch / "source"
        transport.make_source(src, nbytes)
        for mode in ("raw", "tls"):
            key = "raw_tcp" if mode == "raw" else "tls"
            b[key] = await baselines.socket_transfer(mode, src, scratch / "dest", host=tgt_addr,
                                                     recv_prefix=receiver, send_prefix=sender)
            print(f"  baseline {key}: {b[key]['rate'] / 1e6:.0f} MB/s", file=sys.stderr, flush=True)
        if args.no_openssh:
            b["openssh_stream"] = b["openssh_to_file"] = None
            b["openssh_note"] = b["openssh_to_file_note"] = "skipped (--no-openssh)"
        else:
            # The server sends the stream: it stands where the migration's source does.
            b["openssh_stream"], b["openssh_note"] = await asyncio.to_thread(
                openssh.openssh_stream, nbytes, address=src_addr, server_ns=src_ns, client_ns=tgt_ns)
            b["openssh_to_file"], b["openssh_to_file_note"] = await asyncio.to_thread(
                openssh.openssh_to_file, src, scratch / "ssh-dest", address=tgt_addr, server_ns=tgt_ns,
                client_ns=src_ns)
            for key in ("openssh_stream", "openssh_to_file"):
                if b[key]:
                    print(f"  baseline {key}: {b[key]['rate'] / 1e6:.0f} MB/s", file=sys.stderr, flush=True)
        if (args.asyncssh or args.tunnelled) and not link:
            b["asyncssh_channel"] = await baselines.asyncssh_channel(nbytes)
            src.unlink()
            b["asyncssh_pipeline"] = await baselines.asyncssh_pipeline(nbytes, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return b


async def run(args) -> dict:
    size = parse_size(args.size)
    dirties = [parse_rate(x) for x in args.dirty.split(",")]
    modes = args.modes.split(",")
    base = Path(args.state_dir) if args.state_dir else (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    base = base or Path(tempfile.gettempdir())
    result: dict = {"machine": machine(), "size": size, "scenario": "link" if args.link else "loopback",
                    "options": {"streams": args.streams, "tunnelled": args.tunnelled, "downtime_ms": args.downtime_ms},
                    "memory_mix": "per 64 MiB: 16 MiB never written, 32 MiB text-like, 16 MiB random",
                    "runs": [], "baselines": {}, "link": None}
    if args.link:
        reason = netlink.missing_requirements()
        if reason:
            result["skipped"] = f"--link {args.link}: skipped: {reason}"
            return result
    with (netlink.link(args.link) if args.link else contextlib.nullcontext()) as link:
        if link:
            result["link"] = {"rate": args.link, "delay": link.delay_note, "netem": link.netem,
                              "stale_namespaces_removed": link.removed_stale}
        lab = NamespaceLab(base, size, link) if link else Lab(base, size)
        result["state_dir"] = str(lab.dir)
        try:
            result["handed_back_at_start"] = first_touch.reported_bytes()
            result["first_touch"] = first_touch.touch(lab.dir, touch_amount(args.touch, size, lab.dir))
            result["first_touch_summary"] = first_touch.summary(result["first_touch"])
            print(f"  {result['first_touch_summary']}", file=sys.stderr, flush=True)
            lab.start()
            result["fill"] = fill(lab.memory_file(HOSTS[0]), size)
            here, there = HOSTS
            for dirty in dirties:
                for mode in modes:
                    r = await migrate_once(lab, here, there, live=mode == "live", dirty=dirty,
                                           downtime_ms=args.downtime_ms, streams=args.streams,
                                           tunnelled=args.tunnelled)
                    result["runs"].append(r)
                    print(f"  {r['mode']:4} dirty {dirty / 1e6:5.1f} MB/s: {r['total_s']:6.2f} s, "
                          f"downtime {r['downtime_ms']:8.1f} ms, {migration_report.transport_text(r)}",
                          file=sys.stderr, flush=True)
                    here, there = there, here
        finally:
            lab.stop()
        nbytes = baseline_bytes(args, result["runs"], link=bool(link))
        result["baselines"] = await run_baselines(args, nbytes, base, link)
    migration_report.add_ratios(result)
    result["targets"] = targets(result)
    result["load_average_at_end"] = os.getloadavg()[0]
    end = first_touch.reported_bytes()
    result["handed_back_bytes"] = end - result["handed_back_at_start"] if end is not None else None
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.migration", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="4G", help="guest memory of the domain (default 4G)")
    p.add_argument("--dirty", default="0,20M,50M",
                   help="guest dirty rates to run, comma-separated (default 0,20M,50M)")
    p.add_argument("--modes", default="warm,live", help="warm (suspend and copy), live, or both (default)")
    p.add_argument("--downtime-ms", type=float, default=300.0, help="live downtime limit, -d (default 300)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--streams", type=int, help="data streams (migrate-domain --streams N; default: the host's)")
    how.add_argument("--tunnelled", action="store_true", help="migrate through the SSH link, for comparison")
    p.add_argument("--link", metavar="RATE",
                   help="run over a rate-limited link between two network namespaces (e.g. 1gbit; needs root)")
    p.add_argument("--baseline-bytes", help="bytes per baseline (default: what the warm migration sent)")
    p.add_argument("--no-openssh", action="store_true", help="skip the OpenSSH baselines")
    p.add_argument("--asyncssh", action="store_true", help="add the asyncssh baselines (loopback only)")
    p.add_argument("--touch", help="bytes to touch before measuring (default: 3 x size + 2G, bounded by free "
                                   "memory; 0 skips)")
    p.add_argument("--state-dir", help="where the hosts' state lives (default: /dev/shm if present)")
    p.add_argument("--json", help="where to write the JSON (default bench/results/migration-TIME.json)")
    args = p.parse_args(argv)
    if args.link:
        try:
            netlink.rate_bits(args.link)
        except ValueError as e:
            p.error(f"--link: {e}")
    if args.streams is not None and args.streams < 1:
        p.error("--streams: at least 1")
    try:
        result = asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted: hosts stopped, state and namespaces removed", file=sys.stderr)
        raise SystemExit(130) from None
    if result.get("skipped"):
        print(result["skipped"])
        return
    print(table(result))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(args.json) if args.json else RESULTS / f"migration-{'link-' if args.link else ''}{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
