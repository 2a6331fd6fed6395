"""``ldmd``'s migration service: performs ``ldm migrate-domain`` and ``cancel-operation
migration`` and receives domains from other managers (SPEC G-1…G-14).

The engines decide (``core.migration``); this module only moves their frames between two
``ldmd``s and keeps time: every wait has a timeout, and the operator's ``ldm`` going away
(a KILL closes its channel) cancels the migration, while a hang-up of its shell — the
client keeps the channel open and stops printing — lets it go on (G-12).

The data path (B-2) is a pipeline: while the event loop writes batch *n* to the SSH
channel (and encrypts it), a worker thread reads batch *n+1* from the domain's memory and
prepares it for the wire (compressed when that pays, :class:`CompressionPolicy`); a batch
leaves as its header and then its pages as read, never copied to join them. On the target
a worker thread decompresses each batch and writes it straight into the domain's memory
file while the loop decrypts the next.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import os
import socket

import attrs
import logging
import time

from ldtui.core.cmd_migrate import CancelMigrationRequest, MigrationRequest
from ldtui.core.errors import LdmError
from ldtui.core.migration import (
    CodecError, LinkLost, SourceRun, TargetRun, Timeout, cancel_migration, connection_refused_lines, decode,
    encode, recover, target_report,
)
from ldtui.core.migration import codec
from ldtui.core.migration.events import PagesRead, Received
from ldtui.core.migration.precopy import DEFAULT_DOWNTIME_MS
from ldtui.core.migration.source_run import BATCH_PAGES
from ldtui.core.migration.messages import Go, PageBatch, PagesAck
from ldtui.core.store import converter
from ldtui.net.peer import (
    KEEPALIVE, PEER_METHOD, REPORT_METHOD, PeerLink, PeerUnavailable, has_crypto_units, open_peer_link,
)

log = logging.getLogger("ldtui.net.migrate")

WAIT_TIMEOUT = 30.0
"""The longest a manager waits for its peer's next message before giving up (S-4)."""
ACK_EVERY = 4
"""The target acknowledges every this many page batches it has written (``PagesAck``)."""
WINDOW = 16
"""Page batches the source may have sent and not seen acknowledged: 32 MiB of pages at most,
enough to keep the link busy while the target writes, small enough that no backlog builds."""


def failure_lines(name: str, lines, *, dry_run: bool) -> list[str]:
    end = "would fail if attempted" if dry_run else "failed"
    return [*lines, f"Domain Migration of LDom {name} {end}"]


