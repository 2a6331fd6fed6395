"""Guest memory as real bytes in a sparse, page-granular file.

A page never written costs no disk and reads as zeros. Every write marks its pages in the
dirty log, which a migration drains round by round. The digest covers only non-zero pages,
keyed by page number, so two memories with the same contents have the same digest however
their files are laid out on disk.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Iterator

from ldtui.hv.machine import PAGE_SIZE

ZERO_PAGE = bytes(PAGE_SIZE)
_EXTENT_CHUNK = 1 << 20
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


@functools.cache
def _fallocate():
    try:
        import ctypes
        fn = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    return fn


def _punch_hole(fd: int, size: int) -> bool:
    """Give back the blocks of ``fd``'s first ``size`` bytes, keeping its size; False where
    the system or the file system cannot."""
    fallocate = _fallocate()
    return fallocate is not None and fallocate(fd, _FALLOC_FL_KEEP_SIZE | _FALLOC_FL_PUNCH_HOLE, 0, size) == 0


class MemoryFileDamaged(OSError):
    """The file behind a domain's memory was removed or cut short under it; ``str()`` says which."""


class GuestMemory:
    """The memory of one domain, addressed by page number (page 0 is the lowest RA)."""

    def __init__(self, path: str | os.PathLike[str], size: int) -> None:
        if size <= 0 or size % PAGE_SIZE:
            raise ValueError(f"memory size {size} is not a positive multiple of {PAGE_SIZE}")
        self.path = os.fspath(path)
        self.size = size
        self.pages = size // PAGE_SIZE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size != size:
            os.ftruncate(self._fd, size)
        self._dirty = bytearray(self.pages)
        self._dirty_count = 0

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def flush(self) -> None:
        os.fsync(self._fd)

    def wipe(self) -> None:
        """Zero every page (a fresh boot): the file becomes one hole again.

        By punching the hole rather than truncating to nothing where the system can: ext4
        marks a file truncated to size 0 for a flush of all its pages when it is closed,
        which would make every stop of the manager write out what the guests dirtied.
        """
        if not _punch_hole(self._fd, self.size):
            os.ftruncate(self._fd, 0)
            os.ftruncate(self._fd, self.size)
        self.clear_dirty()

    def check_intact(self) -> None:
        """Raise :class:`MemoryFileDamaged` if the file was removed or truncated since it was
        opened: reads past a cut read as zeros, which must never pass for the guest's memory."""
        st = os.fstat(self._fd)
        if st.st_nlink == 0:
            raise MemoryFileDamaged(f"its memory file {self.path} was removed")
        if st.st_size < self.size:
            raise MemoryFileDamaged(f"its memory file {self.path} was truncated to {st.st_size} of {self.size} bytes")

    # -- pages -----------------------------------------------------------------------------
    def _check(self, page: int, count: int = 1) -> None:
        if page < 0 or count < 0 or page + count > self.pages:
            raise IndexError(f"pages {page}..{page + count} outside 0..{self.pages}")

    def read_page(self, page: int) -> bytes:
        self._check(page)
        return os.pread(self._fd, PAGE_SIZE, page * PAGE_SIZE)

    def read_pages(self, first: int, count: int) -> bytes:
        """``count`` consecutive pages in one read."""
        self._check(first, count)
        data = os.pread(self._fd, count * PAGE_SIZE, first * PAGE_SIZE)
        if len(data) < count * PAGE_SIZE:  # pragma: no cover - the file is always full size
            data += bytes(count * PAGE_SIZE - len(data))
        return data

    def read_into(self, first: int, count: int, buffer) -> None:
        """``count`` consecutive pages into ``buffer`` (a writable buffer of that size)."""
        self._check(first, count)
        got = os.preadv(self._fd, [buffer], first * PAGE_SIZE)
        if got < count * PAGE_SIZE:
            self.check_intact()
            memoryview(buffer)[got:count * PAGE_SIZE] = bytes(count * PAGE_SIZE - got)

    def write_page(self, page: int, data: bytes, *, track: bool = True) -> None:
        if len(data) != PAGE_SIZE:
            raise ValueError(f"a page is {PAGE_SIZE} bytes, got {len(data)}")
        self._check(page)
        os.pwrite(self._fd, data, page * PAGE_SIZE)
        if track:
            self._mark(page)

    def write_pages(self, first: int, data: bytes, *, track: bool = True) -> None:
        """Consecutive pages in one write (``len(data)`` a multiple of the page size)."""
        if len(data) % PAGE_SIZE:
            raise ValueError("data is not whole pages")
        count = len(data) // PAGE_SIZE
        self._check(first, count)
        os.pwrite(self._fd, data, first * PAGE_SIZE)
        if track:
            for page in range(first, first + count):
                self._mark(page)

    def write(self, offset: int, data: bytes) -> None:
        """A guest store of any length at byte ``offset``; marks every page it touches."""
        if offset < 0 or offset + len(data) > self.size:
            raise IndexError(f"write at {offset:#x}+{len(data)} outside memory of {self.size}")
        os.pwrite(self._fd, data, offset)
        for page in range(offset // PAGE_SIZE, (offset + max(len(data), 1) - 1) // PAGE_SIZE + 1):
            self._mark(page)

    # -- dirty log -------------------------------------------------------------------------
    def _mark(self, page: int) -> None:
        if not self._dirty[page]:
            self._dirty[page] = 1
            self._dirty_count += 1

    @property
    def dirty_count(self) -> int:
        return self._dirty_count

    def mark_all_dirty(self) -> None:
        self._dirty[:] = b"\x01" * self.pages
        self._dirty_count = self.pages

    def clear_dirty(self) -> None:
        self._dirty[:] = bytes(self.pages)
        self._dirty_count = 0

    def drain_dirty(self) -> list[int]:
        """The pages written since the last drain, in order; the log starts empty again."""
        if not self._dirty_count:
            return []
        # find() skips clean stretches in C, so a mostly clean log drains in far less time than a
        # Python loop over every page would take.
        out, log, i = [], self._dirty, self._dirty.find(1)
        while i >= 0:
            out.append(i)
            i = log.find(1, i + 1)
        self.clear_dirty()
        return out

    # -- contents --------------------------------------------------------------------------
    def data_extents(self) -> Iterator[tuple[int, int]]:
        """(first page, count) runs that may hold data; holes are skipped without reading."""
        end = self.size
        pos = 0
        while pos < end:
            try:
                start = os.lseek(self._fd, pos, os.SEEK_DATA)
            except OSError:
                return
            stop = os.lseek(self._fd, start, os.SEEK_HOLE)
            first = start // PAGE_SIZE
            last = min((stop + PAGE_SIZE - 1) // PAGE_SIZE, self.pages)
            if last > first:
                yield first, last - first
            pos = max(stop, last * PAGE_SIZE)

    def nonzero_pages(self, *, chunk_pages: int = _EXTENT_CHUNK // PAGE_SIZE) -> Iterator[tuple[int, bytes]]:
        """Every page that holds a non-zero byte, with its contents, in page order."""
        for first, count in self.data_extents():
            done = 0
            while done < count:
                n = min(chunk_pages, count - done)
                block = self.read_pages(first + done, n)
                for k in range(n):
                    page = block[k * PAGE_SIZE:(k + 1) * PAGE_SIZE]
                    if page != ZERO_PAGE:
                        yield first + done + k, page
                done += n

    def digest(self) -> str:
        """BLAKE2b over (page number, contents) of every non-zero page."""
        h = hashlib.blake2b(digest_size=20)
        for page, data in self.nonzero_pages():
            h.update(page.to_bytes(8, "big"))
            h.update(data)
        return h.hexdigest()

    def used_bytes(self) -> int:
        return sum(count for _, count in self.data_extents()) * PAGE_SIZE


def digest_of_pages(pages: Iterable[tuple[int, bytes]]) -> str:
    """The digest :meth:`GuestMemory.digest` would give for these (page, data) pairs."""
    h = hashlib.blake2b(digest_size=20)
    for page, data in sorted(pages):
        if data != ZERO_PAGE:
            h.update(page.to_bytes(8, "big"))
            h.update(data)
    return h.hexdigest()
