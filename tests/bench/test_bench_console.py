"""The console latency benchmark's pure parts: snapshot gaps and its targets."""

import pytest

from bench import console_latency


def test_the_longest_gap_is_the_longest_silence_while_the_migration_ran():
    # Snapshots at 0, 1.1, 2.2, 5.0; the migration ran from 0.5 to 4.0: from 2.2 to its end
    # nothing arrived (1.8 s); the snapshot before it started tells nothing of it.
    gap = console_latency.longest_gap([2.2, 0.0, 1.1, 5.0, 9.0], 0.5, 4.0)
    assert gap["n"] == 2 and gap["max_s"] == pytest.approx(1.8)
    assert gap["mean_s"] == pytest.approx(3.5 / 3)
    assert console_latency.longest_gap([], 0.0, 1.0) == {"n": 0, "max_s": 1.0, "mean_s": None}


def test_console_targets_explain_a_slow_stream_of_snapshots():
    result = {"during_migration": {"n": 100, "p99_ms": 30.0},
              "snapshots": {"poll_interval_s": 1.0, "gap": {"n": 5, "max_s": 1.2, "mean_s": 1.05},
                            "request_ms": {"n": 5, "p50_ms": 40.0, "max_ms": 200.0}}}
    t = console_latency.targets(result)
    assert t["key-press p99 <= 50 ms during the migration"]["met"] is True
    gap = t["longest gap between two snapshots of the source during the migration <= 1 s"]
    assert gap["met"] is False and gap["value"] == pytest.approx(1200.0)
    assert "every 0.5 s while a migration runs" in gap["instead"] and "max 200 ms" in gap["instead"]
