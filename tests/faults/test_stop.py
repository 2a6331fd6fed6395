"""Stopping a real ``ldmd`` with SIGTERM right after it migrated a busy guest away
(SPEC M-5, B-3): it is gone within a second, and what it leaves is what a restart expects."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.faults.harness import DOMAIN, SOURCE, TARGET, FaultLab, LdmClient

pytestmark = pytest.mark.timeout(120)

KEPT = ("state", "flags", "cons", "ncpu", "mem")


async def test_sigterm_after_a_live_migration_exits_within_a_second_and_loses_nothing(tmp_path):
    """The source copy's memory, written a moment ago, is still on its way to the disk when
    the migration ends; giving it back must not hold up the stop (nor must closing the
    memory of the guests that still run here)."""
    lab = FaultLab(tmp_path, page_delay=0.0, batch_pages=512)
    try:
        await lab.start()
        code, _, err = await lab.ldm(SOURCE, f"set-guest write-rate=100M {DOMAIN}")
        assert code == 0, err
        await asyncio.sleep(2.0)                  # some 200M of guest memory, freshly written
        client = LdmClient(lab, live=True)
        await client.start()
        assert await client.wait() == 0, client.stderr.decode()
        before = {name: {k: row[k] for k in KEPT} for name, row in (await lab.rows(SOURCE)).items()}
        assert DOMAIN not in before

        src = lab[SOURCE]
        started = time.monotonic()
        src.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(src.proc.wait(), 15)
        took = time.monotonic() - started
        assert src.proc.returncode == 0
        assert took < 1.0, f"ldmd took {took:.2f}s to stop"

        # The store as the stop left it: no migration in the journal, the domain gone here.
        assert src.journal() == []
        assert src.stored_domain(DOMAIN) is None
        await lab.restart_dead()
        after = {name: {k: row[k] for k in KEPT} for name, row in (await lab.rows(SOURCE)).items()}
        assert after == before
        assert (await lab.rows(TARGET))[DOMAIN]["state"] == "active"
        # Whatever of the source copy's files the stop left behind, the restart gives back.
        hv = src.dir / "hv"
        deadline = time.monotonic() + 30
        while any(p.name.startswith(".discarded-") for p in hv.iterdir()):
            assert time.monotonic() < deadline, sorted(p.name for p in hv.iterdir())
            await asyncio.sleep(0.05)
    finally:
        await lab.close()
