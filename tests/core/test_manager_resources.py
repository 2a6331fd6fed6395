"""Changing resources of inactive, bound and active domains; delayed reconfiguration of the
control domain (SPEC M-2, M-4, H-4)."""

import pytest

from ldtui.core.errors import LdmError
from ldtui.core.manager import Manager
from ldtui.hv.hypervisor import MemoryBlock
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30
M = 1 << 20

START = ["Initiating a delayed reconfiguration operation on the primary domain.",
         "All configuration changes for other domains are disabled until the",
         "primary domain reboots, at which time the new configuration for the",
         "primary domain also takes effect."]
MORE = ["Notice: The primary domain is in the process of a delayed reconfiguration.",
        "Any changes made to the primary domain will only take effect after it reboots."]


def new_host(tmp_path, name="t5440-sys-1"):
    m = Manager(MachineSpec(hostname=name, cores=4, memory=(MemoryRange(0, 16 * G),)), tmp_path / name,
                clock=lambda: 1_000_000.0)
    m.create_control_domain(8, 4 * G, crypto=1)
    m.add_vcc("primary-vcc0", "primary", 5000, 5100)
    return m


def guest(m, name="ldg1", vcpus=4, memory=1 * G):
    m.add_domain(name)
    m.set_vcpu(vcpus, name)
    m.set_memory(memory, name)
    return m.domain(name)


