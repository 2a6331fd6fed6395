"""Domain lifecycle: inactive → bound → active and back, and what each start reconciles.

Also the control domain's factory default; at every start the store and the hypervisor are
reconciled (the store wins for configuration)."""

from __future__ import annotations

import re
import uuid as uuidlib

import attrs

from ldtui.core import binding
from ldtui.core.errors import LdmError
from ldtui.core.model import Bindings, Constraints, Domain, DomainState
from ldtui.core.mutation import mutation
from ldtui.hv.hypervisor import MemoryBlock, RunState

CONTROL_NAME = "primary"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


class LifecycleMixin:
    """add / remove / bind / unbind / start / stop of domains."""

    # -- the control domain --------------------------------------------------------------
    def _factory_default(self) -> None:
        """A new host: ``primary`` owns every strand, all free memory, MAUs and buses."""
        m = self.machine
        free = binding.free_resources(m, ())
        ra = binding.RA_BASE
        blocks = []
        for r in free.memory:
            blocks.append(MemoryBlock(ra, r.pa, r.size))
            ra += r.size
        mac = self._new_mac()
        d = Domain(name=CONTROL_NAME, uuid=str(uuidlib.uuid4()), state=DomainState.ACTIVE, control=True,
                   constraints=Constraints(vcpus=m.strands, memory=free.memory_total, crypto=m.maus,
                                           io=tuple(m.pci_buses)),
                   bindings=Bindings(strands=free.strands, blocks=tuple(blocks), maus=free.maus, io=free.io),
                   mac=mac, hostid=_hostid(mac), started_at=self.clock())
        self._save(d)
        self._boot_runtime(d)

    def _boot_runtime(self, d: Domain) -> None:
        if self.hv.has(d.uuid):
            self.hv.destroy(d.uuid)
        self.hv.create(d.uuid, d.name, d.bindings.strands, d.bindings.blocks, guest=attrs.evolve(d.guest))
        self.hv.start(d.uuid)

    @mutation
    def create_control_domain(self, vcpus: int, memory: int, crypto: int = 0, io=None) -> None:
        """Size the control domain directly, without a delayed reconfiguration.

        Host configurations call it once, when they seed a new store.
        """
        d = self._control()
        if d is None:
            raise LdmError("no-control-domain", "This host has no control domain")
        self._check_machine_quiet(d)
        buses = tuple(self.machine.pci_buses if io is None else io)
        wanted = attrs.evolve(d.constraints, vcpus=vcpus, memory=memory, mblocks=(), crypto=crypto, io=buses)
        d.bindings = self._control_bindings(d, wanted, keep=False)
        d.constraints = wanted
        d.pending = None
        d.started_at = self.clock()
        self._save(d)
        self._boot_runtime(d)

    def _control_bindings(self, d: Domain, c: Constraints, *, keep: bool) -> Bindings:
        """Bindings for the control domain's constraints ``c``; ``keep`` holds on to what it
        has where the new size allows (a reboot), otherwise it starts from scratch."""
        others = [o for o in self._all() if o.name != d.name]
        free = binding.free_resources(self.machine, others)
        old = d.bindings or Bindings()
        if keep:
            strands = binding.resize_strands(self.machine, [s for s in free.strands if s not in old.strands],
                                             old.strands, c.vcpus)
        else:
            strands, _ = binding.allocate_strands(self.machine, free.strands, c.vcpus)
        if c.mblocks:
            blocks = binding.bind_named_blocks(free.memory, c.mblocks)
        elif keep:
            own_free = free.memory
            for b in old.blocks:
                own_free = binding.subtract_range(own_free, b.pa, b.size)
            blocks = binding.resize_blocks(own_free, old.blocks, c.memory)
        else:
            blocks = binding.allocate_memory(free.memory, c.memory)
        maus = binding.allocate_maus(self.machine, free.maus, c.crypto, strands)
        io = binding.check_io(self.machine, c.io, binding.bus_owners(others), d.name)
        return Bindings(strands=strands, blocks=blocks, maus=maus, io=io)

    def _reboot_control(self, d: Domain) -> list[str]:
        if d.pending is not None:
            d.bindings = self._control_bindings(d, d.pending, keep=True)
            d.constraints = d.pending
            d.pending = None
        d.started_at = self.clock()
        self._save(d)
        self._boot_runtime(d)
        return []

    # -- restart safety --------------------------------------------------------
    def reconcile(self) -> None:
        """Make the hypervisor match the store; the store wins for configuration.

        Runs at every start. Callers that wrap several commands in one outer transaction
        call it again if that transaction rolled back, since runtimes are not rolled back.
        Domains in a migration are left alone: the migration journal decides their fate.
        """
        with self._lock, self.store.transaction():
            doms = self._all()
            known = {d.uuid for d in doms}
            for rt in self.hv.runtimes():
                if rt.uuid not in known:
                    self.hv.destroy(rt.uuid)
            for d in doms:
                if d.migration is not None:
                    continue
                if d.bindings is None or d.state is DomainState.INACTIVE:
                    if self.hv.has(d.uuid):
                        self.hv.destroy(d.uuid)
                    continue
                if self.hv.has(d.uuid) and self.hv.get(d.uuid).blocks != d.bindings.blocks:
                    # Memory bound elsewhere than the runtime holds: only a new runtime is true.
                    self.hv.destroy(d.uuid)
                if not self.hv.has(d.uuid):
                    self.hv.create(d.uuid, d.name, d.bindings.strands, d.bindings.blocks,
                                   guest=attrs.evolve(d.guest))
                rt = self.hv.get(d.uuid)
                if rt.name != d.name or rt.strands != d.bindings.strands:
                    self.hv.update(d.uuid, name=d.name, strands=d.bindings.strands)
                if d.state is DomainState.ACTIVE and rt.run_state is not RunState.RUNNING:
                    if d.control:
                        self.hv.stop(d.uuid)
                        self.hv.start(d.uuid)
                        d.started_at = self.clock()
                    else:
                        # It never got (or lost) its boot: show it as bound, the operator starts it.
                        self.hv.stop(d.uuid)
                        d.state = DomainState.BOUND
                        d.started_at = 0.0
                    self._save(d)
                elif d.state is DomainState.BOUND and rt.run_state is not RunState.STOPPED:
                    self.hv.stop(d.uuid)

    # -- add / remove ---------------------------------------------------------------------
    @mutation
    def add_domain(self, name: str, *, mac: str | None = None, hostid: str | None = None) -> None:
        if not _NAME.match(name or ""):
            raise LdmError("bad-name", f"Invalid domain name: {name!r}")
        if any(d.name == name for d in self._all()) or name in self._migrating:
            raise LdmError("domain-exists", f"LDom {name} already exists")
        self._check_no_reconf_for(Domain(name=name, uuid=""))
        mac = self._claim_mac(mac)
        self._save(Domain(name=name, uuid=str(uuidlib.uuid4()), mac=mac, hostid=hostid or _hostid(mac)))

    @mutation
    def set_domain(self, name: str, *, mac: str | None = None, hostid: str | None = None) -> None:
        """Change a domain's MAC address or host ID; the guest sees them only when it boots."""
        d = self._get(name)
        self._check_change(d)
        if d.state is not DomainState.INACTIVE:
            raise LdmError("not-inactive", f"LDom {name} is {d.state.value}: its MAC address and host ID "
                                           "can be changed only while it is inactive")
        if mac is not None and mac != d.mac:
            d.mac = ""
            self._save(d)
            d.mac = self._claim_mac(mac)
        if hostid is not None:
            d.hostid = hostid
        self._save(d)

    @mutation
    def remove_domain(self, name: str) -> None:
        d = self._get(name)
        if d.control:
            raise LdmError("control-domain", f"The control domain {name} cannot be removed")
        self._check_change(d)
        if d.state is not DomainState.INACTIVE:
            raise LdmError("not-inactive", f"LDom {name} is {d.state.value}: unbind it before removing it")
        if self._provides_services(name):
            raise LdmError("service-domain", f"LDom {name} provides virtual I/O services: remove them first")
        self.store.delete_domain(name)

    # -- bind / unbind --------------------------------------------------------------------
    def _plan_binding(self, d: Domain, *, blocks=None, whole_cores: bool = False) -> tuple[Bindings, list[LdmError]]:
        """What binding ``d`` would take, and every reason it cannot (all of them, for -n)."""
        others = [o for o in self._all() if o.name != d.name]
        free = binding.free_resources(self.machine, others)
        c = d.constraints
        problems: list[LdmError] = list(self._vio_problems(d, others))

        def attempt(fn, default):
            try:
                return fn()
            except LdmError as e:
                problems.append(e)
                return default

        if c.vcpus <= 0:
            problems.append(LdmError("no-vcpus", f"LDom {d.name} has no virtual CPUs: add them with ldm add-vcpu"))
            strands, reserved = (), ()
        else:
            strands, reserved = attempt(lambda: binding.allocate_strands(
                self.machine, free.strands, c.vcpus, whole_cores=whole_cores), ((), ()))
        if blocks:
            mem = attempt(lambda: binding.place_blocks(free.memory, blocks), ())
        elif c.mblocks:
            mem = attempt(lambda: binding.bind_named_blocks(free.memory, c.mblocks), ())
        elif c.memory <= 0:
            problems.append(LdmError("no-memory", f"LDom {d.name} has no memory: set it with ldm set-memory"))
            mem = ()
        else:
            mem = attempt(lambda: binding.allocate_memory(free.memory, c.memory), ())
        maus = attempt(lambda: binding.allocate_maus(self.machine, free.maus, c.crypto, strands), ())
        io = attempt(lambda: binding.check_io(self.machine, c.io, binding.bus_owners(others), d.name), ())
        port, vcc = None, None
        if not d.control:
            ranges = [(v.name, v.port_start, v.port_end) for v in self.store.services("vcc")]
            used = [o.bindings.console_port for o in others if o.bindings and o.bindings.console_port]
            vcc, port = attempt(lambda: binding.allocate_console_port(ranges, used, c.console_port), (None, None))
        return Bindings(strands=strands, reserved_strands=reserved, blocks=mem, maus=maus, io=io,
                        console_port=port, console_service=vcc), problems

    def _bind(self, d: Domain, *, blocks=None, whole_cores: bool = False) -> None:
        b, problems = self._plan_binding(d, blocks=blocks, whole_cores=whole_cores)
        if problems:
            raise problems[0]
        d.bindings = b
        d.state = DomainState.BOUND
        self._save(d)
        if self.hv.has(d.uuid):
            self.hv.destroy(d.uuid)
        self.hv.create(d.uuid, d.name, b.strands, b.blocks, guest=attrs.evolve(d.guest))

    @mutation
    def bind_domain(self, name: str) -> None:
        d = self._get(name)
        self._check_no_reconf_for(d)
        self._check_machine_quiet(d)
        if d.state is not DomainState.INACTIVE:
            raise LdmError("already-bound", f"LDom {name} is already bound" if d.state is DomainState.BOUND
                           else f"LDom {name} is {d.state.value}")
        self._bind(d)

    @mutation
    def unbind_domain(self, name: str) -> None:
        d = self._get(name)
        if d.control:
            raise LdmError("control-domain", f"The control domain {name} cannot be unbound")
        self._check_no_reconf_for(d)
        self._check_machine_quiet(d)
        if d.state is DomainState.INACTIVE:
            raise LdmError("not-bound", f"LDom {name} is not bound")
        if d.state is not DomainState.BOUND:
            raise LdmError("not-stopped", f"LDom {name} is {d.state.value}: stop it before unbinding it")
        self._refuse_if_serving(d, "unbind")
        d.bindings = None
        d.state = DomainState.INACTIVE
        self._save(d)
        self.hv.destroy(d.uuid)

    def _service_clients(self, name: str) -> list[str]:
        """Bound or active domains that use a service of domain ``name``."""
        vds = {s.name for s in self.store.services("vds") if s.ldom == name}
        vsw = {s.name for s in self.store.services("vsw") if s.ldom == name}
        vcc = {s.name for s in self.store.services("vcc") if s.ldom == name}
        out = []
        for o in self._all():
            if o.name == name or o.bindings is None:
                continue
            c = o.constraints
            if (any(v.service in vds for v in c.vdisks) or any(v.switch in vsw for v in c.vnets)
                    or o.bindings.console_service in vcc):
                out.append(o.name)
        return out

    def _refuse_if_serving(self, d: Domain, verb: str) -> None:
        clients = self._service_clients(d.name)
        if clients:
            raise LdmError("service-in-use", f"Unable to {verb} LDom {d.name}: it provides services to bound "
                                             f"domain{'s' if len(clients) > 1 else ''} {', '.join(clients)}")

    # -- start / stop ---------------------------------------------------------------------
    @mutation
    def start_domain(self, name: str) -> None:
        d = self._get(name)
        self._check_machine_quiet(d)
        if d.state is DomainState.INACTIVE:
            raise LdmError("not-bound", f"LDom {name} is not bound: bind it before starting it")
        if d.state is not DomainState.BOUND:
            raise LdmError("already-active", f"LDom {name} is already {d.state.value}")
        d.state = DomainState.ACTIVE
        d.started_at = self.clock()
        self._save(d)
        self.hv.start(d.uuid)

    @mutation
    def stop_domain(self, name: str, *, force: bool = False, reboot: bool = False) -> list[str]:
        """Stop (or with ``reboot`` restart) a domain; the control domain only reboots, and
        its reboot applies a pending delayed reconfiguration."""
        d = self._get(name)
        self._check_machine_quiet(d)
        if d.state is not DomainState.ACTIVE:
            raise LdmError("not-active", f"LDom {name} is not active" if d.state is not DomainState.SUSPENDED
                           else f"LDom {name} is suspended")
        if d.control:
            if not reboot:
                raise LdmError("control-domain", f"The control domain {name} cannot be stopped, only rebooted")
            return self._reboot_control(d)
        if not force and not reboot:
            self._refuse_if_serving(d, "stop")
        # A reboot ends the wait for reserved strands of whole cores.
        d.bindings = attrs.evolve(d.bindings, reserved_strands=())
        d.state = DomainState.ACTIVE if reboot else DomainState.BOUND
        d.started_at = self.clock() if reboot else 0.0
        self._save(d)
        self.hv.stop(d.uuid)
        if reboot:
            self.hv.start(d.uuid)
        return []


def _hostid(mac: str) -> str:
    """The host id a domain reports: derived from its MAC address, as the product does."""
    return "0x84" + mac.replace(":", "")[-6:]
