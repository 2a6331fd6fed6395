"""Whether a batch of pages goes compressed: decided by measurement, per link.

The policy belongs to the migration core: it sees only byte counts, timings and how idle
the host is, through a reader it is given (``host_idle`` reads ``/proc/stat``; tests and
the fault harness pass their own), so the same decisions are made in memory and in ``ldmd``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

import attrs

from ldtui.core.migration import codec
from ldtui.core.migration.events import PagesRead


class CompressionPolicy:
    """Whether to compress the next batch: only when it makes the transfer faster.

    Compressing a batch of ``n`` bytes costs ``n / C`` seconds of a worker thread (``C``
    the compressor's speed) and leaves ``r·n`` bytes (``r`` its ratio) for the link, which
    moves ``L`` bytes a second. Two cases:

    - *no spare core* (both cores busy — on loopback the target ``ldmd`` and the source
      take one each): the compressor's CPU is taken from the sending, so the costs add up:
      ``n/C + r·n/L < n/L``, i.e. it pays when the *saving rate* ``(1 - r)·C`` beats ``L``;
    - *a spare core*: the worker compresses batch *n+1* while batch *n* leaves, so a batch
      costs ``max(n/C, r·n/L)`` instead of ``n/L``: it pays when the compressor outruns
      the link (``C > L``) and saves anything (``r < 1``). Only when the target runs on
      another machine: on this one (a loopback peer, as in the lab and the benchmark) the
      idle core is the target's, which needs it to decompress.

    ``r`` is the batch's own: whenever compressing could pay at all (``C > L``), a sample
    of each batch (the first :attr:`SAMPLE_BYTES`) is compressed first, so text pages that
    follow random ones are judged as text. ``C`` is a running average over samples and
    compressed batches; on a link faster than the compressor only every
    :attr:`PROBE_EVERY`-th batch is sampled, to keep it current. ``L`` is the bytes the
    data path wrote over the seconds it took to write them, over the last
    :attr:`LINK_SAMPLES` frames (never above a ``-b`` cap) — frames that only filled free
    socket buffer weigh as little as the time they took. Spare cores are the host's idle
    time (``/proc/stat``) between samples, smoothed so the choice does not flip between
    the two rules from one batch to the next.
    """

    PROBE_EVERY = 16
    SAMPLE_BYTES = 64 << 10
    LINK_SAMPLES = 8
    _ALPHA = 0.3

    def __init__(self, *, cap: int | None = None, idle=None, peer_on_this_host: bool = False) -> None:
        self.cap = cap
        """The ``-b`` bandwidth cap: the link is never faster than that."""
        self.batches = 0
        self.compressed = 0
        self.speed = 0.0
        """Compressor input bytes per second of compressing, over recent measurements."""
        self.ratio = 1.0
        """Compressed size ÷ input size of the last sample or batch compressed."""
        self.link_rate = 0.0
        """Wire bytes a second of recent frames (0 until measured)."""
        self.spare_cores = 0.0
        """Idle cores of this host, smoothed over recent samples (0 where that cannot be read)."""
        self._idle = idle or ((lambda: None) if peer_on_this_host else host_idle)
        self._idle_mark = self._idle()
        self._spare_seen = False
        self._sent: list[tuple[int, float]] = []
        self._warm = False

    @property
    def saving_rate(self) -> float:
        """Bytes saved per second of compressing."""
        return (1.0 - self.ratio) * self.speed

    def _mix(self, old: float, new: float, first: bool) -> float:
        return new if first else old + self._ALPHA * (new - old)

    def _measure(self, nbytes: int, out: int, seconds: float) -> None:
        self.speed = self._mix(self.speed, nbytes / max(seconds, 1e-6), not self.speed)
        self.ratio = min(out / nbytes, 1.0)

    def should_compress(self) -> bool:
        if not self.speed or not self.link_rate or self.ratio >= 1.0:
            return False
        if self.spare_cores >= 1.0:
            return self.speed > self.link_rate
        return self.saving_rate > self.link_rate

    def _could_pay(self) -> bool:
        """Whether compressing any batch could pay on this link (or it is not known yet)."""
        return not self.speed or not self.link_rate or self.speed > self.link_rate

    def pack(self, event: PagesRead) -> PagesRead:
        """Runs in a worker thread: the batch's payload, compressed or not."""
        self.batches += 1
        data = event.data
        if self._could_pay() or self.batches % self.PROBE_EVERY == 1:
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
        sample = memoryview(data)[:self.SAMPLE_BYTES]
        if not self._warm:
            # A thread's first compressions allocate and first touch the compressor's
            # memory (measured: 2-5 ms for 64 KiB, a hundredth of that once warm): never
            # timed, or one slow sample would turn compression off for many batches.
            codec.pack_pages(sample, compress=True)
            self._warm = True
        start = time.perf_counter()
        out, _ = codec.pack_pages(sample, compress=True)
        self._measure(len(sample), len(out), time.perf_counter() - start)
        mark = self._idle()
        if mark and self._idle_mark:
            idle, total = mark[0] - self._idle_mark[0], mark[1] - self._idle_mark[1]
            if total > 0:
                spare = idle / total * (os.cpu_count() or 1)
                self.spare_cores = self._mix(self.spare_cores, spare, not self._spare_seen)
                self._spare_seen = True
        self._idle_mark = mark

    def link_sent(self, nbytes: int, seconds: float) -> None:
        """A frame of ``nbytes`` took ``seconds`` to be written (any thread)."""
        if nbytes < 64 << 10 or seconds <= 0:
            return
        sent = self._sent = (self._sent + [(nbytes, seconds)])[-self.LINK_SAMPLES:]
        rate = sum(n for n, _ in sent) / sum(t for _, t in sent)
        self.link_rate = min(rate, self.cap) if self.cap else rate


def on_this_host(peer: tuple[str, int] | None) -> bool:
    """Whether a peer address (from the [peers] table) is this machine."""
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return peer[0] in ("localhost", socket.gethostname())


def host_idle() -> tuple[int, int] | None:
    """(idle, total) CPU time of this host so far, in clock ticks; None where unknown."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])) if len(fields) >= 4 else None
