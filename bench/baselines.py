"""Same-run baselines for the migration benchmark: how fast this machine moves bytes.

Each function moves ``nbytes`` from one end of a loopback connection to the other and
returns bytes per second (or a dict with the rate and CPU seconds):
- ``raw_tcp``: asyncio streams, no encryption, both ends in this process;
- ``socket_transfer``: plain TCP (``raw``) or one Python ``ssl`` TLS socket (``tls``) with
  blocking sockets between two processes, a memory file into a fresh memory file — the
  limit of a direct data path on this machine (``bench.transport`` measures them fully);
- ``asyncssh_channel``: one asyncssh session channel, AES-GCM, large writes;
- ``openssh_stream``: OpenSSH ``ssh`` into a local ``sshd`` (Debian openssh-server) started on a
  loopback port for the run; ``None`` with a note when sshd or ssh is absent (``bench.openssh``);
- ``asyncssh_pipeline``: the least any asyncssh-based migrator could do with the bytes, in two
  processes as two hosts would: ``pread`` 2 MiB blocks of a memory file, write them to one
  channel (the peer link's window, packet size and cipher), and in a second process
  ``pwrite`` them into a fresh file — no checks, no journal, no page ledger. Its rate is
  the ceiling of an asyncssh data path on this machine; its CPU per byte tells where the
  time goes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import asyncssh

from bench import openssh
from ldtui.core.migration.source_run import BATCH_PAGES
from ldtui.hv.machine import PAGE_SIZE
from ldtui.net.peer import CHANNEL_MAX_PACKET, CHANNEL_WINDOW

CHUNK = 1 << 20
PIPE_BLOCK = BATCH_PAGES * PAGE_SIZE
"""One page batch of a migration."""
CIPHER = openssh.CIPHER
"""The peer link's cipher on a primary with crypto units (``net.peer``), and OpenSSH's here."""


async def raw_tcp(nbytes: int) -> float:
    done = asyncio.get_running_loop().create_future()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got = 0
        while got < nbytes:
            data = await reader.read(CHUNK)
            if not data:
                break
            got += len(data)
        done.set_result(got)
        writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    buf = os.urandom(CHUNK)
    start = time.perf_counter()
    sent = 0
    while sent < nbytes:
        writer.write(buf)
        await writer.drain()
        sent += len(buf)
    await asyncio.wait_for(done, 120)
    elapsed = time.perf_counter() - start
    writer.close()
    server.close()
    return nbytes / elapsed


class _SinkSession(asyncssh.SSHServerSession):
    def __init__(self, nbytes: int, done: asyncio.Future) -> None:
        self.got = 0
        self.nbytes = nbytes
        self.done = done

    def shell_requested(self) -> bool:
        return True

    def data_received(self, data, datatype) -> None:
        self.got += len(data)
        if self.got >= self.nbytes and not self.done.done():
            self.done.set_result(self.got)


async def asyncssh_channel(nbytes: int, *, cipher: str = CIPHER) -> float:
    done = asyncio.get_running_loop().create_future()
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username):
            return False

        def session_requested(self):
            return _SinkSession(nbytes, done)

    server = await asyncssh.create_server(
        Server, "127.0.0.1", 0, server_host_keys=[host_key], encryption_algs=[cipher],
        encoding=None,
        window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET)
    port = server.sockets[0].getsockname()[1]
    async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="bench",
                                encryption_algs=[cipher]) as conn:
        chan, _ = await conn.create_session(asyncssh.SSHClientSession, encoding=None,
                                            window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET, term_type=None)
        buf = os.urandom(CHUNK)
        start = time.perf_counter()
        sent = 0
        while sent < nbytes:
            chan.write(buf)
            sent += len(buf)
            if chan.get_write_buffer_size() > 4 * CHUNK:
                await _drain(chan, CHUNK)
        await asyncio.wait_for(done, 120)
        elapsed = time.perf_counter() - start
        chan.close()
    server.close()
    return nbytes / elapsed


async def _drain(chan, below: int) -> None:
    while chan.get_write_buffer_size() > below:
        await asyncio.sleep(0.0005)


def openssh_stream(nbytes: int) -> tuple[float | None, str]:
    """Stream ``nbytes`` through OpenSSH on loopback; returns (rate, note)
    (``bench.openssh`` has the measurement, with CPU, and its variants)."""
    result, note = openssh.openssh_stream(nbytes)
    return (result["rate"] if result else None), note


async def socket_transfer(mode: str, src: Path, dest: Path, *, host: str = "127.0.0.1",
                          recv_prefix: tuple[str, ...] = (), send_prefix: tuple[str, ...] = ()) -> dict:
    """``raw`` (plain TCP) or ``tls`` (one Python ``ssl`` socket): ``src`` read in 2 MiB
    chunks by one process, sent on one stream with blocking sockets, written into the fresh
    file ``dest`` by another (``bench.transport``); rate and each side's CPU seconds.
    ``dest`` is removed after."""
    from bench import transport
    nbytes = src.stat().st_size
    try:
        r = await transport.run_once(mode, 1, "threads", nbytes, src, dest, timeout=max(120.0, nbytes / 20e6),
                                     chunk=PIPE_BLOCK, host=host, recv_prefix=recv_prefix, send_prefix=send_prefix)
    finally:
        dest.unlink(missing_ok=True)
    gb = nbytes / 1e9
    return {"rate": r["rate"], "bytes": nbytes, "seconds": r["wall_s"],
            "cpu_send_s": r["cpu_src_per_gb"] * gb, "cpu_recv_s": r["cpu_dst_per_gb"] * gb}


async def _pipeline_sink(dest: str, nbytes: int) -> None:
    """The receiving host: one channel's bytes written into ``dest`` as they arrive."""
    done = asyncio.Event()

    class Sink(asyncssh.SSHServerSession):
        def __init__(self) -> None:
            self.fd = os.open(dest, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.ftruncate(self.fd, nbytes)
            self.off = 0

        def shell_requested(self) -> bool:
            return True

        def data_received(self, data, datatype) -> None:
            os.pwrite(self.fd, data, self.off)
            self.off += len(data)
            if self.off >= nbytes:
                os.close(self.fd)
                done.set()

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username):
            return False

        def session_requested(self):
            return Sink()

    server = await asyncssh.create_server(
        Server, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        encryption_algs=[CIPHER], encoding=None, window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET)
    cpu0 = time.process_time()
    print(server.sockets[0].getsockname()[1], flush=True)
    await done.wait()
    print(f"done {time.process_time() - cpu0:.3f}", flush=True)
    server.close()


