"""What a host machine is made of: processor, strands, memory ranges, crypto units, I/O buses."""

from __future__ import annotations

import attrs

PAGE_SIZE = 8192
"""The guest page: memory is read, written, tracked dirty and moved in 8 KiB pages."""


@attrs.frozen
class MemoryRange:
    """A range of physical addresses: ``pa`` .. ``pa + size``."""

    pa: int
    size: int

    @property
    def end(self) -> int:
        return self.pa + self.size


@attrs.frozen(kw_only=True)
class MachineSpec:
    """The hardware of one host, as the hypervisor reports it.

    Strand ids run ``core * strands_per_core + n``; crypto unit (MAU) ``k`` sits on core
    ``k`` and serves that core's strands.
    """

    hostname: str
    processor: str = "UltraSPARC-T2+"
    clock_mhz: int = 1414
    cores: int = 32
    strands_per_core: int = 8
    memory: tuple[MemoryRange, ...] = (MemoryRange(0x0, 64 << 30),)
    reserved: tuple[MemoryRange, ...] = (MemoryRange(0x0, 0x8000000),)
    """Memory the hypervisor keeps for itself (shown as ``_sys_``)."""
    pci_buses: tuple[str, ...] = ("pci@400", "pci@500", "pci@600", "pci@700")
    niu: bool = False
    firmware: str = "7.2.2.e"
    manager_version: str = "1.2"

    @property
    def strands(self) -> int:
        return self.cores * self.strands_per_core

    @property
    def maus(self) -> int:
        return self.cores

    def core_of(self, strand: int) -> int:
        return strand // self.strands_per_core

    def strands_of_core(self, core: int) -> range:
        return range(core * self.strands_per_core, (core + 1) * self.strands_per_core)

    @property
    def memory_total(self) -> int:
        return sum(r.size for r in self.memory)

    def pseudonym(self, bus: str) -> str:
        """``pci@400`` → ``pci_0`` as the guides print it."""
        return f"pci_{self.pci_buses.index(bus)}"
