"""Waiting for a connection's next queued message, or for the connection to close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable


async def next_or_closed(queue: asyncio.Queue, closed: asyncio.Event, *,
                         timeout: float | Callable[[], float],
                         also: Callable[[], Iterable[asyncio.Future]] | None = None):
    """The next item of ``queue``; ``None`` once ``closed`` is set and the queue is empty.

    ``timeout`` is the seconds to wait, or a function giving the seconds left — asked again
    when they run out, so a deadline that moved meanwhile (the peer was heard on another
    path) is kept waiting for. Raises ``TimeoutError`` when it has passed.

    ``also`` is called only when there is something to wait for, and gives more futures to
    wait on (left running here): the first of them done is returned instead of an item.
    What is queued is always taken first.
    """
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        pass
    if closed.is_set():
        return None
    more = list(also()) if also is not None else []
    get = asyncio.ensure_future(queue.get())
    lost = asyncio.ensure_future(closed.wait())
    try:
        while True:
            left = timeout() if callable(timeout) else timeout
            done, _ = await asyncio.wait({get, lost, *more}, timeout=max(left, 0.0),
                                         return_when=asyncio.FIRST_COMPLETED)
            if done:
                break
            if not callable(timeout) or timeout() <= 0:
                raise TimeoutError
    finally:
        lost.cancel()
        if not get.done():
            get.cancel()
    if get in done:
        return get.result()
    for future in more:
        if future in done:
            return future
    try:
        return queue.get_nowait()  # it closed: what arrived just before still counts
    except asyncio.QueueEmpty:
        return None
