"""Phase 1 checks, one failing and one passing case each (SPEC G-4, G-6…G-10, G-14).

Each test sets up the two hosts, asks for a dry run (``ldm migrate-domain -n``) or a real
move, and looks at the lines the operator would read.
"""

import pytest

from harness import G, Host, make_guest, migrate
from ldtui.core.errors import LdmError
from ldtui.hv.machine import MemoryRange


@pytest.fixture
def new_host(tmp_path, clock):
    def make(name, **kw):
        return Host.fresh(tmp_path, clock, name, **kw)
    return make


@pytest.fixture
def sys1(new_host):
    return new_host("t5440-sys-1", services={"io": ("pci@400",)})


def test_everything_fits_a_dry_run_passes_and_moves_nothing(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1)
    out = migrate(sys1, sys2, dry_run=True)
    assert (out.status, out.lines) == ("passed", ())
    assert "ldg1" not in [d.name for d in sys2.m.domains()]
    assert sys1.m.domain("ldg1").state.value == "active"
    assert sys1.m.store.journal_entries() == [] and sys2.m.store.journal_entries() == []


# -- G-6: CPU --------------------------------------------------------------------------------
def test_active_domain_needs_the_same_processor_and_clock(sys1, new_host):
    sys3 = new_host("t5220-sys-3", processor="UltraSPARC-T2", clock_mhz=1165)
    make_guest(sys1)
    assert migrate(sys1, sys3, dry_run=True).lines == (
        "Processor UltraSPARC-T2 at 1165 MHz on the target differs from UltraSPARC-T2+ at 1414 MHz on the source",)


def test_bound_domain_may_move_to_another_processor(sys1, new_host):
    """G-9: processor type and clock may differ for a bound domain."""
    sys3 = new_host("t5220-sys-3", processor="UltraSPARC-T2", clock_mhz=1165)
    make_guest(sys1, state="bound")
    assert migrate(sys1, sys3).status == "completed"
    d = sys3.m.domain("ldg1")
    assert d.state.value == "bound" and len(d.bindings.strands) == 4


def test_active_domain_needs_free_whole_cores(sys1, new_host):
    full = new_host("t5440-sys-2", services={"vcpus": 32})  # primary holds every strand
    make_guest(sys1)
    assert migrate(sys1, full, dry_run=True).lines == ("Not enough free whole cores: 1 needed, 0 available",)


def test_a_guest_that_cannot_give_up_vcpus_cannot_move(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1, vcpus=4)
    sys1.m.set_guest("ldg1", bound_processes=True)
    assert migrate(sys1, sys2, dry_run=True).lines == (
        "Unable to shrink LDom ldg1 to one virtual CPU: processes are bound to CPUs in the guest",)
    # With one vCPU there is nothing to give up: the same guest moves.
    make_guest(sys1, "ldg2", vcpus=1, vnet=False, vdisk=False)
    sys1.m.set_guest("ldg2", processor_sets=True)
    assert migrate(sys1, sys2, "ldg2").status == "completed"


def test_whole_cores_are_reserved_and_cpu_dr_is_off_after_the_move(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1, vcpus=4)
    assert migrate(sys1, sys2).status == "completed"
    d = sys2.m.domain("ldg1")
    # It runs on the one vCPU it was shrunk to; the rest of its whole core is held (G-6).
    assert len(d.bindings.strands) == 1 and len(d.bindings.reserved_strands) == 7
    assert d.constraints.vcpus == 4
    assert sys2.m.hv.get(d.uuid).cpu_dr_disabled
    with pytest.raises(Exception, match="disabled until the domain reboots"):
        sys2.m.hv.shrink_vcpus(d.uuid, ())


# -- G-7: memory ---------------------------------------------------------------------------
def seed_target(new_host, name="dt212-239"):
    """Free memory in two 1G ranges, 0x108000000 and 0x188000000, as in the seed."""
    return new_host(name, memory=(MemoryRange(0, 0x148000000), MemoryRange(0x188000000, 1 * G)),
                    services={"memory": 4 * G})


