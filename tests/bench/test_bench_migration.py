"""Smoke tests of the migration benchmark's own code (``python -m bench.migration``).

The benchmark's figures are never asserted here; these check that what it builds and how
it reports are what its documentation says.
"""

import os
import zlib

import pytest

from bench import migration
from ldtui.core.hostconfig import load_lab
from ldtui.hv.machine import PAGE_SIZE
from ldtui.hv.memory import GuestMemory

pytestmark = pytest.mark.timeout(120)


def test_the_lab_file_is_a_valid_lab_of_two_hosts(tmp_path):
    f = tmp_path / "lab.toml"
    f.write_text(migration.lab_toml(256 << 20))
    configs = load_lab(f)
    assert [c.name for c in configs] == list(migration.HOSTS)
    assert [d.name for d in configs[0].domains] == [migration.DOMAIN] and configs[1].domains == ()


def test_the_memory_mix_is_a_quarter_holes_half_text_a_quarter_random(tmp_path):
    size = 128 << 20
    mem = GuestMemory(tmp_path / "memory", size)
    done = migration.fill(tmp_path / "memory", size)
    assert done["bytes_written"] == size * 3 // 4
    assert mem.used_bytes() == size * 3 // 4
    pages = dict(mem.nonzero_pages())
    assert len(pages) == size * 3 // 4 // PAGE_SIZE
    text, rand = pages[(16 << 20) // PAGE_SIZE], pages[(48 << 20) // PAGE_SIZE]
    assert len(zlib.compress(text)) < PAGE_SIZE * 3 // 4 and len(zlib.compress(rand)) > PAGE_SIZE
    # Deterministic: the same seed writes the same bytes.
    again = GuestMemory(tmp_path / "again", size)
    migration.fill(tmp_path / "again", size)
    assert again.digest() == mem.digest()
    mem.close()
    again.close()


def test_targets_and_table_report_what_was_measured():
    run = {"mode": "live", "dirty_rate": 20_000_000, "total_s": 2.0, "downtime_ms": 150.0,
           "expected_downtime_ms": 90.0, "wire_bytes": 10 << 20, "memory_sent_bytes": 12 << 20, "rounds": 3,
           "throttle": 0, "zero_pages": 5, "effective_rate": 300e6, "wire_rate": 250e6,
           "peak_rss_source": 100e6, "peak_rss_target": 90e6, "ratio_effective_to_openssh": 0.5,
           "ratio_wire_to_asyncssh": 0.4, "ratio_wire_to_raw_tcp": 0.2, "ratio_wire_to_pipeline": 0.6,
           "ceiling_effective_rate": 900e6, "ceiling_ratio_to_openssh": 1.5,
           "cpu_source_s": 0.02, "cpu_target_s": 0.03}
    result = {"machine": migration.machine(), "size": 1 << 30, "state_dir": "/x", "memory_mix": "mix",
              "runs": [dict(run, mode="warm", dirty_rate=0, downtime_ms=2000.0), run],
              "baselines": {"bytes": 1, "raw_tcp": 1.2e9, "asyncssh_channel": 6e8, "openssh_stream": 6e8,
                            "openssh_note": "n",
                            "asyncssh_pipeline": {"rate": 4e8, "bytes": 1 << 20, "cpu_source_s": 0.001,
                                                  "cpu_target_s": 0.0012}}}
    t = migration.targets(result)
    assert t["live downtime <= 100 ms at 20 MB/s"] == {"value": 150.0, "met": False}
    assert t["warm effective rate >= 2x OpenSSH"]["met"] is False
    text = migration.table(dict(result, targets=t))
    assert f"{os.cpu_count()} CPUs" in text and "NOT met" in text and "150.0" in text
    assert t["warm effective rate >= 2x OpenSSH"]["ceiling"] == 1.5
    assert "pipeline itself would reach 1.50x" in text and "ours at 0.60–0.60x" in text


def test_a_tiny_run_end_to_end(tmp_path):
    """Two real ldmd processes, a 32 MiB domain, one warm and one live migration."""
    out = tmp_path / "r.json"
    migration.main(["--size", "32M", "--dirty", "0", "--baseline-bytes", "4M", "--no-openssh",
                    "--state-dir", str(tmp_path), "--json", str(out)])
    import json
    result = json.loads(out.read_text())
    assert [r["mode"] for r in result["runs"]] == ["warm", "live"]
    for r in result["runs"]:
        assert r["wire_bytes"] > 0 and r["total_s"] > 0 and r["peak_rss_source"] > 0
        assert r["ratio_wire_to_asyncssh"] > 0 and r["ratio_wire_to_pipeline"] > 0
        assert r["ceiling_ratio_to_openssh"] is None  # no OpenSSH in this run
    assert result["baselines"]["asyncssh_pipeline"]["rate"] > 0
    assert result["baselines"]["openssh_stream"] is None
