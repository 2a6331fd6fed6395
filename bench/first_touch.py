"""Put the machine's memory in the state a real host's is in before measuring.

On a virtual machine the first write to a page of the guest's RAM costs the hypervisor
below it work (it backs the page for the first time); a page written once before costs
nothing extra, freed since or not, as long as the guest has not handed it back (below). Measured on the development VM: writing
never-touched memory in ``/dev/shm`` ran several times slower than writing memory touched
once before. A host that has been up for a while has touched its RAM long ago, so a
benchmark started on a freshly booted VM would charge the target side (which writes a
fresh memory file) for something no real host pays, once, on whichever run comes first.

The touched state does not last everywhere: a guest with free page reporting (the
``virtio_balloon`` driver) hands memory that stays free back to its hypervisor, and the
next write to it pays again. ``reported_bytes`` reads how much it has handed back so far
(where this kernel tells: ``/sys/module/page_reporting/parameters/reported_kib``), so the
benchmark can say how much was handed back while it measured.

``touch`` writes a scratch file of the given size in the state directory's filesystem,
deletes it, and reports the rate that write ran at — the *first-touch* rate when the
memory had not been touched before, the ordinary rate otherwise — and the rate of a
second, short write into memory just freed, for comparison. Nothing the benchmark measures
afterwards changes; only the order of first touches does.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

GiB = 1 << 30
BLOCK = 8 << 20
RESERVE = 1 * GiB
"""Memory and filesystem space left alone while touching."""
REPORTED = Path("/sys/module/page_reporting/parameters/reported_kib")


def reported_bytes() -> int | None:
    """Memory this guest has handed back to its hypervisor since boot, or None where the
    kernel does not say."""
    try:
        return int(REPORTED.read_text().strip()) * 1024
    except (OSError, ValueError):
        return None


def mem_available() -> int:
    with contextlib.suppress(OSError, StopIteration, ValueError):
        line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemAvailable:"))
        return int(line.split()[1]) * 1024
    return 0


def fs_free(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def touch_bytes(domain_size: int, available: int, fs_space: int) -> int:
    """How much to touch: three domains (the source's memory, the target's, the
    baselines' files) and 2 GiB for the rest, bounded by free memory and by the
    filesystem's free space, keeping ``RESERVE`` of each; whole blocks."""
    want = 3 * domain_size + 2 * GiB
    room = min(available, fs_space) - RESERVE
    n = max(0, min(want, room))
    return n - n % BLOCK


def _write(path: Path, nbytes: int, block: bytes) -> float:
    """Write ``nbytes`` of ``block`` into a fresh ``path``; seconds taken (no fsync: the
    page cache or tmpfs is what is being touched)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    start = time.perf_counter()
    try:
        for _ in range(nbytes // len(block)):
            os.write(fd, block)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def touch(directory: Path, nbytes: int) -> dict:
    """Write and delete ``nbytes`` in ``directory`` once; returns what it saw."""
    if nbytes <= 0:
        return {"bytes": 0, "seconds": 0.0, "rate": None, "rewrite_rate": None}
    block = bytes(range(256)) * (BLOCK // 256)  # not zeros: nothing below may skip them
    path = directory / "first-touch.scratch"
    try:
        seconds = _write(path, nbytes, block)
    finally:
        path.unlink(missing_ok=True)
    again = min(nbytes, 512 << 20)
    try:
        rewrite = _write(path, again, block)
    finally:
        path.unlink(missing_ok=True)
    return {"bytes": nbytes, "seconds": seconds, "rate": nbytes / seconds if seconds else None,
            "rewrite_rate": again / rewrite if rewrite else None}


def summary(result: dict) -> str:
    """One line for the report."""
    if not result.get("bytes"):
        return "First touch: skipped (--touch 0): the first run's target may pay for memory never touched before"
    return (f"First touch: wrote and deleted {result['bytes'] / GiB:.1f} GiB in the state directory's filesystem "
            f"at {result['rate'] / 1e9:.2f} GB/s before measuring (a second write into that memory: "
            f"{result['rewrite_rate'] / 1e9:.2f} GB/s) — on a VM a page's first write costs the hypervisor "
            f"work that a host up for a while has paid long ago")