async def _pipeline_source(port: int, src: str, nbytes: int) -> None:
    """The sending host: the file's blocks, as read, into one channel."""
    fd = os.open(src, os.O_RDONLY)
    async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="bench",
                                encryption_algs=[CIPHER]) as conn:
        chan, _ = await conn.create_session(asyncssh.SSHClientSession, encoding=None, window=CHANNEL_WINDOW,
                                            max_pktsize=CHANNEL_MAX_PACKET, term_type=None)
        cpu0 = time.process_time()
        print("start", flush=True)
        for off in range(0, nbytes, PIPE_BLOCK):
            chan.write(os.pread(fd, PIPE_BLOCK, off))
            if chan.get_write_buffer_size() > 4 * PIPE_BLOCK:
                await _drain(chan, PIPE_BLOCK)
        await _drain(chan, 0)
        print(f"done {time.process_time() - cpu0:.3f}", flush=True)
        await asyncio.sleep(0.5)  # the sink closes first
        chan.close()
    os.close(fd)


# glibc's allocator returns freed heap tops to the kernel and faults them in again for the
# next packet unless told not to; for a ceiling, the best settings (it tripled the rate).
_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}


async def asyncssh_pipeline(nbytes: int, directory: str | os.PathLike[str]) -> dict:
    """Memory file → one asyncssh channel → a memory file, each end a process of its own;
    returns the rate and the CPU seconds of each end."""
    directory = Path(directory)
    src, dest = directory / "pipeline-src", directory / "pipeline-dest"
    nbytes -= nbytes % PIPE_BLOCK
    with open(src, "wb") as f:  # random: nothing below the SSH layer can shrink it
        for _ in range(nbytes // PIPE_BLOCK):
            f.write(os.urandom(PIPE_BLOCK))
    env, cwd = {**os.environ, **_ALLOCATOR}, str(Path(__file__).resolve().parents[1])
    procs = []
    try:
        sink = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.baselines", "pipeline-sink", str(dest), str(nbytes),
            stdout=asyncio.subprocess.PIPE, env=env, cwd=cwd)
        procs.append(sink)
        port = int(await asyncio.wait_for(sink.stdout.readline(), 30))
        source = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.baselines", "pipeline-source", str(port), str(src), str(nbytes),
            stdout=asyncio.subprocess.PIPE, env=env, cwd=cwd)
        procs.append(source)
        if (await asyncio.wait_for(source.stdout.readline(), 30)).strip() != b"start":
            raise RuntimeError("pipeline source did not start")
        start = time.perf_counter()
        got = (await asyncio.wait_for(sink.stdout.readline(), 300)).decode().split()
        elapsed = time.perf_counter() - start
        sent = (await asyncio.wait_for(source.stdout.readline(), 60)).decode().split()
        for p in procs:
            await asyncio.wait_for(p.wait(), 30)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        for f in (src, dest):
            f.unlink(missing_ok=True)
    if got[:1] != ["done"] or sent[:1] != ["done"]:
        raise RuntimeError("pipeline baseline did not finish")
    return {"rate": nbytes / elapsed, "bytes": nbytes, "cpu_source_s": float(sent[1]), "cpu_target_s": float(got[1])}


if __name__ == "__main__" and sys.argv[1:2] == ["pipeline-sink"]:
    asyncio.run(_pipeline_sink(sys.argv[2], int(sys.argv[3])))
elif __name__ == "__main__" and sys.argv[1:2] == ["pipeline-source"]:
    asyncio.run(_pipeline_source(int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
elif __name__ == "__main__":
    n = 512 << 20
    print("raw tcp      ", f"{asyncio.run(raw_tcp(n)) / 1e6:8.1f} MB/s")
    print("asyncssh     ", f"{asyncio.run(asyncssh_channel(n)) / 1e6:8.1f} MB/s")
    rate, note = openssh_stream(n)
    print("openssh      ", f"{rate / 1e6:8.1f} MB/s" if rate else note)
