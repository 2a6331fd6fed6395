"""Restart safety (SPEC M-5): what an operator configured survives a killed ldmd, and an
active guest keeps running where it was."""

import attrs

from ldtui.core.manager import Manager
from ldtui.core.model import DomainState
from ldtui.hv.hypervisor import Hypervisor
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30
M = 1 << 20
SPEC = MachineSpec(hostname="t5440-sys-1", cores=4, memory=(MemoryRange(0, 16 * G),))


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def configured(state_dir, clock):
    m = Manager(SPEC, state_dir, clock=clock)
    m.create_control_domain(8, 4 * G, crypto=1)
    m.add_vcc("primary-vcc0", "primary", 5000, 5100)
    m.add_vds("primary-vds0", "primary")
    m.add_vdsdev("/dev/dsk/c2t1d0s2", "vol1", "primary-vds0")
    m.add_vsw("primary-vsw0", "primary", net_dev="e1000g0")
    for name, vcpus in (("ldg1", 4), ("ldg2", 2), ("ldg3", 1)):
        m.add_domain(name)
        m.set_vcpu(vcpus, name)
        m.set_memory(1 * G, name)
        m.add_vnet("vnet0", "primary-vsw0", name)
    m.add_vdisk("vdisk0", "vol1", "primary-vds0", "ldg1")
    m.bind_domain("ldg1")
    m.bind_domain("ldg2")
    m.set_guest("ldg1", write_rate=4 << 20)
    m.start_domain("ldg1")
    return m


def view(m):
    return ([attrs.evolve(d) for d in m.domains()], [m.services(k) for k in ("vcc", "vsw", "vds")])


def test_a_killed_manager_reopens_with_everything_and_the_guest_runs_on(tmp_path):
    clock = Clock()
    m = configured(tmp_path, clock)
    m.tick(clock.now)
    clock.now += 0.5
    m.tick(clock.now)                                   # the guest writes memory
    m.set_guest("ldg1", write_rate=0)
    before = view(m)
    info = m.guest_info("ldg1")
    assert info["counter"] == 50 and info["run_state"] == "running"
    del m                                               # SIGKILL: no close(), nothing flushed on purpose

    clock.now += 60
    m2 = Manager(SPEC, tmp_path, clock=clock)
    assert view(m2) == before
    again = m2.guest_info("ldg1")
    assert (again["digest"], again["counter"], again["generation"]) == (info["digest"], 50, info["generation"])
    m2.tick(clock.now)
    clock.now += 0.3
    m2.tick(clock.now)
    assert m2.guest_info("ldg1")["counter"] > 50
    assert m2.guest_info("ldg1")["digest"] == info["digest"]     # write rate 0: memory unchanged
    r = next(r for r in m2.snapshot().domains if r.name == "ldg1")
    assert (r.state, r.cons, r.uptime) == ("active", "5000", 60)
    m2.close()


def test_reopen_reconciles_runtimes_with_the_store(tmp_path):
    clock = Clock()
    m = configured(tmp_path, clock)
    ldg1, ldg2 = m.domain("ldg1"), m.domain("ldg2")
    m.close()

    # Crash leftovers: a bound domain lost its runtime, a stray runtime has no domain.
    hv = Hypervisor(SPEC, tmp_path)
    hv.destroy(ldg2.uuid)
    hv.create("stray-uuid", "ghost", (30,), ldg1.bindings.blocks)
    hv.close()

    m2 = Manager(SPEC, tmp_path, clock=clock)
    assert m2.hv.has(ldg2.uuid) and m2.hv.get(ldg2.uuid).run_state.value == "stopped"
    assert not m2.hv.has("stray-uuid")
    assert m2.domain("ldg2").state is DomainState.BOUND
    assert not m2.hv.has(m2.domain("ldg3").uuid)
    m2.close()


def test_an_active_guest_whose_runtime_vanished_comes_back_bound(tmp_path):
    clock = Clock()
    m = configured(tmp_path, clock)
    uuid = m.domain("ldg1").uuid
    m.close()
    hv = Hypervisor(SPEC, tmp_path)
    hv.destroy(uuid)
    hv.close()
    m2 = Manager(SPEC, tmp_path, clock=clock)
    assert m2.domain("ldg1").state is DomainState.BOUND
    assert m2.hv.get(uuid).run_state.value == "stopped"
    m2.start_domain("ldg1")
    m2.close()


def test_a_host_configuration_seeds_the_store_only_once(tmp_path):
    clock = Clock()
    m = Manager(SPEC, tmp_path, clock=clock)
    assert not m.initialized
    m.create_control_domain(8, 4 * G)
    m.mark_initialized()
    m.close()
    m2 = Manager(SPEC, tmp_path, clock=clock)
    assert m2.initialized and m2.domain("primary").bindings.memory_size == 4 * G
    m2.close()


def test_reconcile_after_an_outer_transaction_rolled_back(tmp_path):
    clock = Clock()
    m = configured(tmp_path, clock)
    try:
        with m.store.transaction():
            m.bind_domain("ldg3")
            raise RuntimeError("a later seed step failed")
    except RuntimeError:
        pass
    uuid = m.domain("ldg3").uuid
    assert m.domain("ldg3").state is DomainState.INACTIVE and m.hv.has(uuid)
    m.reconcile()
    assert not m.hv.has(uuid)
    m.close()
