"""A peer frozen with SIGSTOP for a minute in the middle of the memory stream, then SIGCONT:
it is a dead peer to the other side, the migration rolls back, nothing stays locked (S-4, G-12)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.faults.harness import DOMAIN, SOURCE, TARGET, FaultLab, LdmClient
from tests.faults.matrix import FREEZE_SECONDS, run_case

pytestmark = pytest.mark.timeout(FREEZE_SECONDS + 150)


async def test_a_frozen_source_or_target_mid_stream_is_a_dead_peer(tmp_path):
    # Both at once: each case runs its own pair of ldmd, and the minute of waiting is shared.
    results = await asyncio.gather(*(run_case(tmp_path / fault, "warm", "mid-stream", fault)
                                     for fault in ("stop-source", "stop-target")))
    for r in results:
        assert r.ok, f"{r.fault}: {r.error}"
        assert r.outcome == "stayed"


async def test_after_the_thaw_nothing_is_left_locked(tmp_path):
    lab = FaultLab(tmp_path, page_delay=0.05)
    try:
        await lab.start()
        await lab.ldm(SOURCE, f"set-guest write-rate=8M {DOMAIN}")
        await asyncio.sleep(1.0)
        client = LdmClient(lab)
        await client.start()
        await lab.wait_progress(30)
        lab[TARGET].proc.send_signal(signal.SIGSTOP)
        try:
            assert await client.wait(timeout=FREEZE_SECONDS) != 0
        finally:
            lab[TARGET].proc.send_signal(signal.SIGCONT)
        await lab.settled()
        # The same domain moves at the next try: no lock, reservation or half-built copy left.
        again = LdmClient(lab)
        await again.start()
        assert await again.wait() == 0, again.stderr.decode()
        rows = {h: await lab.rows(h) for h in lab.hosts}
        assert DOMAIN not in rows[SOURCE] and rows[TARGET][DOMAIN]["state"] == "active"
    finally:
        await lab.close()
