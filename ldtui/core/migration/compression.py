"""Whether a batch of pages goes compressed: decided by measurement, per link (SPEC B-2).

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
        self._idle = idle or ((lambda: None) if peer_on_this_host else host_idle)
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