class MigrationService:
    """One per ``ldmd``. ``page_delay`` slows each page batch (to watch progress in tests
    and demos); ``batch_pages`` sizes the batches."""

    def __init__(self, ldmd, *, wait_timeout: float = WAIT_TIMEOUT, keepalive: tuple[float, int] = KEEPALIVE,
                 page_delay: float = 0.0, batch_pages: int = BATCH_PAGES) -> None:
        self.ldmd = ldmd
        self.wait_timeout = wait_timeout
        self.keepalive = keepalive
        self.page_delay = page_delay
        self.batch_pages = batch_pages
        self.tasks: dict[str, asyncio.Task] = {}
        """Running outgoing migrations by domain name (they outlive a hung-up ``ldm``)."""
        self.incoming_runs: set[TargetRun] = set()
        self.on_go_sent: list = []
        """Callables ``(domain_name, target_host)`` run right after GO is written to the peer
        link (a console's "cut the link at the next handoff" rehearsal hooks in here). A
        coroutine function is awaited; an exception is logged and changes nothing."""

    async def close(self) -> None:
        """End every migration as a lost link would, while the manager is still open."""
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for run in list(self.incoming_runs):
            if not run.finished:
                run.feed(LinkLost("The manager is stopping"))
        self.incoming_runs.clear()

    @property
    def manager(self):
        return self.ldmd.manager

    # -- ldm migrate-domain / cancel-operation migration ------------------------------------
    async def perform(self, request, user: str, password: str | None, io) -> int:
        if isinstance(request, CancelMigrationRequest):
            try:
                cancel_migration(self.manager, request.name)
            except LdmError as e:
                await io.error(e.text() + "\n")
                return 1
            return 0
        if not isinstance(request, MigrationRequest):
            await io.error("ldmd: unknown migration request\n")
            return 1
        return await self._migrate(request, user, password, io)

    async def _migrate(self, req: MigrationRequest, user: str, password: str | None, io) -> int:
        name = req.source
        try:
            run = SourceRun(self.manager, name, target_host=req.host, target_name=req.new_name, user=req.user,
                            dry_run=req.dry_run, batch_pages=self.batch_pages, live=req.live,
                            downtime_limit_ms=req.downtime_ms or DEFAULT_DOWNTIME_MS)
        except LdmError as e:
            await io.error("\n".join(failure_lines(name, [e.text()], dry_run=req.dry_run)) + "\n")
            return 1
        secret = req.password or password
        if secret is None:
            secret = await io.read_password("Target Password:")
        if secret is None:
            run.abandon(("A target password is required",))
            await io.error("\n".join(failure_lines(name, ["A target password is required"], dry_run=req.dry_run)) + "\n")
            return 1
        task = asyncio.create_task(self._drive(run, req, secret), name=f"migrate-{name}")
        self.tasks[name] = task
        task.add_done_callback(lambda t, n=name: self.tasks.pop(n, None) if self.tasks.get(n) is t else None)
        closed = asyncio.ensure_future(io.closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # The operator's ldm was killed: that is a cancel (G-12). After GO it is
                # refused and the migration finishes in the background.
                try:
                    cancel_migration(self.manager, name)
                except LdmError as e:
                    log.info("ldm of %s went away: %s", name, e.message)
                return 1
        finally:
            closed.cancel()
        lines = task.result()
        if lines:
            await io.error("\n".join(lines) + "\n")
            return 1
        return 0

    async def _drive(self, run: SourceRun, req: MigrationRequest, password: str) -> list[str]:
        """Run one outgoing migration to its end; returns the lines to print (none: success)."""
        t0 = time.monotonic()
        try:
            link = await open_peer_link(req.host, self.ldmd.peers, req.user, password,
                                        known_hosts=self.ldmd.peer_known_hosts, keepalive=self.keepalive,
                                        crypto_units=has_crypto_units(self.manager),
                                        jump=self.ldmd.jumps.get(req.host), jump_key=self.ldmd.host_key)
        except PeerUnavailable as e:
            log.info("migration of %s to %s: %s", req.source, req.host, e.message)
            if e.code == "permission-denied":
                lines = [e.message]
                run.abandon(tuple(lines))
                return failure_lines(req.source, lines, dry_run=req.dry_run)
            lines = list(connection_refused_lines(req.host))
            run.abandon((e.message,))
            return lines
        log.info("migration of %s to %s: %s, cipher %s, peer link up in %.3fs", req.source, req.host,
                 "live" if req.live else "warm", link.conn.get_extra_info("send_cipher"), time.monotonic() - t0)
        outbox: asyncio.Queue = asyncio.Queue()
        run.deliver = lambda messages: [outbox.put_nowait(m) for m in messages]
        flow = _Flow()
        policy = CompressionPolicy(cap=req.bandwidth, peer_on_this_host=_on_this_host(self.ldmd.peers.get(req.host)))
        try:
            await self._exchange(run, link, outbox, _Pacer(req.bandwidth), policy, flow)
        except asyncio.CancelledError:
            if not run.finished:
                run.feed(LinkLost("The manager is stopping"))
            raise
        finally:
            run.deliver = None
            await link.finish(timeout=2.0)
            await link.close()
        outcome = run.outcome
        job = run.jobs.get(run.mig_id)
        if job is not None:
            log.info("migration of %s to %s %s in %.2fs: %d bytes of memory, %d on the wire, %d rounds, "
                     "downtime %.1f ms (expected %.1f), %d zero pages not sent; %d of %d batches compressed, "
                     "%.3fs waiting for acknowledgements", req.source, req.host,
                     outcome.status, time.monotonic() - t0, job.bytes_sent, job.bytes_on_wire, job.iteration + 1,
                     job.downtime_ms, job.expected_downtime_ms, job.zero_pages, policy.compressed, policy.batches,
                     flow.stalled)
        if outcome.succeeded:
            return []
        if outcome.status == "refused":
            return list(outcome.lines)
        return failure_lines(req.source, outcome.lines, dry_run=req.dry_run)

    async def _exchange(self, run: SourceRun, link: PeerLink, outbox: asyncio.Queue, pacer: "_Pacer",
                        policy: "CompressionPolicy", flow: "_Flow") -> None:
        for m in run.start():
            outbox.put_nowait(m)
        reading: asyncio.Future | None = None
        try:
            while True:
                if not await self._flush(run, link, outbox, pacer, policy, flow) or run.finished:
                    return
                if reading is not None:
                    # The next batch was read while the previous one went out.
                    event = await reading
                    reading = None
                    frame = link.poll()  # an Abort may overtake our pages
                    if frame is not None:
                        self._receive_frame(run, outbox, frame, flow)
                    if run.ends_precopy_round(event) and not run.finished:
                        # Let the target write everything first: what is left is then
                        # measured now, and what follows the suspend never queues.
                        if not await self._drain(run, link, outbox, flow):
                            if not run.finished:  # flush what came up, then wait again
                                reading = asyncio.get_running_loop().create_future()
                                reading.set_result(event)
                            continue
                        event = run.refresh_round_end(event)
                    self._feed(run, outbox, event)
                    if flow.open:
                        reading = self._read_ahead(run, policy)
                    if self.page_delay:
                        await asyncio.sleep(self.page_delay)
                    continue
                if run.wants_pages and flow.open:
                    frame = link.poll()
                    if frame is None and link.closed:
                        self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}"))
                        continue
                    if frame is None:
                        reading = self._read_ahead(run, policy)
                        continue
                else:
                    # Waiting for the target: its answer, or (window full) its acknowledgement.
                    waited = time.monotonic() if run.wants_pages else 0.0
                    try:
                        frame = await link.recv(self.wait_timeout)
                        if waited:
                            flow.stalled += time.monotonic() - waited
                    except TimeoutError:
                        self._feed(run, outbox, Timeout())
                        continue
                    if frame is None:
                        self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}"))
                        continue
                self._receive_frame(run, outbox, frame, flow)
        finally:
            if reading is not None:
                await asyncio.gather(reading, return_exceptions=True)

    async def _drain(self, run: SourceRun, link: PeerLink, outbox: asyncio.Queue, flow: "_Flow") -> bool:
        """Wait until every page batch sent is acknowledged; False if the migration ended
        meanwhile (a cancel, an abort, a lost link: the caller flushes what that produced)."""
        deadline = time.monotonic() + self.wait_timeout
        while not flow.drained:
            if run.finished or not outbox.empty():
                return False
            try:
                frame = await link.recv(0.05)
            except TimeoutError:
                if time.monotonic() > deadline:
                    self._feed(run, outbox, Timeout())
                    return False
                continue
            if frame is None:
                self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}"))
                return False
            self._receive_frame(run, outbox, frame, flow)
        return not run.finished

    @staticmethod
    def _read_ahead(run: SourceRun, policy: "CompressionPolicy") -> asyncio.Future | None:
        """Read — and pack for the wire — the next batch in a worker thread."""
        if not run.wants_pages:
            return None

        def read_and_pack():
            event = run.read_next()
            if isinstance(event, PagesRead) and event.numbers:
                event = policy.pack(event)
            return event
        return asyncio.ensure_future(asyncio.to_thread(read_and_pack))

    def _receive_frame(self, run, outbox, frame: bytes, flow: "_Flow") -> None:
        try:
            msg = decode(frame)
        except CodecError as e:
            self._feed(run, outbox, LinkLost(f"Garbled message from {run.engine.target_host}: {e}"))
            return
        if isinstance(msg, PagesAck):
            flow.acked = max(flow.acked, msg.batches)  # the transport's own: no news for the engine
            return
        self._feed(run, outbox, Received(msg))

    @staticmethod
    def _feed(run, outbox, event) -> None:
        for m in run.feed(event):
            outbox.put_nowait(m)

    async def _flush(self, run, link: PeerLink, outbox: asyncio.Queue, pacer: "_Pacer",
                     policy: "CompressionPolicy", flow: "_Flow") -> bool:
        """Send what the engine produced; False (after telling the engine) if the link broke."""
        while not outbox.empty():
            msg = outbox.get_nowait()
            try:
                if isinstance(msg, PageBatch) and msg.packed is None:
                    head, payload = await asyncio.to_thread(codec.encode_parts, msg)
                else:
                    head, payload = codec.encode_parts(msg)
                size = len(head) + len(payload)
                await pacer.wait(size)
                sent_at = time.monotonic()
                await asyncio.wait_for(link.send(head, payload) if payload else link.send(head),
                                       self.wait_timeout)
                if isinstance(msg, PageBatch):
                    policy.link_sent(size, time.monotonic() - sent_at)
                    flow.sent += 1
                run.jobs.update(run.mig_id, wire=size)
            except (OSError, TimeoutError, ConnectionError, Exception) as e:
                log.warning("migration of %s: sending %s failed: %r", run.name, type(msg).__name__, e)
                if run.finished:
                    return False
                self._feed(run, outbox, LinkLost(f"Lost connection with {run.engine.target_host}: {e}"))
                while not outbox.empty():  # nothing more can reach the target
                    outbox.get_nowait()
                return False
            if isinstance(msg, Go):
                await self._go_sent(run)
        return True

    async def _go_sent(self, run: SourceRun) -> None:
        for hook in list(self.on_go_sent):
            try:
                result = hook(run.name, run.engine.target_host)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_go_sent hook failed")

    # -- the target side -------------------------------------------------------------------
    async def incoming(self, params: dict, ctx) -> dict:
        """``migration.receive``: one incoming migration over this RPC conversation."""
        run = TargetRun(self.manager, user=ctx.user)
        self.incoming_runs.add(run)
        try:
            return await self._receive(run, ctx)
        finally:
            if not run.finished:  # the conversation was torn down under us
                run.feed(LinkLost())
            self.incoming_runs.discard(run)

    async def _receive(self, run: TargetRun, ctx) -> dict:
        batches = 0
        while not run.finished:
            try:
                frame = await _recv(ctx, self.wait_timeout)
            except TimeoutError:
                await _send_all(ctx, run.feed(Timeout()))
                break
            if frame is None:
                run.feed(LinkLost())
                break
            try:
                # Pages are decompressed and written in a worker thread; the loop meanwhile
                # reads (and decrypts) what follows.
                if len(frame) > _INLINE_FRAME:
                    msg, out = await asyncio.to_thread(_decode_and_receive, run, frame)
                else:
                    msg, out = _decode_and_receive(run, frame)
            except CodecError as e:
                log.warning("migration from %s: %s", ctx.peer, e)
                run.feed(LinkLost(f"Garbled message from the source: {e}"))
                break
            if run.mig_id:
                run.jobs.update(run.mig_id, wire=len(frame))
            if isinstance(msg, PageBatch) and not run.finished:
                batches += 1
                # Every few batches, and whenever it has caught up with the link (the source
                # may be waiting for that before it suspends the domain).
                if ctx.binary.empty():
                    if run.offer_live and not run.engine.image_seen:
                        await asyncio.to_thread(run.flush_precopy)
                    out = [PagesAck(batches=batches), *out]
                elif batches % ACK_EVERY == 0:
                    out = [PagesAck(batches=batches), *out]
            if not await _send_all(ctx, out) and not run.finished:
                run.feed(LinkLost())
        status = run.outcome.status if run.outcome else "failed"
        return {"status": status, "lines": list(run.outcome.lines) if run.outcome else []}

    async def report(self, params: dict, ctx) -> dict:
        """``migration.report``: what this host knows of a domain (the recovery wizard)."""
        from ldtui.core.model import READ
        self.manager.authorize(ctx.user, READ)
        return converter.unstructure(target_report(self.manager, str(params.get("name", ""))))


