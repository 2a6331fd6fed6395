"""A guest operating system, as much of one as migration needs.

It writes memory at a configurable rate with a deterministic workload, keeps a monotonic
counter in its registers, and supports CPU dynamic reconfiguration unless processes are
bound to CPUs or processor sets exist.
"""

from __future__ import annotations

import hashlib
import struct

import attrs

from ldtui.hv.machine import PAGE_SIZE

NREGS = 32
REG_COUNTER = 0      # monotonic: ticks of running time (10 ms each)
REG_WRITES = 1       # pages the workload has written so far
REG_RATE_CARRY = 2   # fractional page budget carried between ticks (in bytes)
REG_PC = 3
REGS_SIZE = NREGS * 8
TICK_SECONDS = 0.01

_TEMPLATES = 16


class GuestError(Exception):
    """The guest OS refused an operation (CPU DR with bound processes, …)."""


@attrs.define(kw_only=True)
class GuestSettings:
    """How the guest behaves; part of the domain's runtime, so it migrates with it."""

    write_rate: int = 0
    """Bytes per second the workload writes while the domain runs."""
    cpu_dr: bool = True
    bound_processes: bool = False
    processor_sets: bool = False
    seed: int = 1


def _template(seed: int, n: int) -> bytes:
    """Page ``n`` of the workload's palette: half text-like (compressible), half random."""
    if n % 2 == 0:
        words = [b"ldom", b"solaris", b"kernel", b"zfs", b"page", b"vnet", b"vdisk", b"migrate"]
        h = hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=64).digest()
        out = bytearray()
        i = 0
        while len(out) < PAGE_SIZE:
            out += words[h[i % 64] % len(words)] + b" "
            i += 1
        return bytes(out[:PAGE_SIZE])
    stream = bytearray()
    block = 0
    while len(stream) < PAGE_SIZE:
        stream += hashlib.blake2b(f"{seed}:{n}:{block}".encode(), digest_size=64).digest()
        block += 1
    return bytes(stream[:PAGE_SIZE])


class Registers:
    """The vCPU register file: ``NREGS`` 64-bit values."""

    def __init__(self, raw: bytes | None = None) -> None:
        self.values = list(struct.unpack(f">{NREGS}Q", raw)) if raw else [0] * NREGS

    def pack(self) -> bytes:
        return struct.pack(f">{NREGS}Q", *(v & 0xFFFF_FFFF_FFFF_FFFF for v in self.values))

    @property
    def counter(self) -> int:
        return self.values[REG_COUNTER]


class GuestOS:
    """Runs the workload against a domain's memory; holds no state of its own.

    Everything that must survive a restart or a migration lives in the registers and the
    memory, so the guest can be rebuilt from them at any moment.
    """

    def __init__(self, settings: GuestSettings) -> None:
        self.settings = settings
        self._palette = [_template(settings.seed, n) for n in range(_TEMPLATES)]

    def boot(self, regs: Registers) -> None:
        regs.values = [0] * NREGS
        regs.values[REG_PC] = 0x1000000

    def run(self, regs: Registers, memory, seconds: float) -> int:
        """Advance the guest by ``seconds`` of running time; returns pages written."""
        ticks = max(1, int(round(seconds / TICK_SECONDS)))
        regs.values[REG_COUNTER] += ticks
        regs.values[REG_PC] = (regs.values[REG_PC] + 4 * ticks) & 0xFFFF_FFFF
        rate = self.settings.write_rate
        if rate <= 0:
            return 0
        budget = regs.values[REG_RATE_CARRY] + int(rate * seconds)
        npages = budget // PAGE_SIZE
        regs.values[REG_RATE_CARRY] = budget % PAGE_SIZE
        done = regs.values[REG_WRITES]
        total = memory.pages
        for k in range(done, done + npages):
            page = (k * 2654435761 + self.settings.seed) % total
            body = self._palette[k % _TEMPLATES]
            memory.write_page(page, k.to_bytes(8, "big") + body[8:])
        regs.values[REG_WRITES] = done + npages
        return npages

    def check_cpu_dr(self) -> None:
        """Raise :class:`GuestError` if the guest cannot give up vCPUs right now."""
        if not self.settings.cpu_dr:
            raise GuestError("the guest OS does not support CPU dynamic reconfiguration")
        if self.settings.bound_processes:
            raise GuestError("processes are bound to CPUs in the guest")
        if self.settings.processor_sets:
            raise GuestError("processor sets exist in the guest")
