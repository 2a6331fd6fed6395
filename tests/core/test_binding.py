"""Resource allocation rules (SPEC M-1, M-2, G-6, G-7) as pure functions."""

import pytest

from ldtui.core import binding
from ldtui.core.binding import (RA_BASE, allocate_console_port, allocate_maus, allocate_memory, allocate_strands,
                                bind_named_blocks, check_io, free_resources, place_blocks, resize_blocks,
                                resize_strands)
from ldtui.core.errors import LdmError
from ldtui.core.model import Bindings, Domain
from ldtui.hv.hypervisor import MemoryBlock
from ldtui.hv.machine import MachineSpec, MemoryRange

G = 1 << 30
M = 1 << 20
T2 = MachineSpec(hostname="t5440-sys-2", cores=4, strands_per_core=8,
                 memory=(MemoryRange(0, 16 * G),), reserved=(MemoryRange(0, 0x8000000),))


def bound(name, **kw):
    return Domain(name=name, uuid=name, bindings=Bindings(**kw))


# -- what is free ----------------------------------------------------------------------------
def test_free_resources_subtracts_every_binding_including_reserved_strands():
    doms = [bound("primary", strands=tuple(range(8)), blocks=(MemoryBlock(RA_BASE, 0x8000000, 4 * G),),
                  maus=(0,), io=("pci@400",)),
            bound("ldg1", strands=(8,), reserved_strands=tuple(range(9, 16)),
                  blocks=(MemoryBlock(RA_BASE, 0x108000000, 1 * G),))]
    free = free_resources(T2, doms)
    assert free.strands == tuple(range(16, 32))
    assert free.memory == [MemoryRange(0x148000000, 16 * G - 0x148000000)]
    assert free.maus == (1, 2, 3)
    assert free.io == ("pci@500", "pci@600", "pci@700")


def test_free_memory_of_a_fresh_machine_is_everything_but_the_hypervisors_part():
    free = free_resources(T2, [])
    assert free.memory == [MemoryRange(0x8000000, 16 * G - 0x8000000)]
    assert free.memory_total == 16 * G - 0x8000000


# -- strands ---------------------------------------------------------------------------------
def test_strands_fill_partly_used_cores_before_untouched_ones():
    free = [s for s in range(32) if s not in range(0, 12)]   # core 1 half used
    strands, reserved = allocate_strands(T2, free, 6)
    assert strands == (12, 13, 14, 15, 16, 17)
    assert reserved == ()


def test_whole_cores_hand_back_the_unused_strands_as_reserved():
    free = [s for s in range(32) if s not in range(0, 12)]
    strands, reserved = allocate_strands(T2, free, 3, whole_cores=True)
    assert strands == (16, 17, 18)
    assert reserved == (19, 20, 21, 22, 23)


def test_whole_cores_refused_when_only_broken_cores_are_left():
    free = [3, 4, 11, 12, 19, 20, 27, 28]
    with pytest.raises(LdmError) as e:
        allocate_strands(T2, free, 2, whole_cores=True)
    assert e.value.code == "no-cpus"
    assert e.value.message == "Not enough free whole cores: 1 needed, 0 available"


def test_too_many_strands_is_one_clear_line():
    with pytest.raises(LdmError) as e:
        allocate_strands(T2, range(24, 32), 9)
    assert e.value.message == "Not enough free virtual CPUs: 9 requested, 8 available"


def test_resize_strands_keeps_held_strands_and_drops_the_newest():
    assert resize_strands(T2, range(20, 32), (16, 17, 18), 5) == (16, 17, 18, 20, 21)
    assert resize_strands(T2, range(20, 32), (16, 17, 18), 1) == (16,)


# -- memory ----------------------------------------------------------------------------------
def test_memory_goes_in_one_block_in_the_first_range_that_holds_it():
    free = [MemoryRange(0x8000000, 512 * M), MemoryRange(0x100000000, 4 * G)]
    assert allocate_memory(free, 2 * G) == (MemoryBlock(RA_BASE, 0x100000000, 2 * G),)


def test_memory_splits_over_ranges_in_pa_order_with_contiguous_real_addresses():
    free = [MemoryRange(0x188000000, 1 * G), MemoryRange(0x108000000, 1 * G)]
    blocks = allocate_memory(free, 1536 * M)
    assert blocks == (MemoryBlock(0x8000000, 0x108000000, 1 * G),
                      MemoryBlock(0x48000000, 0x188000000, 512 * M))


def test_not_enough_memory_names_both_sizes():
    with pytest.raises(LdmError) as e:
        allocate_memory([MemoryRange(0x108000000, 1 * G)], 3 * G)
    assert (e.value.code, e.value.message) == ("no-memory", "Not enough free memory: 3G requested, 1G available")