_INLINE_FRAME = 64 << 10
"""Frames up to this size (every message but page batches) are handled on the loop itself."""


def _decode_and_receive(run: TargetRun, frame: bytes):
    msg = decode(frame)
    return msg, run.receive(msg)


class CompressionPolicy:
    """Whether to compress the next batch: only when it makes the transfer faster (B-2).

    Compressing a batch of ``n`` bytes costs ``n / C`` seconds of a worker thread (``C``
    the compressor's speed) and leaves ``r·n`` bytes (``r`` its ratio) for the link, which
    moves ``L`` bytes a second (the event loop encrypting and writing them). Two cases:

    - *no spare core* (both cores busy — on loopback the target ``ldmd`` and the source's
      loop take one each): the compressor's CPU is taken from the loop, so the costs add
      up: ``n/C + r·n/L < n/L``, i.e. it pays when the *saving rate* ``(1 - r)·C`` beats
      ``L``;
    - *a spare core*: the worker compresses batch *n+1* while the loop sends batch *n*,
      so a batch costs ``max(n/C, r·n/L)`` instead of ``n/L``: it pays when the
      compressor outruns the link (``C > L``) and saves anything (``r < 1``). Only when
      the target runs on another machine: on this one (a loopback peer, as in the lab and
      the benchmark) the idle core is the target's, which needs it to decompress —
      measured, counting it as spare compressed ~5 % of the batches and cost ~20 %.

    ``C`` and ``r`` are measured on a sample (the first :attr:`PROBE_BYTES`) of every
    :attr:`PROBE_EVERY`-th batch and on every batch actually compressed; ``L`` from the time
    each frame takes to leave (never above a ``-b`` cap); spare cores from the host's idle
    time (``/proc/stat``) since the last probe. Measured here (docs/PERFORMANCE.md):
    text-like pages at zstd level 1 keep 42 % at ~0.3 GB/s (saving ~0.18 GB/s) while a
    loopback channel carries ~0.6 GB/s, so on loopback batches go as they are; behind a
    1 Gbit/s link or a ``-b 100M`` cap text-like batches go compressed, random ones never.
    """

    PROBE_EVERY = 16
    PROBE_BYTES = 256 << 10
    _ALPHA = 0.3

    def __init__(self, *, cap: int | None = None, idle=None, peer_on_this_host: bool = False) -> None:
        self.cap = cap
        """The ``-b`` bandwidth cap: the link is never faster than that."""
        self.batches = 0
        self.compressed = 0
        self.speed = 0.0
        """Compressor input bytes per second of compressing, over recent measurements."""
        self.ratio = 1.0
        """Compressed size ÷ input size, over recent measurements."""
        self.link_rate = 0.0
        """Wire bytes a second of recent frames (0 until measured)."""
        self.spare_cores = 0.0
        """Idle cores of this host since the last probe (0 where that cannot be read)."""
        self._idle = idle or ((lambda: None) if peer_on_this_host else _host_idle)
        self._idle_mark = self._idle()

    @property
    def saving_rate(self) -> float:
        """Bytes saved per second of compressing."""
        return (1.0 - self.ratio) * self.speed

    def _mix(self, old: float, new: float, first: bool) -> float:
        return new if first else old + self._ALPHA * (new - old)

    def _measure(self, nbytes: int, out: int, seconds: float) -> None:
        first = not self.speed
        self.speed = self._mix(self.speed, nbytes / max(seconds, 1e-6), first)
        self.ratio = self._mix(self.ratio, min(out / nbytes, 1.0), first)

    def should_compress(self) -> bool:
        if not self.speed or not self.link_rate or self.ratio >= 1.0:
            return False
        if self.spare_cores >= 1.0:
            return self.speed > self.link_rate
        return self.saving_rate > self.link_rate

    def pack(self, event: PagesRead) -> PagesRead:
        """Runs in a worker thread: the batch's payload, compressed or not."""
        self.batches += 1
        data = event.data
        if self.batches % self.PROBE_EVERY == 1 or not self.speed:
            self._probe(data)
        if not self.should_compress():
            packed, _ = codec.pack_pages(data, compress=False)
            return attrs.evolve(event, packed=packed, compressed=False)
        start = time.perf_counter()
        packed, compressed = codec.pack_pages(data, compress=True)
        self._measure(len(data), len(packed), time.perf_counter() - start)
        if len(packed) >= len(data):
            packed, compressed = codec.pack_pages(data, compress=False)  # nothing gained
        else:
            self.compressed += 1
        return attrs.evolve(event, packed=packed, compressed=compressed)

    def _probe(self, data) -> None:
        sample = memoryview(data)[:self.PROBE_BYTES]
        start = time.perf_counter()
        out, _ = codec.pack_pages(sample, compress=True)
        self._measure(len(sample), len(out), time.perf_counter() - start)
        mark = self._idle()
        if mark and self._idle_mark:
            idle, total = mark[0] - self._idle_mark[0], mark[1] - self._idle_mark[1]
            if total > 0:
                self.spare_cores = idle / total * (os.cpu_count() or 1)
        self._idle_mark = mark

    def link_sent(self, nbytes: int, seconds: float) -> None:
        if nbytes >= 64 << 10 and seconds > 0:
            rate = nbytes / seconds
            self.link_rate = self._mix(self.link_rate, min(rate, self.cap) if self.cap else rate, not self.link_rate)


