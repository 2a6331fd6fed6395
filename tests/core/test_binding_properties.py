"""Properties of memory allocation (SPEC M-2, G-7): whatever the free layout, what is bound
lies inside free memory, never overlaps, and keeps the real address space contiguous."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ldtui.core.binding import RA_BASE, allocate_memory, merge_ranges, place_blocks, subtract_range
from ldtui.core.errors import LdmError
from ldtui.hv.hypervisor import MemoryBlock
from ldtui.hv.machine import MemoryRange

PAGE = 8192

layouts = st.lists(st.tuples(st.integers(0, 4096), st.integers(1, 512)), min_size=1, max_size=6).map(
    lambda xs: merge_ranges(MemoryRange(a * PAGE * 64, n * PAGE) for a, n in xs))


def inside_free(free, blocks):
    left = list(free)
    for b in blocks:
        if not any(r.pa <= b.pa and b.pa + b.size <= r.end for r in left):
            return False
        left = subtract_range(left, b.pa, b.size)     # also proves no two blocks overlap
    return True


@settings(max_examples=150, deadline=None)
@given(free=layouts, pages=st.integers(1, 2048))
def test_allocated_memory_is_free_disjoint_and_contiguous_in_ra(free, pages):
    size = pages * PAGE
    total = sum(r.size for r in free)
    try:
        blocks = allocate_memory(free, size)
    except LdmError as e:
        assert e.code == "no-memory" and total < size
        return
    assert sum(b.size for b in blocks) == size
    assert inside_free(free, blocks)
    ra = RA_BASE
    for b in blocks:
        assert b.ra == ra
        ra += b.size
    if any(r.size >= size for r in free):
        assert len(blocks) == 1


@settings(max_examples=150, deadline=None)
@given(free=layouts, sizes=st.lists(st.integers(1, 256), min_size=1, max_size=4))
def test_placed_blocks_keep_layout_or_fail_with_the_layout_line(free, sizes):
    ra = RA_BASE
    wanted = []
    for n in sizes:
        wanted.append((ra, n * PAGE))
        ra += n * PAGE
    blocks = [MemoryBlock(r, 0x1000000000 + r, s) for r, s in wanted]
    try:
        placed = place_blocks(free, blocks)
    except LdmError as e:
        assert e.code == "memory-layout"
        assert e.message.startswith("Unable to bind ") and " memory region at real address 0x" in e.message
        return
    assert [(b.ra, b.size) for b in placed] == wanted
    assert inside_free(free, placed)
