"""SIGKILL at random moments of a stream of ``ldm`` writes loses no acknowledged command and
half-applies none (M-5). The long run is ``python -m tests.faults.crashstore``."""

from __future__ import annotations

import pytest

from tests.faults.crashstore import run

pytestmark = pytest.mark.timeout(170)


@pytest.mark.parametrize("seed", [7, 11])
async def test_every_restart_shows_the_configuration_of_a_prefix_of_the_commands(tmp_path, seed):
    stats = await run(tmp_path, commands=120, kills=10, seed=seed)
    assert stats["kills"] == 10
    assert stats["acknowledged"] + stats["in_flight_lost"] >= 110
    # Both kinds of command were exercised: ones that changed the configuration, ones refused.
    assert 0 < stats["refused"] < stats["acknowledged"]
