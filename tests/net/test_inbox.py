"""The wait for a connection's next message, or for its end: what is queued comes first."""

import asyncio

import pytest

from ldtui.net.inbox import next_or_closed


async def test_a_queued_message_comes_first_even_after_the_close():
    q, closed = asyncio.Queue(), asyncio.Event()
    q.put_nowait(b"frame")
    closed.set()
    assert await next_or_closed(q, closed, timeout=1.0) == b"frame"
    assert await next_or_closed(q, closed, timeout=1.0) is None


async def test_a_message_arriving_while_it_waits_and_a_close_while_it_waits():
    q, closed = asyncio.Queue(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, q.put_nowait, b"late")
    assert await next_or_closed(q, closed, timeout=5.0) == b"late"
    asyncio.get_running_loop().call_later(0.01, closed.set)
    assert await next_or_closed(q, closed, timeout=5.0) is None


async def test_nothing_within_the_timeout_and_a_deadline_that_moves():
    q, closed = asyncio.Queue(), asyncio.Event()
    with pytest.raises(TimeoutError):
        await next_or_closed(q, closed, timeout=0.01)
    loop = asyncio.get_running_loop()
    deadline = [loop.time() + 0.02]
    loop.call_later(0.015, lambda: deadline.__setitem__(0, loop.time() + 0.05))   # heard elsewhere
    loop.call_later(0.04, q.put_nowait, b"kept")
    assert await next_or_closed(q, closed, timeout=lambda: deadline[0] - loop.time()) == b"kept"


async def test_another_future_done_first_is_returned_and_left_alone():
    q, closed = asyncio.Queue(), asyncio.Event()
    news = asyncio.get_running_loop().create_future()
    news.set_result(None)
    assert await asyncio.wait_for(next_or_closed(q, closed, timeout=5.0, also=lambda: [news]), 5.0) is news
