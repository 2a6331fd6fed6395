"""Resource allocation: pure functions over a machine and bindings.

They choose the strands (whole cores where required), memory blocks, crypto units and I/O
buses a domain binds, and place a migrating domain's memory on the target.

Nothing here touches the store or the hypervisor. Each function takes what is free and
returns what to bind, or raises :class:`LdmError` with the one line an operator reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.model import Domain
from ldtui.core.units import format_size
from ldtui.hv.hypervisor import MemoryBlock
from ldtui.hv.machine import PAGE_SIZE, MachineSpec, MemoryRange

RA_BASE = 0x8000000
"""Where every domain's real address space starts; its blocks follow each other from here."""


@attrs.frozen
class FreeResources:
    """What no domain has bound: strands, physical memory ranges (by PA), MAUs, PCIe buses."""

    strands: tuple[int, ...]
    memory: list[MemoryRange]
    maus: tuple[int, ...]
    io: tuple[str, ...]

    @property
    def memory_total(self) -> int:
        return sum(r.size for r in self.memory)


# -- memory ranges -------------------------------------------------------------------------
def merge_ranges(ranges: Iterable[MemoryRange]) -> list[MemoryRange]:
    """Sorted by PA, touching or overlapping ranges joined."""
    out: list[MemoryRange] = []
    for r in sorted((r for r in ranges if r.size > 0), key=lambda r: r.pa):
        if out and r.pa <= out[-1].end:
            last = out[-1]
            out[-1] = MemoryRange(last.pa, max(last.end, r.end) - last.pa)
        else:
            out.append(r)
    return out


def subtract_range(ranges: Iterable[MemoryRange], pa: int, size: int) -> list[MemoryRange]:
    """``ranges`` without ``pa .. pa + size``."""
    end = pa + size
    out: list[MemoryRange] = []
    for r in ranges:
        if r.end <= pa or r.pa >= end:
            out.append(r)
            continue
        if r.pa < pa:
            out.append(MemoryRange(r.pa, pa - r.pa))
        if r.end > end:
            out.append(MemoryRange(end, r.end - end))
    return merge_ranges(out)


def _contains(ranges: Iterable[MemoryRange], pa: int, size: int) -> bool:
    return any(r.pa <= pa and pa + size <= r.end for r in ranges)


# -- what is free --------------------------------------------------------------------------
def free_resources(machine: MachineSpec, domains: Iterable[Domain]) -> FreeResources:
    """Everything of ``machine`` that none of ``domains`` holds in its bindings.

    Reserved strands (the rest of whole cores, unusable until the domain that holds the
    cores reboots) count as held.
    """
    strands: set[int] = set()
    maus: set[int] = set()
    io: set[str] = set()
    memory = merge_ranges(machine.memory)
    for r in machine.reserved:
        memory = subtract_range(memory, r.pa, r.size)
    for d in domains:
        b = d.bindings
        if b is None:
            continue
        strands.update(b.strands, b.reserved_strands)
        maus.update(b.maus)
        io.update(b.io)
        for blk in b.blocks:
            memory = subtract_range(memory, blk.pa, blk.size)
    return FreeResources(
        strands=tuple(s for s in range(machine.strands) if s not in strands),
        memory=memory,
        maus=tuple(m for m in range(machine.maus) if m not in maus),
        io=tuple(bus for bus in machine.pci_buses if bus not in io),
    )


