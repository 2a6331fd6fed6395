"""What the fault runs found in the migration engine, kept as tests once fixed."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.harness import DOMAIN, SOURCE, FaultLab, LdmClient

pytestmark = pytest.mark.timeout(120)


async def test_the_domain_is_locked_from_the_moment_its_migration_is_accepted(tmp_path):
    """SPEC M-7: during phase 1 (the source has journaled 'check' and waits for the target's
    answer) the domain is already held: stopping it is refused."""
    lab = FaultLab(tmp_path, hold=("target", "prepare", 3.0))
    try:
        await lab.start()
        client = LdmClient(lab)
        await client.start()
        await lab.wait_phase(SOURCE, "source", "check")
        code, out, err = await lab.ldm(SOURCE, f"stop-domain {DOMAIN}")
        await asyncio.wait_for(client.wait(), 60)
        assert code != 0 and "being migrated" in err, (code, err)
    finally:
        await lab.close()
