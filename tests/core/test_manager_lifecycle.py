"""Domain lifecycle, virtual I/O and the host's view (SPEC M-1, M-2, M-3, L-1, L-2)."""

import pytest

from ldtui.core.errors import LdmError
from ldtui.core.manager import Manager
from ldtui.core.model import DomainState
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30
M = 1 << 20


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def new_host(tmp_path, name="t5440-sys-1", clock=None, **machine):
    spec = dict(hostname=name, cores=4, memory=(MemoryRange(0, 16 * G),))
    spec.update(machine)
    m = Manager(MachineSpec(**spec), tmp_path / name, clock=clock or Clock())
    m.create_control_domain(8, 4 * G, crypto=1, io=("pci@400",))
    m.add_vcc("primary-vcc0", "primary", 5000, 5100)
    m.add_vds("primary-vds0", "primary")
    m.add_vdsdev("/dev/dsk/c2t1d0s2", "vol1", "primary-vds0")
    m.add_vsw("primary-vsw0", "primary", net_dev="e1000g0")
    return m


def guest(m, name="ldg1", vcpus=4, memory=1 * G):
    m.add_domain(name)
    m.add_vcpu(vcpus, name)
    m.add_memory(memory, name)
    return m.domain(name)


def row(m, name):
    return next(r for r in m.snapshot().domains if r.name == name)


# -- factory default and the control domain ----------------------------------------------------
def test_a_new_host_gives_primary_everything(tmp_path):
    m = Manager(MachineSpec(hostname="h", cores=2, memory=(MemoryRange(0, 8 * G),)), tmp_path, clock=Clock())
    p = m.domain("primary")
    assert p.control and p.state is DomainState.ACTIVE
    assert p.bindings.strands == tuple(range(16))
    assert p.bindings.memory_size == 8 * G - 0x8000000
    assert p.bindings.maus == (0, 1) and p.bindings.io == m.machine.pci_buses
    assert m.free_strands() == () and m.free_memory() == [] and m.free_io() == ()
    assert (m.console(p), m.flags(p)) == ("SP", "-n-c--")
    m.close()


def test_create_control_domain_resizes_primary_directly(tmp_path):
    m = new_host(tmp_path)
    p = m.domain("primary")
    assert p.bindings.strands == tuple(range(8))
    assert p.bindings.blocks[0].pa == 0x8000000 and p.bindings.memory_size == 4 * G
    assert p.pending is None and m.flags(p) == "-n-cv-"
    assert m.free_memory() == [MemoryRange(0x108000000, 16 * G - 0x108000000)]
    assert m.free_io() == ("pci@500", "pci@600", "pci@700")
    m.close()


# -- inactive → bound → active and back --------------------------------------------------------
def test_guest_goes_inactive_bound_active_bound_inactive_removed(tmp_path):
    clock = Clock()
    m = new_host(tmp_path, clock=clock)
    guest(m)
    assert row(m, "ldg1").state == "inactive" and row(m, "ldg1").cons == ""
    m.bind_domain("ldg1")
    r = row(m, "ldg1")
    assert (r.state, r.flags, r.cons, r.vcpus, r.memory, r.util, r.uptime) == \
        ("bound", "------", "5000", 4, 1 * G, None, None)
    d = m.domain("ldg1")
    assert d.bindings.strands == (8, 9, 10, 11)
    assert d.bindings.blocks[0].ra == 0x8000000 and d.bindings.blocks[0].pa == 0x108000000
    assert m.hv.get(d.uuid).run_state.value == "stopped"
    m.start_domain("ldg1")
    clock.now += 7620
    r = row(m, "ldg1")
    assert (r.state, r.flags, r.uptime, r.util) == ("active", "-n----", 7620, 0.3)
    m.stop_domain("ldg1")
    assert row(m, "ldg1").state == "bound"
    m.unbind_domain("ldg1")
    assert not m.hv.has(d.uuid) and m.domain("ldg1").bindings is None
    m.remove_domain("ldg1")
    with pytest.raises(LdmError) as e:
        m.domain("ldg1")
    assert (e.value.code, e.value.message) == ("no-such-domain", "LDom ldg1 does not exist")
    m.close()


