"""``-b RATE`` caps the bytes on the wire; the status shows both that rate and the guest
memory moved a second, while it runs and afterwards (SPEC B-2, B-4, L-4)."""

import asyncio

import pytest

from migkit import fill_memory, lab, slow_lab, ssh_ldm, wait_for  # noqa: F401  (lab, slow_lab: shared fixtures)

pytestmark = pytest.mark.timeout(120)


def fields(text: str, start: str) -> dict[str, str]:
    line = next(x for x in text.splitlines() if x.startswith(start))
    return dict(f.split("=", 1) for f in line.split("|")[1:] if "=" in f)


async def test_the_running_status_shows_the_wire_rate_and_the_cap(slow_lab):
    lab = slow_lab
    fill_memory(lab["t5440-sys-1"].manager, "ldg1", 400)
    job = asyncio.create_task(ssh_ldm(lab["t5440-sys-1"], "migrate-domain -b 1M ldg1 t5440-sys-2"))

    def status():
        lines = lab.ldm("t5440-sys-1", "list -o status ldg1").stdout.splitlines()
        rate = next((x for x in lines if x.startswith("    RATE ")), None)
        return lines if rate and "wire 0/s" not in rate else None

    lines = await wait_for(status)
    assert lines[:5] == ["NAME", "ldg1", "", "STATUS", "    OPERATION    PROGRESS    TARGET"]   # the seed's, as they were
    rate = next(x for x in lines if x.startswith("    RATE "))
    assert rate.startswith("    RATE         ") and rate.endswith(" (cap 1M)") and ", wire " in rate
    parsed = fields(lab.ldm("t5440-sys-1", "list -o status -p ldg1").stdout, "|op=migration")
    assert parsed["cap"] == str(1 << 20) and int(parsed["wire-rate"]) > 0 and "rate" in parsed
    code, out, err = await asyncio.wait_for(job, 60)
    assert code == 0, err


async def test_with_compressible_memory_the_memory_rate_is_far_above_the_cap(lab):
    fill_memory(lab["t5440-sys-1"].manager, "ldg1", 2000)         # 16M of pages that compress well
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate-domain -b 1M ldg1 t5440-sys-2")
    assert code == 0, err
    done = fields(lab.ldm("t5440-sys-1", "list -o status --completed -p ldg1").stdout, "|op=migration")
    assert done["cap"] == str(1 << 20)
    assert int(done["wire-rate"]) <= 1.25 * (1 << 20) < int(done["rate"])
    text = lab.ldm("t5440-sys-1", "list -o status --completed ldg1").stdout
    rate = next(x for x in text.splitlines() if x.startswith("    RATE "))
    assert ", wire " in rate and rate.endswith(" (cap 1M)")
    # The target has no cap to tell, but the wire's rate it saw.
    there = fields(lab.ldm("t5440-sys-2", "list -o status --completed -p ldg1").stdout, "|op=migration")
    assert there["cap"] == "" and int(there["wire-rate"]) > 0
