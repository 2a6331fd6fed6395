"""The embedded lab for console tests against real ldmd's, and what those tests share."""

from __future__ import annotations

import asyncio

import pytest

from ldtui.net.hostlink import HostLink
from ldtui.net.lab import EmbeddedLab

SRC, DST = "t5440-sys-1", "t5440-sys-2"


@pytest.fixture
def lab(tmp_path):
    lab = EmbeddedLab(state_dir=tmp_path / "lab", keepalive_interval=1.0)
    lab.start()
    yield lab
    lab.stop()


def link_to(lab: EmbeddedLab, name: str) -> HostLink:
    ep = next(e for e in lab.endpoints() if e.hostname == name)
    return HostLink(ep.host, ep.port, ep.user, password=ep.password, known_hosts=ep.known_hosts_path, label=name)


def row(snap, name):
    return next((d for d in snap.domains if d.name == name), None)


async def until(condition, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Wait until the coroutine function ``condition`` answers true; fail after ``timeout``."""
    async def wait():
        while not await condition():
            await asyncio.sleep(interval)
    await asyncio.wait_for(wait(), timeout)
