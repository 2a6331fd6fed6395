"""Guest memory: real bytes, sparse, page-granular, dirty-logged, digested (SPEC H-3)."""

import pytest

from ldtui.hv.memory import GuestMemory, digest_of_pages
from ldtui.hv.machine import PAGE_SIZE

G = 1 << 30


def page(fill: int) -> bytes:
    return bytes([fill]) * PAGE_SIZE


def test_a_large_memory_costs_nothing_until_written(tmp_path):
    mem = GuestMemory(tmp_path / "memory", 64 * G)
    assert mem.pages == 64 * G // PAGE_SIZE
    assert mem.used_bytes() == 0
    assert mem.read_page(123456) == bytes(PAGE_SIZE)
    mem.write_page(1000, page(7))
    assert mem.used_bytes() < 1 << 20
    assert (tmp_path / "memory").stat().st_blocks * 512 < 1 << 20
    assert list(mem.nonzero_pages()) == [(1000, page(7))]
    mem.close()


def test_the_dirty_log_drains_in_page_order(tmp_path):
    mem = GuestMemory(tmp_path / "memory", 1 << 20)
    mem.write_page(9, page(1))
    mem.write(3 * PAGE_SIZE - 2, b"abcd")            # a store across two pages marks both
    mem.write_page(9, page(2))
    assert mem.dirty_count == 3
    assert mem.drain_dirty() == [2, 3, 9]
    assert mem.drain_dirty() == []
    mem.write_page(5, page(3), track=False)
    assert mem.dirty_count == 0
    mem.close()


def test_the_digest_covers_contents_not_layout(tmp_path):
    a = GuestMemory(tmp_path / "a", 1 << 20)
    b = GuestMemory(tmp_path / "b", 1 << 20)
    a.write_page(4, page(1))
    a.write_page(2, page(9))
    b.write_page(2, page(9))
    b.write_page(4, page(1))
    b.write_page(6, bytes(PAGE_SIZE))               # written zeros are still zeros
    assert a.digest() == b.digest() == digest_of_pages([(4, page(1)), (2, page(9)), (7, bytes(PAGE_SIZE))])
    b.write_page(4, page(2))
    assert a.digest() != b.digest()
    a.wipe()
    assert a.digest() == GuestMemory(tmp_path / "c", 1 << 20).digest() and a.used_bytes() == 0
    a.close()
    b.close()


def test_out_of_range_and_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError):
        GuestMemory(tmp_path / "x", PAGE_SIZE + 1)
    mem = GuestMemory(tmp_path / "m", 4 * PAGE_SIZE)
    with pytest.raises(IndexError):
        mem.read_page(4)
    with pytest.raises(ValueError):
        mem.write_page(0, b"short")
    with pytest.raises(IndexError):
        mem.write(4 * PAGE_SIZE - 1, b"xy")
    mem.close()


def test_a_removed_or_truncated_memory_file_is_told_not_read_as_zeros(tmp_path):
    import os

    import pytest

    from ldtui.hv.machine import PAGE_SIZE
    from ldtui.hv.memory import GuestMemory, MemoryFileDamaged

    path = tmp_path / "memory"
    mem = GuestMemory(path, 64 * PAGE_SIZE)
    mem.write_pages(0, b"\x01" * (8 * PAGE_SIZE))
    mem.check_intact()
    os.truncate(path, 4 * PAGE_SIZE)
    with pytest.raises(MemoryFileDamaged, match=f"its memory file {path} was truncated to {4 * PAGE_SIZE} of "):
        mem.check_intact()
    with pytest.raises(MemoryFileDamaged):
        mem.read_into(0, 8, bytearray(8 * PAGE_SIZE))
    os.truncate(path, 64 * PAGE_SIZE)
    path.unlink()
    with pytest.raises(MemoryFileDamaged, match=f"its memory file {path} was removed"):
        mem.check_intact()
    mem.close()