def test_seed_memory_layout_case(sys1, new_host):
    target = seed_target(new_host)
    assert [(hex(r.pa), r.size) for r in target.m.free_memory()] == [("0x108000000", G), ("0x188000000", G)]
    make_guest(sys1, "ldg-src", vcpus=1, memory=2 * G)
    out = migrate(sys1, target, "ldg-src")
    assert out.status == "failed"
    assert out.lines == ("Unable to bind 2G memory region at real address 0x8000000",)
    assert sys1.m.domain("ldg-src").state.value == "active"


def test_a_block_that_fits_keeps_its_real_address(sys1, new_host):
    target = seed_target(new_host)
    make_guest(sys1, vcpus=1, memory=1 * G)
    ra = sys1.m.domain("ldg1").bindings.blocks[0].ra
    assert migrate(sys1, target).status == "completed"
    (blk,) = target.m.domain("ldg1").bindings.blocks
    assert blk.ra == ra and blk.pa in (0x108000000, 0x188000000) and blk.size == G


# -- G-8: I/O ----------------------------------------------------------------------------
def test_an_io_domain_cannot_move(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1, state="inactive")
    sys1.m.add_io("pci@500", "ldg1")
    sys1.m.bind_domain("ldg1")
    sys1.m.start_domain("ldg1")
    assert migrate(sys1, sys2, dry_run=True).lines == (
        "LDom ldg1 has direct physical I/O (pci@500) and cannot be migrated",)


def test_every_virtual_io_service_must_exist_on_the_target(sys1, new_host):
    bare = new_host("t5440-sys-2", services={"volumes": ("other",), "switch": "other-vsw0", "vcc": None})
    make_guest(sys1)
    assert migrate(sys1, bare, dry_run=True).lines == (
        "Volume vol1@primary-vds0 of virtual disk vdisk1 is not available on t5440-sys-2",
        "Virtual switch primary-vsw0 of virtual network vnet1 is not available on t5440-sys-2",
        "No console service (vcc) exists: add one with ldm add-vcc on t5440-sys-2",
    )


def test_mac_addresses_must_be_free_on_the_target(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1)
    mac = sys1.m.domain("ldg1").constraints.vnets[0].mac
    sys2.m.add_domain("other", mac=mac)
    assert migrate(sys1, sys2, dry_run=True).lines == (
        f"MAC address {mac} of virtual network vnet1 is already used by LDom other on t5440-sys-2",)


def test_niu_hybrid_is_kept_but_noted_without_an_niu(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1, state="inactive", vnet=False)
    sys1.m.add_vnet("vnet1", "primary-vsw0", "ldg1", mode="hybrid")
    sys1.m.bind_domain("ldg1")
    sys1.m.start_domain("ldg1")
    out = migrate(sys1, sys2)
    assert out.status == "completed"
    assert out.notes == ("NIU hybrid I/O of virtual network vnet1 is kept as a constraint but cannot be met "
                         "on t5440-sys-2",)
    assert sys2.m.domain("ldg1").constraints.vnets[0].mode == "hybrid"


def test_crypto_units_and_several_vcpus_cannot_move(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1, state="inactive")
    sys1.m.add_crypto(1, "ldg1")
    sys1.m.bind_domain("ldg1")
    sys1.m.start_domain("ldg1")
    assert migrate(sys1, sys2, dry_run=True).lines == (
        "LDom ldg1 has bound crypto units and more than one virtual CPU",)
    make_guest(sys1, "ldg2", vcpus=1, state="inactive", vnet=False, vdisk=False)
    sys1.m.add_crypto(1, "ldg2")
    sys1.m.bind_domain("ldg2")
    sys1.m.start_domain("ldg2")
    assert migrate(sys1, sys2, "ldg2").status == "completed"