def _on_this_host(peer: tuple[str, int] | None) -> bool:
    """Whether a peer address (from the [peers] table) is this machine."""
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return peer[0] in ("localhost", socket.gethostname())


def _host_idle() -> tuple[int, int] | None:
    """(idle, total) CPU time of this host so far, in clock ticks; None where unknown."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])) if len(fields) >= 4 else None


class _Flow:
    """Page batches sent and acknowledged on one peer link (``PagesAck``)."""

    def __init__(self) -> None:
        self.sent = 0
        self.acked = 0
        self.stalled = 0.0
        """Seconds the sender had pages ready but the window was full."""

    @property
    def open(self) -> bool:
        return self.sent - self.acked < WINDOW

    @property
    def drained(self) -> bool:
        """Every batch sent is written on the target: what goes next does not queue."""
        return self.sent <= self.acked


class _Pacer:
    """The optional bandwidth cap (``-b RATE``): frames leave no faster than ``rate`` bytes
    a second on average, measured on the wire (after compression)."""

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self._next = 0.0

    async def wait(self, nbytes: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        start = max(self._next, now)
        self._next = start + nbytes / self.rate
        if start > now:
            await asyncio.sleep(start - now)


async def _recv(ctx, timeout: float) -> bytes | None:
    try:
        return ctx.binary.get_nowait()
    except asyncio.QueueEmpty:
        pass
    if ctx.closed.is_set():
        return None
    get = asyncio.ensure_future(ctx.binary.get())
    lost = asyncio.ensure_future(ctx.closed.wait())
    try:
        done, _ = await asyncio.wait({get, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
        if not get.done():
            get.cancel()
    if get in done:
        return get.result()
    if lost in done:
        return None
    raise TimeoutError


async def _send_all(ctx, messages) -> bool:
    try:
        for m in messages:
            await ctx.send_binary(encode(m))
    except (OSError, ConnectionError, Exception):
        return False
    return True


def install(ldmd, **options) -> MigrationService:
    """Give ``ldmd`` its migration service and settle what a restart interrupted (B-3).

    Call once, after the Manager exists and before ``ldmd`` serves anyone.
    """
    for line in recover(ldmd.manager):
        log.warning("%s: %s", ldmd.hostname, line)
    service = MigrationService(ldmd, **options)
    ldmd.migration_service = service
    stop = ldmd.stop

    async def stop_after_migrations() -> None:
        await service.close()
        await stop()

    ldmd.stop = stop_after_migrations
    ldmd.rpc_methods[PEER_METHOD] = service.incoming
    ldmd.rpc_methods[REPORT_METHOD] = service.report
    return service
