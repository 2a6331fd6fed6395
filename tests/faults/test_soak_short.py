"""A short soak in CI: twenty migrations back and forth of a busy domain under polling, no
resource growing past its bound (G-11, M-7, S-4). The long run is ``python -m tests.faults.soak``."""

from __future__ import annotations

import pytest

from tests.faults.soak import run_soak, verdict

pytestmark = pytest.mark.timeout(170)


async def test_twenty_cycles_warm_and_live_lose_nothing_and_leak_nothing(tmp_path):
    stats = await run_soak(tmp_path, cycles=20, pollers=8, memory="128M")
    assert verdict(stats) == []
    assert stats["cycles"] == 20
    assert stats["polls"]["ldm"] > 0 and stats["polls"]["rpc"] > 0
    assert all(stats["samples"][point] for point in ("start", "middle", "end"))
