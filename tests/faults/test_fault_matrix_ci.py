"""A representative slice of the fault matrix, run by CI (SPEC G-12, G-13, B-3, S-4).

The whole matrix (every fault at every phase boundary) is ``python -m tests.faults``; these
cases cover each kind of fault once, both error-state resolutions and a writing guest.
"""

from __future__ import annotations

import pytest

from tests.faults.matrix import run_case

pytestmark = pytest.mark.timeout(120)

CASES = [
    ("mid-stream", "kill-source", False),       # before GO: restored on restart (B-3)
    ("source:go_sent", "cut", False),           # GO lost with the link: e, target cleaned up -> restore
    ("target:go", "kill-target", False),        # GO arrived: target resumes on restart, e -> destroy
    ("mid-stream", "blackhole", False),         # keepalive notices the partition (S-4)
    ("target:transfer", "kill-ldm", True),      # KILL of ldm cancels (G-12); a guest that keeps writing
    ("source:prepare", "hup-ldm", False),       # hang-up: the migration goes on (G-12)
    ("target:ready", "cancel-target", False),   # refused on the target (G-12)
    ("source:transfer", "cancel-source", False),
    ("mid-stream", "cut-data", False),          # only the data stream breaks: rolled back, target told (B-5)
    ("target:transfer", "blackhole-data", False),  # the data stream goes silent: timeouts end it
]


@pytest.mark.parametrize("point, fault, writes", CASES, ids=[f"{p}-{f}" for p, f, _ in CASES])
async def test_fault_case_ends_in_a_state_the_operator_understands(tmp_path, point, fault, writes):
    result = await run_case(tmp_path, "warm", point, fault, writes=writes)
    assert result.ok, result.error
