"""Giving memory back after a migration (glibc hosts; elsewhere these do nothing).

A migration's threads (data streams, readers, writers) each take a malloc arena, and
memory freed in an arena stays with the process: without these, an ``ldmd`` kept more
after every migration, up to a plateau near the memory target (docs/PERFORMANCE.md, "Data
path"). Two arenas are enough for the work ``ldmd`` does, and ``malloc_trim`` returns what
a finished migration freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("ldtui.net.memtrim")

_M_ARENA_MAX = -8


def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - only glibc has it
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(count: int = 2) -> bool:
    """Call before the process starts threads. Returns whether it took effect."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, count))


def give_back() -> None:
    """Return freed heap memory to the system (a few milliseconds)."""
    if _LIBC is not None:
        try:
            _LIBC.malloc_trim(0)
        except OSError as e:  # pragma: no cover - a libc without it was refused above
            log.debug("malloc_trim failed: %s", e)
