"""How fast can one manager hand memory to another over a direct connection, and at what
CPU cost? ``python -m bench.transport [--bytes 2G] [--streams 1,2,3]``.

Between two processes on 127.0.0.1, N bytes of 2 MiB chunks move from a memory-backed
file (``/dev/shm``) into a fresh file on the receiver (``pwritev``), by each transport of
``bench.transport_ends`` with 1, 2, 3 streams. Streams are threads of one process each
side (``threads``) or, to tell whether the cipher holds the GIL, a process per stream
(``procs``). The table gives the wall rate, its ratio to raw TCP measured in the same run
with the same streams, and each side's CPU-seconds per GB (all threads counted).
A short cipher-only pass (no sockets) tells how fast each AEAD seals and opens in one and
in two threads.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

MODES = ("raw", "tls", "aes-gcm", "chacha20-poly1305", "dataplane")
ROOT = str(Path(__file__).resolve().parents[1])


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B").rstrip("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def make_source(path: Path, nbytes: int) -> None:
    """Random bytes (an AES-CTR key stream: nothing below can shrink it, and fast to make)."""
    enc = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor()
    zeros = bytes(16 << 20)
    with open(path, "wb") as f:
        left = nbytes
        while left:
            n = min(left, len(zeros))
            f.write(enc.update(zeros[:n]))
            left -= n


def same_contents(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(16 << 20), fb.read(16 << 20)
            if x != y:
                return False
            if not x:
                return True


async def _line(proc, timeout: float) -> list[str]:
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not raw:
        raise RuntimeError(f"benchmark end exited early (code {await proc.wait()})")
    return raw.decode().split()


async def _spawn(role: str, cfg: dict, prefix: tuple[str, ...] = ()):
    proc = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, "-m", "bench.transport_ends", role, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    proc.stdin.write((json.dumps(cfg) + "\n").encode())  # secrets never on a command line
    await proc.stdin.drain()
    return proc


async def run_once(mode: str, streams: int, spawn: str, nbytes: int, src: Path, dest: Path,
                   timeout: float, chunk: int, *, host: str = "127.0.0.1", recv_prefix: tuple[str, ...] = (),
                   send_prefix: tuple[str, ...] = ()) -> dict:
    """One run between two processes; ``host`` is the receiver's address and the
    prefixes run either end elsewhere (``ip netns exec NS``)."""
    dest.unlink(missing_ok=True)
    fd = os.open(dest, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, nbytes)
    os.close(fd)
    groups = [list(range(streams))] if spawn == "threads" else [[i] for i in range(streams)]
    base = {"mode": mode, "bytes": nbytes, "streams": streams, "chunk": chunk, "src": str(src), "dest": str(dest),
            "secret": os.urandom(32).hex(), "host": host}
    receivers, senders = [], []
    try:
        ports, fps, offers = [], {}, []
        for g in groups:
            r = await _spawn("recv", {**base, "indices": g}, recv_prefix)
            receivers.append(r)
            fp = None
            while True:
                words = await _line(r, 30)
                if words[0] == "fp":
                    fp = words[1]
                elif words[0] == "port":
                    ports.append(int(words[1]))
                    if fp:
                        fps[words[1]] = fp
                    offers.append(words[2] if len(words) > 2 else None)
                    break
        for g, port, offer in zip(groups, ports, offers):
            senders.append(await _spawn("send", {**base, "indices": g, "ports": [port] * len(g),
                                                 "fingerprints": fps, "offer": offer}, send_prefix))
        for s in senders:
            assert (await _line(s, 30)) == ["ready"]
        t0 = time.perf_counter()
        for s in senders:
            s.stdin.write(b"go\n")
            await s.stdin.drain()
        done = [await _line(r, timeout) for r in receivers]
        wall = time.perf_counter() - t0
        sent = [await _line(s, timeout) for s in senders]
        for s in senders:
            s.stdin.write(b"bye\n")
            await s.stdin.drain()
        for p in receivers + senders:
            await asyncio.wait_for(p.wait(), 30)
    finally:
        for p in receivers + senders:
            if p.returncode is None:
                p.kill()
                await p.wait()
    if any(w[0] != "done" for w in done + sent):
        raise RuntimeError(f"{mode}: an end did not finish: {done} {sent}")
    gb = nbytes / 1e9
    return {"mode": mode, "streams": streams, "spawn": spawn, "wall_s": wall, "rate": nbytes / wall,
            "cpu_src_per_gb": sum(float(w[1]) for w in sent) / gb,
            "cpu_dst_per_gb": sum(float(w[1]) for w in done) / gb}


def cipher_only(seconds: float = 0.6) -> list[dict]:
    """Seal and open 2 MiB records in memory, in one thread and in two at once."""
    out = []
    data = os.urandom(2 << 20)
    for name, cls in (("aes-gcm", AESGCM), ("chacha20-poly1305", ChaCha20Poly1305)):
        aead = cls(os.urandom(32))
        sealed = aead.encrypt(bytes(12), data, b"h")
        for what in ("seal", "open"):
            for threads in (1, 2):
                counts = [0] * threads
                stop = time.perf_counter() + seconds

                def work(k):
                    buf = bytearray(len(data) + 16 if what == "seal" else len(data))
                    while time.perf_counter() < stop:
                        if what == "seal":
                            aead.encrypt_into(bytes(12), data, b"h", buf)
                        else:
                            aead.decrypt_into(bytes(12), sealed, b"h", buf)
                        counts[k] += 1

                ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
                t0 = time.perf_counter()
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                rate = sum(counts) * len(data) / (time.perf_counter() - t0)
                out.append({"cipher": name, "op": what, "threads": threads, "rate": rate})
    return out


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def table(rows: list[dict]) -> str:
    raw = {(r["streams"], r["spawn"]): r["rate"] for r in rows if r["mode"] == "raw"}
    raw1 = raw.get((1, "threads"))
    lines = [f"{'transport':<18} {'streams':>7} {'spawn':<7} {'MB/s':>7} {'min–max':>11} {'×raw':>5} {'×raw1':>6} "
             f"{'src CPU s/GB':>12} {'dst CPU s/GB':>12}"]
    for r in rows:
        same = raw.get((r["streams"], r["spawn"]))
        spread = f"{r['rate_min'] / 1e6:.0f}–{r['rate_max'] / 1e6:.0f}"
        lines.append(f"{r['mode']:<18} {r['streams']:>7} {r['spawn']:<7} {r['rate'] / 1e6:7.0f} {spread:>11} "
                     f"{r['rate'] / same if same else float('nan'):5.2f} "
                     f"{r['rate'] / raw1 if raw1 else float('nan'):6.2f} "
                     f"{r['cpu_src_per_gb']:12.2f} {r['cpu_dst_per_gb']:12.2f}")
    return "\n".join(lines)


async def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bytes", default="2G", help="bytes to move per run (default 2G)")
    ap.add_argument("--streams", default="1,2,3", help="stream counts to try (default 1,2,3)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"transports (default {','.join(MODES)})")
    ap.add_argument("--spawn", default="threads,procs", help="threads, procs or both (procs only for >1 stream)")
    ap.add_argument("--chunk", default="2M", help="bytes per chunk (default 2M, one page batch)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each case; the median is shown")
    ap.add_argument("--dir", default="/dev/shm", help="where the memory files live")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--no-verify", action="store_true", help="skip comparing the received file")
    args = ap.parse_args(argv)
    nbytes = parse_size(args.bytes)
    streams = [int(s) for s in args.streams.split(",")]
    modes_ = [m for m in args.modes.split(",") if m]
    spawns = [s for s in args.spawn.split(",") if s]
    bad = [m for m in modes_ if m not in MODES]
    if bad:
        ap.error(f"unknown transport {bad[0]!r}; choose from {', '.join(MODES)}")
    info = machine()
    info["load_before"] = os.getloadavg()
    print(f"# {info['date']}  {info['cores']} × {info['cpu']}  Linux {info['kernel']}  Python {info['python']}")
    print(f"# {nbytes / (1 << 20):.0f} MiB per run, {parse_size(args.chunk) >> 10} KiB chunks, load average "
          + " ".join(f"{x:.2f}" for x in info["load_before"]))
    ciphers = cipher_only()
    print("# cipher only (2 MiB records, no I/O): " + "; ".join(
        f"{c['cipher']} {c['op']} {c['threads']}t {c['rate'] / 1e9:.1f} GB/s" for c in ciphers))
    work = Path(args.dir) / f"ldtui-bench-{os.getpid()}"
    work.mkdir(mode=0o700)
    src, dest = work / "src", work / "dest"
    results: dict[tuple, list[dict]] = {}
    try:
        make_source(src, nbytes)
        cases = [(m, k, sp) for k in streams for sp in spawns if sp == "threads" or k > 1 for m in modes_]
        for _ in range(args.repeat):
            for mode, k, sp in cases:
                r = await run_once(mode, k, sp, nbytes, src, dest, timeout=max(120.0, nbytes / 20e6),
                                   chunk=parse_size(args.chunk))
                if not args.no_verify and not same_contents(src, dest):
                    raise SystemExit(f"{mode} with {k} streams ({sp}) delivered different bytes")
                results.setdefault((mode, k, sp), []).append(r)
                print(f"#   {mode} {k} {sp}: {r['rate'] / 1e6:.0f} MB/s", file=sys.stderr, flush=True)
    finally:
        for f in (src, dest):
            f.unlink(missing_ok=True)
        work.rmdir()
    rows = []
    for key in results:
        runs = results[key]
        rows.append({**runs[0], **{f: statistics.median(r[f] for r in runs)
                                   for f in ("rate", "wall_s", "cpu_src_per_gb", "cpu_dst_per_gb")},
                     "rate_min": min(r["rate"] for r in runs), "rate_max": max(r["rate"] for r in runs),
                     "runs": len(runs)})
    info["load_after"] = os.getloadavg()
    print(table(rows))
    print("# load average after " + " ".join(f"{x:.2f}" for x in info["load_after"]))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "bytes": nbytes, "ciphers": ciphers,
                                               "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
