"""A small load run in CI: two ldmd processes, a migration each way, four pollers (SPEC M-7, G-11).

The full run (4 hosts, 8 migrations, 20 pollers, latency report) is
``python -m tests.faults.load``; this one checks the same promises on a smaller scale.
"""

from __future__ import annotations

import pytest

from tests.faults.load import run_load, verdict

pytestmark = pytest.mark.timeout(150)


async def test_concurrent_migrations_with_polling_clients_lose_nothing(tmp_path):
    stats = await run_load(tmp_path, hosts=2, migrations=2, pollers=4)
    assert verdict(stats) == []
    assert sorted(stats["moved"]) == ["h1-d1", "h2-d1"]
    assert stats["polls"] > 0
    # Every conflicting operation was refused, each with a reason an operator can read.
    assert len(stats["refusals"]) == 2 * 6
    assert all(r and "\n" not in r for r in stats["refusals"])