# -- inactive and bound domains ------------------------------------------------------------
def test_inactive_domains_only_record_constraints(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    assert m.add_vcpu(4, "ldg1") == []
    m.add_memory(512 * M, "ldg1")
    m.remove_memory(256 * M, "ldg1")
    m.add_crypto(1, "ldg1")
    d = m.domain("ldg1")
    assert (d.constraints.vcpus, d.constraints.memory, d.constraints.crypto) == (8, 1280 * M, 1)
    assert d.bindings is None
    with pytest.raises(LdmError, match="^Unable to remove 8 virtual CPUs from LDom ldg1: it has 8 and must keep"):
        m.remove_vcpu(8, "ldg1")
    with pytest.raises(LdmError, match="^Unable to remove 2G of memory from LDom ldg1: it has 1280M$"):
        m.remove_memory(2 * G, "ldg1")
    m.close()


def test_bound_domains_are_rebound_for_the_changed_resource(tmp_path):
    m = new_host(tmp_path)
    guest(m, vcpus=2)
    m.bind_domain("ldg1")
    m.add_vcpu(2, "ldg1")
    m.add_memory(1 * G, "ldg1")
    m.add_crypto(1, "ldg1")
    d = m.domain("ldg1")
    assert d.bindings.strands == (8, 9, 10, 11)
    assert d.bindings.blocks == (MemoryBlock(0x8000000, 0x108000000, 2 * G),)
    assert d.bindings.maus == (1,)
    rt = m.hv.get(d.uuid)
    assert rt.strands == (8, 9, 10, 11) and rt.memory_size == 2 * G
    m.remove_vcpu(3, "ldg1")
    assert m.domain("ldg1").bindings.strands == (8,)
    m.close()


def test_bound_io_must_be_free(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    m.bind_domain("ldg1")
    with pytest.raises(LdmError, match="^I/O bus pci@500 is bound to domain primary$"):
        m.add_io("pci@500", "ldg1")
    assert m.domain("ldg1").constraints.io == ()
    m.close()


# -- active guests ---------------------------------------------------------------------------
def test_active_guest_memory_and_io_cannot_change(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    m.bind_domain("ldg1")
    m.start_domain("ldg1")
    with pytest.raises(LdmError, match="^Unable to change the memory of LDom ldg1 while it is active: stop it first$"):
        m.add_memory(1 * G, "ldg1")
    with pytest.raises(LdmError) as e:
        m.add_io("pci@700", "ldg1")
    assert e.value.code == "io-dr"
    m.close()


def test_active_guest_vcpus_change_by_cpu_dr_and_bound_processes_block_removal(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    m.bind_domain("ldg1")
    m.start_domain("ldg1")
    m.add_vcpu(2, "ldg1")
    assert len(m.hv.get(m.domain("ldg1").uuid).strands) == 6
    m.set_guest("ldg1", bound_processes=True)
    with pytest.raises(LdmError) as e:
        m.remove_vcpu(2, "ldg1")
    assert e.value.code == "cpu-dr"
    assert e.value.message == "Unable to remove CPUs from domain ldg1: processes are bound to CPUs in the guest"
    assert len(m.domain("ldg1").bindings.strands) == 6
    m.set_guest("ldg1", bound_processes=False)
    m.remove_vcpu(5, "ldg1")
    assert m.hv.get(m.domain("ldg1").uuid).strands == (8,)
    m.close()


def test_active_guest_crypto_changes_at_once(tmp_path):
    m = new_host(tmp_path)
    guest(m, vcpus=8)
    m.bind_domain("ldg1")
    m.start_domain("ldg1")
    assert m.add_crypto(1, "ldg1") == []
    assert m.domain("ldg1").bindings.maus == (1,)
    m.set_crypto(0, "ldg1")
    assert m.domain("ldg1").bindings.maus == ()
    m.close()


# -- the control domain (SPEC M-4) -------------------------------------------------------------
def test_primary_vcpus_change_dynamically(tmp_path):
    m = new_host(tmp_path)
    assert m.set_vcpu(4, "primary") == []
    assert m.domain("primary").bindings.strands == (0, 1, 2, 3)
    assert m.flags(m.domain("primary")) == "-n-cv-"
    m.close()


def test_primary_memory_starts_a_delayed_reconfiguration(tmp_path):
    m = new_host(tmp_path)
    guest(m, "ldg1")
    assert m.set_memory(2 * G, "primary") == START
    assert m.flags(m.domain("primary")) == "-ndcv-"
    assert m.domain("primary").bindings.memory_size == 4 * G      # not before the reboot
    assert m.remove_io("pci@700", "primary") == MORE
    assert m.add_vcpu(1, "primary") == MORE
    with pytest.raises(LdmError) as e:
        m.bind_domain("ldg1")
    assert e.value.code == "reconf-pending"
    assert e.value.message == ("Operation not allowed: a delayed reconfiguration of the primary domain is "
                               "pending until it reboots")
    with pytest.raises(LdmError):
        m.add_vcpu(1, "ldg1")
    with pytest.raises(LdmError):
        m.add_domain("ldg2")
    m.stop_domain("primary", reboot=True)
    p = m.domain("primary")
    assert p.pending is None and m.flags(p) == "-n-cv-"
    assert p.bindings.memory_size == 2 * G and p.bindings.blocks[0].pa == 0x8000000
    assert len(p.bindings.strands) == 9 and "pci@700" not in p.bindings.io
    assert m.hv.get(p.uuid).memory_size == 2 * G
    m.bind_domain("ldg1")
    m.close()


def test_cancel_reconf_drops_the_pending_change(tmp_path):
    m = new_host(tmp_path)
    m.add_crypto(1, "primary")
    m.cancel_reconf("primary")
    assert m.domain("primary").pending is None
    assert m.domain("primary").bindings.maus == (0,)
    with pytest.raises(LdmError, match="^No delayed reconfiguration is pending on LDom primary$"):
        m.cancel_reconf("primary")
    assert m.set_memory(5 * G, "primary") == START
    m.close()


def test_a_delayed_reconfiguration_the_reboot_could_not_bind_is_refused_now(tmp_path):
    m = new_host(tmp_path)
    with pytest.raises(LdmError) as e:
        m.set_memory(40 * G, "primary")
    assert e.value.code == "no-memory"
    assert m.domain("primary").pending is None
    m.close()


def test_named_memory_blocks(tmp_path):
    m = new_host(tmp_path)
    guest(m)
    m.set_memory(0, "ldg1", mblocks=[MemoryRange(0x200000000, 1 * G), (0x300000000, 512 * M)])
    m.bind_domain("ldg1")
    assert m.domain("ldg1").bindings.blocks == (MemoryBlock(0x8000000, 0x200000000, 1 * G),
                                                  MemoryBlock(0x48000000, 0x300000000, 512 * M))
    m.close()
