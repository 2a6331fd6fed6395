"""The page-set checksum both ends keep of a domain's memory during a migration.

A full digest of the memory at the end (``GuestMemory.digest``, BLAKE2b) reads and hashes
every page once more on each side while the domain is suspended — about 0.5 GB/s here,
seconds of downtime for a few GiB. Instead each side keeps a ledger as the pages pass:
one 64-bit value per page, ``mix(page, xxh3_64(contents))`` (0 for a zero page), and the
sum of all values modulo 2**64. A page sent again in a later round replaces its value, so the
sum always describes the latest contents of every page, whatever the order of the rounds.

The source records what it read and sent; the target what it wrote. Equal sums and counts
prove the target holds, page for page, what the source last sent. That the source sent
every page the guest changed rests on the hypervisor's dirty log, which the tests check
against the full digest. Integrity on the wire is the SSH channel's (AES-GCM); the
page hash here catches lost, misplaced or stale pages, not an adversary.

The page hash is XXH3-64 (``xxhash``), not CRC32: measured here on 8 KiB pages, Python
loop included, XXH3 runs at ~25 GB/s and ``zlib.crc32`` at ~3.5 GB/s — CRC32 made the
ledger a tenth of each side's CPU per migrated byte (docs/PERFORMANCE.md). XXH3 also
holds the GIL for the ~0.3 µs it takes per page, where ``zlib.crc32`` released and
re-took it for every page (over 5 KiB), which made the reading and writing worker threads
fight the event loop for the interpreter hundreds of times per batch.
"""

from __future__ import annotations

from array import array

from xxhash import xxh3_64_intdigest

_MASK = (1 << 64) - 1
_K1 = 0x9E3779B97F4A7C15
_K2 = 0xC2B2AE3D27D4EB4F


def page_value(page: int, data) -> int:
    """The ledger value of ``data`` at ``page`` (never 0 for a non-zero page in practice)."""
    h = xxh3_64_intdigest(data)
    return (((page + 1) * _K1) ^ ((h + 1) * _K2)) & _MASK or 1


class PageLedger:
    """Values of up to ``pages`` pages; O(1) per page, 8 bytes of memory per page."""

    def __init__(self, pages: int) -> None:
        self._values = array("Q", bytes(8 * pages))
        self.total = 0
        self.count = 0

    def set(self, page: int, data) -> None:
        """Page ``page`` now holds ``data`` (non-zero contents)."""
        self._put(page, page_value(page, data))

    def set_many(self, numbers, data, page_size: int) -> None:
        """Pages ``numbers`` hold consecutive ``page_size`` slices of ``data`` (a buffer)."""
        # page_value and _put inlined, as comprehensions: this runs for every page moved.
        n = len(numbers)
        if not n:
            return
        view, values, xxh = memoryview(data), self._values, xxh3_64_intdigest
        hashes = [xxh(view[o:o + page_size]) for o in range(0, n * page_size, page_size)]
        new = [(((page + 1) * _K1) ^ ((h + 1) * _K2)) & _MASK or 1 for page, h in zip(numbers, hashes)]
        first = numbers[0]
        if numbers[-1] - first == n - 1:
            # A run of consecutive pages (nearly every batch): one slice each way.
            old = values[first:first + n]
            values[first:first + n] = array("Q", new)
        else:
            old = array("Q", [values[page] for page in numbers])
            for page, value in zip(numbers, new):
                values[page] = value
        self.total = (self.total + sum(new) - sum(old)) & _MASK
        self.count += old.count(0)

    def clear(self, page: int) -> None:
        """Page ``page`` reads as zeros now."""
        self._put(page, 0)

    def _put(self, page: int, value: int) -> None:
        old = self._values[page]
        if old == value:
            return
        self._values[page] = value
        self.total = (self.total - old + value) & _MASK
        self.count += (value != 0) - (old != 0)

    @property
    def checksum(self) -> str:
        return f"{self.total:016x}"
