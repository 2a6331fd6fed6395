"""Freezing the console's start-up heap, so that later full garbage collections skip it."""

from __future__ import annotations

import asyncio
import gc
from typing import Callable


class HeapFreezer:
    """Hands what survives the first full collection after start-up to the collector's
    permanent generation (``gc.freeze``), once; ``release`` undoes it.

    The console churns objects (every snapshot's rows, the cells that change), so Python
    runs a full collection every few refreshes, and a full collection walks every object
    alive, during which nothing else runs, the embedded lab's thread included. With the
    start-up state frozen, later full collections walk only what changed since
    (docs/PERFORMANCE.md, "The console", has the figures). Freezing right after a
    collection the collector ran anyway adds no pause of its own and freezes next to no
    garbage. Frozen objects are still freed when nothing refers to them any more.
    """

    def __init__(self) -> None:
        self.armed = False
        self._after_collection: Callable[[str, dict], None] | None = None

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Freeze on ``loop`` right after the next full collection, wherever it runs."""
        if self.armed:
            return
        self.armed = True
        scheduled = False

        def freeze() -> None:
            if after_collection in gc.callbacks:
                gc.callbacks.remove(after_collection)
                gc.freeze()

        def after_collection(phase: str, info: dict) -> None:
            # Called by the collector in whichever thread set it off (the lab's too).
            nonlocal scheduled
            if phase == "stop" and info.get("generation") == 2 and not scheduled:
                scheduled = True
                try:
                    loop.call_soon_threadsafe(freeze)
                except RuntimeError:  # the console's loop is already closed
                    pass

        self._after_collection = after_collection
        gc.callbacks.append(after_collection)

    def release(self) -> None:
        """Stop waiting for a collection and unfreeze what was frozen."""
        if not self.armed:
            return
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
        gc.unfreeze()