# -- strands -------------------------------------------------------------------------------
def allocate_strands(machine: MachineSpec, free: Sequence[int], count: int, *,
                     whole_cores: bool = False) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``count`` strands, and the strands reserved with them.

    First fit, filling cores that others already use before breaking into untouched ones,
    so whole cores stay whole. With ``whole_cores`` only untouched cores are taken and the
    strands of them beyond ``count`` come back as reserved.
    """
    if count <= 0:
        raise LdmError("bad-count", f"Invalid number of virtual CPUs: {count}")
    free_set = set(free)
    spc = machine.strands_per_core
    by_core: dict[int, list[int]] = {}
    for s in sorted(free_set):
        by_core.setdefault(machine.core_of(s), []).append(s)
    untouched = [c for c, ss in by_core.items() if len(ss) == spc]
    if whole_cores:
        need = -(-count // spc)
        if len(untouched) < need:
            raise LdmError("no-cpus", f"Not enough free whole cores: {need} needed, {len(untouched)} available")
        taken = [s for c in untouched[:need] for s in by_core[c]]
        return tuple(taken[:count]), tuple(taken[count:])
    if len(free_set) < count:
        raise LdmError("no-cpus", f"Not enough free virtual CPUs: {count} requested, {len(free_set)} available")
    partial = [c for c in by_core if c not in untouched]
    order = [s for c in partial + untouched for s in by_core[c]]
    return tuple(order[:count]), ()


# -- memory --------------------------------------------------------------------------------
def check_memory_size(size: int) -> None:
    if size <= 0 or size % PAGE_SIZE:
        raise LdmError("bad-size", f"Invalid memory size {format_size(size) if size > 0 else size}: "
                                   f"it must be a positive multiple of 8K")


def allocate_memory(free: Sequence[MemoryRange], size: int, *, ra: int = RA_BASE) -> tuple[MemoryBlock, ...]:
    """``size`` bytes at real addresses from ``ra`` on.

    One block in the first free range that holds it all; otherwise pieces of free ranges in
    PA order. Refused when the free total is too small.
    """
    check_memory_size(size)
    ranges = merge_ranges(free)
    for r in ranges:
        if r.size >= size:
            return (MemoryBlock(ra, r.pa, size),)
    total = sum(r.size for r in ranges)
    if total < size:
        raise LdmError("no-memory", f"Not enough free memory: {format_size(size)} requested, "
                                    f"{format_size(total) if total else '0'} available")
    blocks = []
    left = size
    for r in ranges:
        take = min(r.size, left)
        blocks.append(MemoryBlock(ra, r.pa, take))
        ra += take
        left -= take
        if not left:
            break
    return tuple(blocks)


def bind_named_blocks(free: Sequence[MemoryRange], mblocks: Sequence[MemoryRange], *,
                      ra: int = RA_BASE) -> tuple[MemoryBlock, ...]:
    """``mblock=PA:size`` constraints: each block exactly at its PA, RAs contiguous."""
    ranges = merge_ranges(free)
    out = []
    for mb in mblocks:
        check_memory_size(mb.size)
        if mb.pa % PAGE_SIZE:
            raise LdmError("bad-address", f"Memory block address {mb.pa:#x} is not 8K aligned")
        if not _contains(ranges, mb.pa, mb.size):
            raise LdmError("mblock-unavailable",
                           f"Memory block {mb.pa:#x}:{format_size(mb.size)} is not free")
        ranges = subtract_range(ranges, mb.pa, mb.size)
        out.append(MemoryBlock(ra, mb.pa, mb.size))
        ra += mb.size
    return tuple(out)


def place_blocks(free: Sequence[MemoryRange], blocks: Sequence[MemoryBlock]) -> tuple[MemoryBlock, ...]:
    """The same blocks (count, sizes, real addresses) at free physical addresses.

    Real addresses are kept across a migration; physical addresses may differ.

    Each block must fit whole in one free range: a migrating domain's memory layout cannot
    be split. Refused with the Logical Domains 1.2 guide's text for the first block that
    finds no room.
    """
    ranges = merge_ranges(free)
    out = []
    for blk in blocks:
        home = next((r for r in ranges if r.size >= blk.size), None)
        if home is None:
            raise LdmError("memory-layout", f"Unable to bind {format_size(blk.size)} memory region "
                                            f"at real address {blk.ra:#x}")
        ranges = subtract_range(ranges, home.pa, blk.size)
        out.append(MemoryBlock(blk.ra, home.pa, blk.size))
    return tuple(out)


# -- crypto units and buses ------------------------------------------------------------------
def allocate_maus(machine: MachineSpec, free: Sequence[int], count: int,
                  strands: Iterable[int] = ()) -> tuple[int, ...]:
    """``count`` MAUs, first those on cores where the domain runs (a MAU serves its core)."""
    if count < 0:
        raise LdmError("bad-count", f"Invalid number of crypto units: {count}")
    if count == 0:
        return ()
    if len(free) < count:
        raise LdmError("no-crypto", f"Not enough free crypto units: {count} requested, {len(free)} available")
    own_cores = []
    for s in strands:
        c = machine.core_of(s)
        if c not in own_cores:
            own_cores.append(c)
    free_set = set(free)
    order = [c for c in own_cores if c in free_set] + [m for m in sorted(free_set) if m not in own_cores]
    return tuple(sorted(order[:count]))


def check_io(machine: MachineSpec, buses: Iterable[str], owners: dict[str, str], domain: str) -> tuple[str, ...]:
    """The buses, if each exists and no other domain holds it; ``owners`` maps bus → domain."""
    out = []
    for bus in buses:
        if bus not in machine.pci_buses:
            raise LdmError("no-such-bus", f"I/O bus {bus} does not exist on this machine")
        owner = owners.get(bus)
        if owner is not None and owner != domain:
            raise LdmError("bus-in-use", f"I/O bus {bus} is bound to domain {owner}")
        out.append(bus)
    return tuple(out)


def bus_owners(domains: Iterable[Domain]) -> dict[str, str]:
    return {bus: d.name for d in domains if d.bindings for bus in d.bindings.io}


def allocate_console_port(ranges: Sequence[tuple[str, int, int]], used: Iterable[int],
                          wanted: int | None = None) -> tuple[str, int]:
    """(vcc name, port): ``wanted`` if free in some vcc, else the first free port of the first
    vcc that has one. ``ranges`` are (vcc, first port, last port)."""
    taken = set(used)
    if wanted is not None:
        for name, lo, hi in ranges:
            if lo <= wanted <= hi:
                if wanted in taken:
                    raise LdmError("port-in-use", f"Console port {wanted} is already in use")
                return name, wanted
        raise LdmError("no-console", f"Console port {wanted} is not in the range of any console service (vcc)")
    for name, lo, hi in ranges:
        for port in range(lo, hi + 1):
            if port not in taken:
                return name, port
    if not ranges:
        raise LdmError("no-console", "No console service (vcc) exists: add one with ldm add-vcc")
    raise LdmError("no-console", "No free port in any console service (vcc)")


# -- changing what a bound domain holds ---------------------------------------------------
def resize_strands(machine: MachineSpec, free: Sequence[int], strands: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` strands keeping the ones held: the newest go first, new ones fill own cores."""
    if count <= 0:
        raise LdmError("bad-count", f"Invalid number of virtual CPUs: {count}")
    if count <= len(strands):
        return tuple(strands[:count])
    more, _ = allocate_strands(machine, free, count - len(strands))
    return tuple(strands) + more


def _join(blocks: Iterable[MemoryBlock]) -> tuple[MemoryBlock, ...]:
    out: list[MemoryBlock] = []
    for b in blocks:
        last = out[-1] if out else None
        if last and last.ra + last.size == b.ra and last.pa + last.size == b.pa:
            out[-1] = MemoryBlock(last.ra, last.pa, last.size + b.size)
        else:
            out.append(b)
    return tuple(out)


def resize_blocks(free: Sequence[MemoryRange], blocks: Sequence[MemoryBlock], size: int) -> tuple[MemoryBlock, ...]:
    """``size`` bytes of memory keeping the blocks held: shrink from the highest RA, grow
    with new blocks that continue the real address space."""
    check_memory_size(size)
    if not blocks:
        return allocate_memory(free, size)
    held = sum(b.size for b in blocks)
    if size == held:
        return tuple(blocks)
    if size > held:
        last = blocks[-1]
        return _join((*blocks, *allocate_memory(free, size - held, ra=last.ra + last.size)))
    out = []
    left = size
    for b in blocks:
        if left <= 0:
            break
        take = min(b.size, left)
        out.append(MemoryBlock(b.ra, b.pa, take))
        left -= take
    return tuple(out)