def test_wrong_states_are_refused_with_one_line(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    with pytest.raises(LdmError, match="^LDom ldg1 is not bound: bind it before starting it$"):
        m.start_domain("ldg1")
    with pytest.raises(LdmError, match="^LDom ldg1 is not active$"):
        m.stop_domain("ldg1")
    m.bind_domain("ldg1")
    with pytest.raises(LdmError, match="^LDom ldg1 is already bound$"):
        m.bind_domain("ldg1")
    with pytest.raises(LdmError, match="^LDom ldg1 is bound: unbind it before removing it$"):
        m.remove_domain("ldg1")
    m.start_domain("ldg1")
    with pytest.raises(LdmError, match="^LDom ldg1 is active: stop it before unbinding it$"):
        m.unbind_domain("ldg1")
    with pytest.raises(LdmError, match="^The control domain primary cannot be stopped, only rebooted$"):
        m.stop_domain("primary")
    with pytest.raises(LdmError, match="^LDom ldg1 already exists$"):
        m.add_domain("ldg1")
    m.close()


def test_a_failed_bind_changes_nothing(tmp_path):
    m = new_host(tmp_path)
    guest(m, memory=13 * G)
    m.add_vdisk("vdisk1", "nosuchvol", "primary-vds0", "ldg1")
    before = (m.domain("ldg1"), m.free_strands(), m.free_memory(), len(m.hv.runtimes()))
    with pytest.raises(LdmError) as e:
        m.bind_domain("ldg1")
    assert e.value.message == "Volume nosuchvol@primary-vds0 of virtual disk vdisk1 does not exist"
    assert (m.domain("ldg1"), m.free_strands(), m.free_memory(), len(m.hv.runtimes())) == before
    m.remove_vdisk("vdisk1", "ldg1")    # the next problem shows once the first is gone
    with pytest.raises(LdmError) as e:
        m.bind_domain("ldg1")
    assert e.value.message == "Not enough free memory: 13G requested, 12160M available"
    assert (m.domain("ldg1").state, len(m.hv.runtimes())) == (before[0].state, before[3])
    m.close()


def test_console_ports_come_from_the_vcc_in_order(tmp_path):
    m = new_host(tmp_path)
    for n in ("ldg1", "ldg2", "ldg3"):
        guest(m, n, vcpus=1, memory=256 * M)
        m.bind_domain(n)
    assert [row(m, n).cons for n in ("ldg1", "ldg2", "ldg3")] == ["5000", "5001", "5002"]
    m.unbind_domain("ldg2")
    guest(m, "ldg4", vcpus=1, memory=256 * M)
    m.bind_domain("ldg4")
    assert row(m, "ldg4").cons == "5001"
    guest(m, "ldg5", vcpus=1, memory=256 * M)
    m.set_vcons("ldg5", port=5042)
    m.bind_domain("ldg5")
    assert row(m, "ldg5").cons == "5042"
    guest(m, "ldg6", vcpus=1, memory=256 * M)
    m.set_vcons("ldg6", port=5042)
    with pytest.raises(LdmError, match="^Console port 5042 is already in use$"):
        m.bind_domain("ldg6")
    with pytest.raises(LdmError, match="^Unable to change the console port of LDom ldg5 while it is bound"):
        m.set_vcons("ldg5", port=5043)
    m.close()


def test_binding_without_a_console_service_is_refused(tmp_path):
    m = Manager(MachineSpec(hostname="h", cores=2, memory=(MemoryRange(0, 8 * G),)), tmp_path, clock=Clock())
    m.create_control_domain(4, 2 * G)
    guest(m, vcpus=1, memory=512 * M)
    with pytest.raises(LdmError, match="^No console service \\(vcc\\) exists: add one with ldm add-vcc$"):
        m.bind_domain("ldg1")
    m.close()


# -- virtual I/O services ----------------------------------------------------------------------
def test_vio_devices_get_ids_and_macs(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    m.add_vdsdev("/dev/dsk/c2t2d0s2", "vol2", "primary-vds0")
    m.add_vdisk("vdisk1", "vol1", "primary-vds0", "ldg1")
    m.add_vdisk("vdisk2", "vol2", "primary-vds0", "ldg1")
    m.add_vnet("vnet1", "primary-vsw0", "ldg1")
    m.add_vnet("vnet2", "primary-vsw0", "ldg1", mac="0:14:4F:FA:0:1", mode="hybrid")
    d = m.domain("ldg1")
    assert [(v.name, v.volume, v.service, v.id) for v in d.constraints.vdisks] == \
        [("vdisk1", "vol1", "primary-vds0", 0), ("vdisk2", "vol2", "primary-vds0", 1)]
    macs = [m.services("vsw")[0].mac, d.mac, d.constraints.vnets[0].mac, d.constraints.vnets[1].mac]
    assert macs[3] == "00:14:4f:fa:00:01"
    assert len(set(macs)) == 4 and all(x.startswith("00:14:4f:f8:") for x in macs[:3])
    assert m.hybrid_unmet(d)  # no NIU on this machine: the constraint stays, unmet
    with pytest.raises(LdmError, match="^MAC address 00:14:4f:fa:00:01 is already in use by ldg1/vnet2$"):
        m.add_vnet("vnet3", "primary-vsw0", "ldg1", mac="00:14:4f:fa:00:01")
    with pytest.raises(LdmError, match="^Volume vol1 already exists in service primary-vds0$"):
        m.add_vdsdev("/dev/dsk/c9", "vol1", "primary-vds0")
    m.bind_domain("ldg1")
    m.close()


def test_services_in_use_cannot_be_removed(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    m.add_vdisk("vdisk1", "vol1", "primary-vds0", "ldg1")
    m.add_vnet("vnet1", "primary-vsw0", "ldg1")
    with pytest.raises(LdmError, match="^Volume vol1@primary-vds0 is in use by ldg1/vdisk1$"):
        m.remove_vdsdev("vol1", "primary-vds0")
    with pytest.raises(LdmError, match="^Virtual disk service primary-vds0 is in use by ldg1/vdisk1$"):
        m.remove_vds("primary-vds0")
    with pytest.raises(LdmError, match="^Virtual switch primary-vsw0 is in use by ldg1/vnet1$"):
        m.remove_vsw("primary-vsw0")
    m.bind_domain("ldg1")
    with pytest.raises(LdmError, match="^Console service primary-vcc0 is in use by ldg1$"):
        m.remove_vcc("primary-vcc0")
    m.remove_vdisk("vdisk1", "ldg1")
    m.remove_vdsdev("vol1", "primary-vds0")
    assert m.services("vds")[0].volumes == []
    m.close()


def test_a_service_domain_with_bound_clients_cannot_stop_or_unbind(tmp_path):
    m = new_host(tmp_path)
    guest(m, "svc", vcpus=1, memory=512 * M)
    m.add_vds("svc-vds0", "svc")
    m.add_vdsdev("/dev/zvol/dsk/pool/disk0", "disk0", "svc-vds0")
    guest(m, "ldg1", vcpus=1, memory=512 * M)
    m.add_vdisk("vdisk0", "disk0", "svc-vds0", "ldg1")
    m.bind_domain("svc")
    m.start_domain("svc")
    assert row(m, "svc").flags == "-n--v-"
    m.bind_domain("ldg1")
    with pytest.raises(LdmError, match="^Unable to stop LDom svc: it provides services to bound domains? ldg1$"):
        m.stop_domain("svc")
    m.stop_domain("svc", force=True)
    with pytest.raises(LdmError, match="^Unable to unbind LDom svc: it provides services to bound domain ldg1$"):
        m.unbind_domain("svc")
    m.unbind_domain("ldg1")
    m.unbind_domain("svc")
    with pytest.raises(LdmError, match="^LDom svc provides virtual I/O services: remove them first$"):
        m.remove_domain("svc")
    m.close()


def test_overlapping_vcc_port_ranges_and_duplicate_service_names_are_refused(tmp_path):
    m = new_host(tmp_path)
    with pytest.raises(LdmError, match="overlaps the range 5000-5100 of console service primary-vcc0"):
        m.add_vcc("vcc1", "primary", 5100, 5200)
    with pytest.raises(LdmError, match="^Service primary-vcc0 already exists$"):
        m.add_vds("primary-vcc0", "primary")
    m.close()


# -- the view --------------------------------------------------------------------------------
def test_util_follows_the_guests_write_rate_and_suspended_shows_zero(tmp_path):
    m = new_host(tmp_path)
    guest(m, vcpus=2)
    m.bind_domain("ldg1")
    m.set_guest("ldg1", write_rate=8 << 20)
    m.start_domain("ldg1")
    assert row(m, "ldg1").util == 25.3
    assert m.guest_info("ldg1")["write_rate"] == 8 << 20
    m.close()
