"""The two hosts of the seed (t5440-sys-1 → t5440-sys-2) as fakes, and a console on them."""

from __future__ import annotations

import asyncio

from ldtui.app import LdtuiApp
from tests.tui.fakes import G, FakeHost, domain, primary

FROZEN = 1_700_000_000.0 + 3 * 3600 + 25 * 60 + 7   # 2023-11-14 01:38:27 UTC


def seed_hosts(src: str = "t5440-sys-1", dst: str = "t5440-sys-2") -> tuple[FakeHost, FakeHost]:
    a = FakeHost(src, [primary(),
                       domain("ldg1", vcpus=8, memory=G, util=23.0, uptime=120),
                       domain("ldg-src", vcpus=4, memory=2 * G, util=0.0, uptime=7620),
                       domain("ldg3", state="inactive", flags="------", cons="", vcpus=2, memory=G)])
    b = FakeHost(dst, [primary(), domain("ldg2", state="bound", flags="------", cons="5001", vcpus=1,
                                         memory=512 << 20)],
                 strands_free=120, memory_free=2 * G)
    return a, b


def console(*hosts: FakeHost, poll: float = 0.1, **kwargs) -> LdtuiApp:
    return LdtuiApp({h.hostname: h for h in hosts}, users={h.hostname: "root" for h in hosts},
                    clock=lambda: FROZEN, poll_interval=poll, request_timeout=2.0, **kwargs)


async def settle(pilot, until, timeout: float = 5.0) -> None:
    """Let the console poll until ``until()`` holds; fail the test after ``timeout`` seconds."""
    async def wait() -> None:
        while not until():
            await pilot.pause(0.02)
    await asyncio.wait_for(wait(), timeout)
    await pilot.pause()


def screen_text(app) -> str:
    """What the terminal shows now, as plain text, one line per row."""
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())
