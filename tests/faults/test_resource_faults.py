"""Resource faults under a running migration: the target's disk fills up, the source's guest
memory file is cut short or removed (G-5, B-3, H-3, M-5).

Each ends with one line naming the host and the cause, the domain where an operator can see
it on the source, no half-built copy on the target, and both managers serving on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess

import pytest

from tests.faults.harness import DOMAIN, SOURCE, TARGET, FaultLab, LdmClient

pytestmark = pytest.mark.timeout(150)


def _mount_tmpfs(where, size: str) -> str:
    """Mount a small tmpfs there; the reason it cannot be done, or ''."""
    if os.geteuid() != 0:
        return "mounting a small file system for the target needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    return "" if done.returncode == 0 else f"tmpfs could not be mounted: {done.stderr.strip()}"


async def _no_copy_on_target_and_both_serving(lab: FaultLab) -> dict:
    await lab.settled(timeout=30)
    rows = {h: await lab.rows(h) for h in lab.hosts}
    assert DOMAIN not in rows[TARGET], f"a half-built {DOMAIN} stayed on {TARGET}: {rows[TARGET].get(DOMAIN)}"
    assert rows[SOURCE][DOMAIN]["flags"][5] == "-", rows[SOURCE][DOMAIN]
    return rows


async def test_a_target_whose_disk_fills_up_rolls_the_migration_back(tmp_path):
    mount = tmp_path / TARGET
    reason = _mount_tmpfs(mount, "16m")
    if reason:
        pytest.skip(reason)
    lab = FaultLab(tmp_path, page_delay=0.0, batch_pages=256)
    try:
        await lab.start()
        # More written memory than the target's file system can take.
        await lab.ldm(SOURCE, f"set-guest write-rate=64M {DOMAIN}")
        await asyncio.sleep(1.0)
        await lab.ldm(SOURCE, f"set-guest write-rate=0 {DOMAIN}")
        client = LdmClient(lab)
        await client.start()
        assert await client.wait() != 0
        lines = client.stderr.decode().replace("Target Password:", "").strip().splitlines()
        assert lines == [f"{TARGET}: No space left on device (the state directory is full) while writing the "
                         f"memory of LDom {DOMAIN}", f"Domain Migration of LDom {DOMAIN} failed"]
        rows = await _no_copy_on_target_and_both_serving(lab)
        assert rows[SOURCE][DOMAIN]["state"] == "active"
        assert (await lab.guest(SOURCE))["run-state"] == "running"
        # The target serves on, and its half-received memory was given back.
        code, _, err = await lab.ldm(TARGET, "list-devices -a memory")
        assert code == 0, err
        assert shutil.disk_usage(mount).free > 8 << 20
    finally:
        await lab.close()
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("damage", ["truncated", "removed"])
async def test_a_memory_file_damaged_under_the_transfer_fails_it_and_sends_no_zeros(tmp_path, damage):
    lab = FaultLab(tmp_path, page_delay=0.05, batch_pages=16)
    try:
        await lab.start()
        await lab.ldm(SOURCE, f"set-guest write-rate=8M {DOMAIN}")
        await asyncio.sleep(1.0)
        await lab.ldm(SOURCE, f"set-guest write-rate=0 {DOMAIN}")
        uuid = lab[SOURCE].stored_domain(DOMAIN).uuid
        memory = lab[SOURCE].dir / "hv" / uuid / "memory"
        assert memory.exists()
        client = LdmClient(lab)
        await client.start()
        await lab.wait_progress(20)
        if damage == "truncated":
            os.truncate(memory, 0)
        else:
            memory.unlink()
        assert await client.wait() != 0
        lines = client.stderr.decode().replace("Target Password:", "").strip().splitlines()
        how = "was truncated to 0 of " if damage == "truncated" else "was removed"
        assert lines[0].startswith(f"Unable to read the memory of LDom {DOMAIN}: its memory file {memory} {how}"), lines
        assert lines[-1] == f"Domain Migration of LDom {DOMAIN} failed"
        await _no_copy_on_target_and_both_serving(lab)
    finally:
        await lab.close()