@pytest.mark.parametrize("size", [0, 4096, 8192 * 3 + 1, -8192])
def test_memory_sizes_must_be_positive_multiples_of_8k(size):
    with pytest.raises(LdmError) as e:
        allocate_memory([MemoryRange(0, 16 * G)], size)
    assert e.value.code == "bad-size"


def test_named_blocks_bind_exactly_where_asked():
    free = [MemoryRange(0x8000000, 8 * G)]
    blocks = bind_named_blocks(free, [MemoryRange(0x100000000, 1 * G), MemoryRange(0x40000000, 256 * M)])
    assert blocks == (MemoryBlock(0x8000000, 0x100000000, 1 * G), MemoryBlock(0x48000000, 0x40000000, 256 * M))


def test_a_named_block_that_is_not_free_is_refused():
    with pytest.raises(LdmError) as e:
        bind_named_blocks([MemoryRange(0x8000000, 1 * G)], [MemoryRange(0x20000000, 1 * G)])
    assert e.value.message == "Memory block 0x20000000:1G is not free"


def test_resize_blocks_grows_after_the_last_real_address_and_shrinks_from_the_top():
    held = (MemoryBlock(RA_BASE, 0x108000000, 1 * G),)
    free = [MemoryRange(0x148000000, 4 * G)]
    assert resize_blocks(free, held, 2 * G) == (MemoryBlock(RA_BASE, 0x108000000, 2 * G),)
    free = [MemoryRange(0x300000000, 4 * G)]
    assert resize_blocks(free, held, 2 * G) == (held[0], MemoryBlock(0x48000000, 0x300000000, 1 * G))
    assert resize_blocks(free, held, 256 * M) == (MemoryBlock(RA_BASE, 0x108000000, 256 * M),)


# -- migration memory layout (SPEC G-7; the seed's example) ----------------------------------
def test_seed_two_1g_ranges_cannot_take_a_2g_block():
    free = [MemoryRange(0x108000000, 1 * G), MemoryRange(0x188000000, 1 * G)]
    with pytest.raises(LdmError) as e:
        place_blocks(free, [MemoryBlock(0x8000000, 0x208000000, 2 * G)])
    assert e.value.code == "memory-layout"
    assert e.value.message == "Unable to bind 2G memory region at real address 0x8000000"


def test_layout_failure_names_the_first_block_that_finds_no_room():
    free = [MemoryRange(0x40000000, 3 * G), MemoryRange(0x200000000, 512 * M)]
    blocks = [MemoryBlock(0x8000000, 0x10000000, 2 * G), MemoryBlock(0x88000000, 0x90000000, 1536 * M)]
    with pytest.raises(LdmError) as e:
        place_blocks(free, blocks)
    assert e.value.message == "Unable to bind 1536M memory region at real address 0x88000000"


def test_placed_blocks_keep_count_sizes_and_real_addresses():
    free = [MemoryRange(0x108000000, 1 * G), MemoryRange(0x188000000, 3 * G)]
    blocks = [MemoryBlock(0x8000000, 0x208000000, 2 * G), MemoryBlock(0x88000000, 0x308000000, 1 * G)]
    placed = place_blocks(free, blocks)
    assert [(b.ra, b.size) for b in placed] == [(b.ra, b.size) for b in blocks]
    assert placed == (MemoryBlock(0x8000000, 0x188000000, 2 * G), MemoryBlock(0x88000000, 0x108000000, 1 * G))


# -- crypto, buses, consoles -----------------------------------------------------------------
def test_maus_come_from_the_domains_own_cores_first():
    assert allocate_maus(T2, (0, 1, 2, 3), 2, strands=(24, 25, 8)) == (1, 3)
    assert allocate_maus(T2, (0, 2), 2, strands=(24,)) == (0, 2)
    with pytest.raises(LdmError) as e:
        allocate_maus(T2, (2,), 2, strands=())
    assert e.value.message == "Not enough free crypto units: 2 requested, 1 available"


def test_a_bus_belongs_to_exactly_one_domain():
    owners = binding.bus_owners([bound("primary", io=("pci@400", "pci@500"))])
    assert check_io(T2, ["pci@600"], owners, "ldg1") == ("pci@600",)
    with pytest.raises(LdmError) as e:
        check_io(T2, ["pci@500"], owners, "ldg1")
    assert e.value.message == "I/O bus pci@500 is bound to domain primary"
    with pytest.raises(LdmError):
        check_io(T2, ["pci@900"], owners, "ldg1")


def test_console_ports_first_free_or_as_constrained():
    ranges = [("primary-vcc0", 5000, 5002)]
    assert allocate_console_port(ranges, [5000]) == ("primary-vcc0", 5001)
    assert allocate_console_port(ranges, [5000], wanted=5002) == ("primary-vcc0", 5002)
    with pytest.raises(LdmError):
        allocate_console_port(ranges, [5000, 5001, 5002])
    with pytest.raises(LdmError) as e:
        allocate_console_port([], [])
    assert e.value.code == "no-console"
