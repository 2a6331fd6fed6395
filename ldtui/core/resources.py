"""Changing a domain's resources: vCPUs, memory, crypto units, PCIe buses.

An inactive domain only records the new constraint. A bound domain is rebound for that
resource at once. An active guest changes vCPUs through CPU dynamic reconfiguration (the
guest may refuse) and crypto units directly; its memory and I/O cannot change while it runs
(LDoms 1.2 had no memory DR for guests). The control domain changes vCPUs dynamically;
memory, crypto and I/O start a delayed reconfiguration that its reboot applies.
"""

from __future__ import annotations

import attrs

from ldtui.core import binding
from ldtui.core.errors import LdmError
from ldtui.core.model import Constraints, Domain, DomainState
from ldtui.core.mutation import DELAYED_RECONF_MORE, DELAYED_RECONF_START, mutation
from ldtui.core.units import format_size
from ldtui.hv.hypervisor import HvError
from ldtui.hv.machine import MemoryRange


def _positive(n: int, what: str) -> int:
    if not isinstance(n, int) or n < 1:
        raise LdmError("bad-count", f"Invalid number of {what}: {n}")
    return n


class ResourcesMixin:
    """vCPUs, memory, crypto units, PCIe buses, variables; delayed reconfiguration."""

    # -- delayed reconfiguration of the control domain ------------------------------------
    def _delay(self, d: Domain, wanted: Constraints) -> list[str]:
        if self._migrating:
            busy = next(iter(self._migrating))
            raise LdmError("migration-in-progress", f"Unable to start a delayed reconfiguration: a migration of "
                                                    f"domain {busy} is in progress on this machine")
        # Refuse now what the reboot could not bind: nothing else may change meanwhile.
        self._control_bindings(d, wanted, keep=True)
        first = d.pending is None
        d.pending = wanted
        self._save(d)
        return list(DELAYED_RECONF_START if first else DELAYED_RECONF_MORE)

    @mutation
    def cancel_reconf(self, name: str) -> None:
        d = self._get(name)
        if not d.control:
            raise LdmError("no-reconf", f"LDom {name} is not the control domain: it has no delayed reconfiguration")
        if d.pending is None:
            raise LdmError("no-reconf", f"No delayed reconfiguration is pending on LDom {name}")
        d.pending = None
        self._save(d)

    def _current(self, d: Domain) -> Constraints:
        return d.pending if d.pending is not None else d.constraints

    # -- vCPUs ----------------------------------------------------------------------------
    @mutation
    def add_vcpu(self, n: int, name: str) -> list[str]:
        d = self._get(name)
        return self._set_vcpus(d, self._current(d).vcpus + _positive(n, "virtual CPUs"))

    @mutation
    def set_vcpu(self, n: int, name: str) -> list[str]:
        return self._set_vcpus(self._get(name), _positive(n, "virtual CPUs"))

    @mutation
    def remove_vcpu(self, n: int, name: str) -> list[str]:
        d = self._get(name)
        have = self._current(d).vcpus
        if _positive(n, "virtual CPUs") >= have:
            raise LdmError("bad-count", f"Unable to remove {n} virtual CPUs from LDom {name}: it has {have} "
                                        f"and must keep at least one")
        return self._set_vcpus(d, have - n)

    def _set_vcpus(self, d: Domain, n: int) -> list[str]:
        self._check_change(d)
        if d.control and d.pending is not None:
            return self._delay(d, attrs.evolve(d.pending, vcpus=n))
        d.constraints = attrs.evolve(d.constraints, vcpus=n)
        if d.bindings is None:
            self._save(d)
            return []
        old = d.bindings.strands
        new = binding.resize_strands(self.machine, self._free().strands, old, n)
        d.bindings = attrs.evolve(d.bindings, strands=new)
        self._save(d)
        if d.state is DomainState.ACTIVE:
            rt = self.hv.get(d.uuid)
            if len(new) > len(old) and rt.cpu_dr_disabled:
                raise LdmError("cpu-dr", f"CPU dynamic reconfiguration is disabled on LDom {d.name} "
                                         f"until it reboots")
            try:
                self.hv.shrink_vcpus(d.uuid, new)
            except HvError as e:
                raise LdmError("cpu-dr", str(e)) from None
        else:
            self.hv.update(d.uuid, strands=new)
        return []

    # -- memory ---------------------------------------------------------------------------
    @mutation
    def add_memory(self, size: int, name: str) -> list[str]:
        binding.check_memory_size(size)
        d = self._get(name)
        return self._set_memory(d, self._current(d).memory_size + size, ())

    @mutation
    def set_memory(self, size: int, name: str, mblocks=()) -> list[str]:
        mblocks = tuple(MemoryRange(b.pa, b.size) if hasattr(b, "pa") else MemoryRange(*b) for b in mblocks)
        if mblocks:
            size = sum(b.size for b in mblocks)
        binding.check_memory_size(size)
        return self._set_memory(self._get(name), size, mblocks)

    @mutation
    def remove_memory(self, size: int, name: str) -> list[str]:
        binding.check_memory_size(size)
        d = self._get(name)
        have = self._current(d).memory_size
        if size >= have:
            raise LdmError("bad-size", f"Unable to remove {format_size(size)} of memory from LDom {name}: "
                                       f"it has {format_size(have) if have else '0'}")
        return self._set_memory(d, have - size, ())

    def _set_memory(self, d: Domain, size: int, mblocks: tuple[MemoryRange, ...]) -> list[str]:
        self._check_change(d)
        if d.control:
            return self._delay(d, attrs.evolve(self._current(d), memory=size, mblocks=mblocks))
        if d.state is not DomainState.INACTIVE and d.state is not DomainState.BOUND:
            raise LdmError("memory-dr", f"Unable to change the memory of LDom {d.name} while it is "
                                        f"{d.state.value}: stop it first")
        d.constraints = attrs.evolve(d.constraints, memory=size, mblocks=mblocks)
        if d.bindings is None:
            self._save(d)
            return []
        if mblocks:
            free = self._free(without=d.name).memory
            blocks = binding.bind_named_blocks(free, mblocks)
        else:
            blocks = binding.resize_blocks(self._free().memory, d.bindings.blocks, size)
        d.bindings = attrs.evolve(d.bindings, blocks=blocks)
        self._save(d)
        # A bound domain's memory holds nothing yet: a new runtime of the new size replaces it.
        self.hv.destroy(d.uuid)
        self.hv.create(d.uuid, d.name, d.bindings.strands, blocks, guest=attrs.evolve(d.guest))
        return []

    # -- crypto units ---------------------------------------------------------------------
    @mutation
    def add_crypto(self, n: int, name: str) -> list[str]:
        d = self._get(name)
        return self._set_crypto(d, self._current(d).crypto + _positive(n, "crypto units"))

    @mutation
    def set_crypto(self, n: int, name: str) -> list[str]:
        if not isinstance(n, int) or n < 0:
            raise LdmError("bad-count", f"Invalid number of crypto units: {n}")
        return self._set_crypto(self._get(name), n)

    @mutation
    def remove_crypto(self, n: int, name: str) -> list[str]:
        d = self._get(name)
        have = self._current(d).crypto
        if _positive(n, "crypto units") > have:
            raise LdmError("bad-count", f"Unable to remove {n} crypto units from LDom {name}: it has {have}")
        return self._set_crypto(d, have - n)

    # 1.x scripts spell them add-mau / set-mau / remove-mau.
    add_mau = add_crypto
    set_mau = set_crypto
    remove_mau = remove_crypto

    def _set_crypto(self, d: Domain, n: int) -> list[str]:
        self._check_change(d)
        if d.control:
            return self._delay(d, attrs.evolve(self._current(d), crypto=n))
        d.constraints = attrs.evolve(d.constraints, crypto=n)
        if d.bindings is not None:
            b = d.bindings
            own_cores = {self.machine.core_of(s) for s in b.strands}
            if n <= len(b.maus):
                keep = sorted(b.maus, key=lambda m: (m not in own_cores, m))[:n]
                maus = tuple(sorted(keep))
            else:
                more = binding.allocate_maus(self.machine, self._free().maus, n - len(b.maus), b.strands)
                maus = tuple(sorted(b.maus + more))
            d.bindings = attrs.evolve(b, maus=maus)
        self._save(d)
        return []

    # -- PCIe buses -----------------------------------------------------------------------
    @mutation
    def add_io(self, bus: str, name: str) -> list[str]:
        d = self._get(name)
        if bus not in self.machine.pci_buses:
            raise LdmError("no-such-bus", f"I/O bus {bus} does not exist on this machine")
        have = self._current(d).io
        if bus in have:
            raise LdmError("bus-in-use", f"I/O bus {bus} is already assigned to LDom {name}")
        return self._set_io(d, have + (bus,))

    @mutation
    def remove_io(self, bus: str, name: str) -> list[str]:
        d = self._get(name)
        have = self._current(d).io
        if bus not in have:
            raise LdmError("no-such-bus", f"I/O bus {bus} is not assigned to LDom {name}")
        return self._set_io(d, tuple(b for b in have if b != bus))

    def _set_io(self, d: Domain, buses: tuple[str, ...]) -> list[str]:
        self._check_change(d)
        if d.control:
            return self._delay(d, attrs.evolve(self._current(d), io=buses))
        if d.state is not DomainState.INACTIVE and d.state is not DomainState.BOUND:
            raise LdmError("io-dr", f"Unable to change the I/O buses of LDom {d.name} while it is "
                                    f"{d.state.value}: stop it first")
        d.constraints = attrs.evolve(d.constraints, io=buses)
        if d.bindings is not None:
            others = [o for o in self._all() if o.name != d.name]
            io = binding.check_io(self.machine, buses, binding.bus_owners(others), d.name)
            d.bindings = attrs.evolve(d.bindings, io=io)
        self._save(d)
        return []

    # -- variables ------------------------------------------------------------------------
    @mutation
    def set_variable(self, ldom: str, **values) -> None:
        d = self._get(ldom)
        self._check_change(d)
        variables = dict(d.constraints.variables)
        variables.update({k: str(v) for k, v in values.items()})
        d.constraints = attrs.evolve(d.constraints, variables=variables)
        self._save(d)

    @mutation
    def remove_variable(self, ldom: str, *names: str) -> None:
        d = self._get(ldom)
        self._check_change(d)
        missing = [n for n in names if n not in d.constraints.variables]
        if missing:
            raise LdmError("no-such-variable", f"Variable {missing[0]} is not set on LDom {ldom}")
        variables = {k: v for k, v in d.constraints.variables.items() if k not in names}
        d.constraints = attrs.evolve(d.constraints, variables=variables)
        self._save(d)
