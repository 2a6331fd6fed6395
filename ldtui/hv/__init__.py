"""The simulated hypervisor and guest OS model.

Pure Python; the only I/O is the host's own runtime files (guest memory, vCPU registers).
Nothing here knows about the domain manager, the network or the console.
"""

from ldtui.hv.machine import MachineSpec, MemoryRange, PAGE_SIZE
from ldtui.hv.memory import GuestMemory
from ldtui.hv.hypervisor import Hypervisor, RunState, DomainRuntime, HvError, MemoryBlock, RuntimeState

__all__ = [
    "PAGE_SIZE", "MachineSpec", "MemoryRange", "GuestMemory", "Hypervisor", "RunState",
    "DomainRuntime", "HvError", "MemoryBlock", "RuntimeState",
]