def test_delayed_reconfiguration_on_either_host_stops_a_migration(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1)
    sys2.m.add_memory(1 * G, "primary")  # starts a delayed reconfiguration there
    assert migrate(sys1, sys2, dry_run=True).lines == ("A delayed reconfiguration is pending on t5440-sys-2",)
    sys1.m.add_memory(1 * G, "primary")
    with pytest.raises(LdmError, match="delayed reconfiguration"):
        migrate(sys1, sys2)


# -- G-9: bound and inactive -------------------------------------------------------------
def test_bound_domain_needs_its_constraints_met(sys1, new_host):
    small = new_host("t5440-sys-2", cores=1, services={"vcpus": 6})  # two strands free
    make_guest(sys1, state="bound")
    assert migrate(sys1, small, dry_run=True).lines == ("Not enough free virtual CPUs: 4 requested, 2 available",)


def test_inactive_domain_needs_no_resources_or_services(sys1, new_host):
    bare = new_host("t5220-sys-3", processor="UltraSPARC-T2", cores=1,
                    services={"volumes": (), "switch": None, "vcc": None, "vcpus": 8})
    make_guest(sys1, state="inactive")
    assert migrate(sys1, bare).status == "completed"
    d = bare.m.domain("ldg1")
    assert d.state.value == "inactive" and d.bindings is None and d.constraints.vcpus == 4


# -- names, versions, refusal, authorization ------------------------------------------------
def test_name_clash_and_rename_on_the_way(sys1, new_host):
    """G-14: ``root@t5440-sys-2:ldg-tgt`` gives the domain a new name there."""
    sys2 = new_host("t5440-sys-2")
    make_guest(sys1)
    sys2.m.add_domain("ldg1")
    assert migrate(sys1, sys2, dry_run=True).lines == ("LDom ldg1 already exists on t5440-sys-2",)
    assert migrate(sys1, sys2, target_name="ldg-tgt").status == "completed"
    assert sys2.m.domain("ldg-tgt").state.value == "active"
    assert "ldg1" not in [d.name for d in sys1.m.domains()]


def test_incompatible_manager_versions(sys1, new_host):
    old = new_host("t5440-sys-2", manager_version="2.0")
    make_guest(sys1)
    assert migrate(sys1, old, dry_run=True).lines == (
        "Logical Domains Manager 1.2 on t5440-sys-1 is not compatible with version 2.0 on t5440-sys-2",)


def test_target_that_refuses_incoming_migrations(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    sys2.m.set_settings(incoming_migration_enabled=False)
    make_guest(sys1)
    out = migrate(sys1, sys2)
    assert out.status == "refused"
    assert out.lines[0] == "Failed to establish connection with ldmd(1m) on target: t5440-sys-2"
    assert len(out.lines) == 5


def test_the_target_user_needs_write_authorization(sys1, new_host):
    sys2 = new_host("t5440-sys-2")
    sys2.m.add_user("operator", password="x", authorizations=("solaris.ldoms.read",))
    make_guest(sys1)
    out = migrate(sys1, sys2, target_user="operator")
    assert out.lines == ("Authorization failed: user operator does not have solaris.ldoms.write on t5440-sys-2",)


def test_a_dry_run_reports_every_unmet_requirement(sys1, new_host):
    """G-10: all of them at once, and nothing moves."""
    sys3 = new_host("t5220-sys-3", processor="UltraSPARC-T2", clock_mhz=1165, services={"volumes": ()})
    make_guest(sys1, vcpus=4)
    sys1.m.set_guest("ldg1", processor_sets=True)
    out = migrate(sys1, sys3, dry_run=True)
    assert out.status == "failed"
    assert out.lines == (
        "Unable to shrink LDom ldg1 to one virtual CPU: processor sets exist in the guest",
        "Processor UltraSPARC-T2 at 1165 MHz on the target differs from UltraSPARC-T2+ at 1414 MHz on the source",
        "Volume vol1@primary-vds0 of virtual disk vdisk1 is not available on t5220-sys-3",
    )
    assert "ldg1" not in [d.name for d in sys3.m.domains()]
