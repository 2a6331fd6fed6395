"""Live migration and the data path between two real ldmd over SSH (SPEC B-1, B-2, B-4)."""

import asyncio
import os
import time

import pytest

from migkit import Hosts, lab, slow_lab, ssh_ldm, wait_for  # noqa: F401  (lab, slow_lab: shared fixtures)

pytestmark = pytest.mark.timeout(120)


def random_pages(manager, name: str, pages: int) -> None:
    mem = manager.hv.memory(manager.domain(name).uuid)
    for p in range(pages):
        mem.write_page(p * 13 % mem.pages, os.urandom(8192))


async def test_live_migration_of_a_running_guest(lab):
    """# ldm migrate-domain --live -d 50 ldg1 t5440-sys-2 — the guest writes all along."""
    src, tgt = lab["t5440-sys-1"].manager, lab["t5440-sys-2"].manager
    src.set_guest("ldg1", write_rate=2 << 20)
    random_pages(src, "ldg1", 300)
    counter = src.guest_info("ldg1")["counter"]
    gone = []
    lab.services["t5440-sys-1"].on_go_sent.append(lambda domain, host: gone.append((domain, host)))
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate-domain --live -d 50 ldg1 t5440-sys-2")
    assert (code, out, err) == (0, "Target Password:\n", "")
    assert gone == [("ldg1", "t5440-sys-2")]
    info = tgt.guest_info("ldg1")
    assert info["run_state"] == "running" and info["counter"] > counter
    assert "ldg1" not in [d.name for d in src.domains()]
    (job,) = [j for j in src.snapshot().jobs if j.domain == "ldg1"]
    assert (job.state, job.live, job.progress) == ("completed", True, 100)
    assert job.downtime_ms > 0 and job.bytes_on_wire > 0 and job.zero_pages > 0
    # Random pages do not compress: the wire carries at least what they hold.
    assert job.bytes_on_wire >= 300 * 8192
    (tjob,) = [j for j in tgt.snapshot().jobs if j.domain == "ldg1"]
    assert tjob.live and tjob.state == "completed" and tjob.bytes_on_wire > 0


async def test_extended_status_while_a_live_migration_runs(slow_lab):
    lab = slow_lab
    src = lab["t5440-sys-1"].manager
    random_pages(src, "ldg1", 200)
    job = asyncio.create_task(ssh_ldm(lab["t5440-sys-1"], "migrate-domain --live ldg1 t5440-sys-2"))

    def status():
        lines = lab.ldm("t5440-sys-1", "list -o status ldg1").stdout.splitlines()
        return lines if len(lines) > 6 and " 0 total" not in lines[7] else None

    lines = await wait_for(status)
    # The seed's layout first, unchanged; the detail after it.
    assert lines[:5] == ["NAME", "ldg1", "", "STATUS", "    OPERATION    PROGRESS    TARGET"]
    assert lines[5].split()[0] == "migration" and lines[5].split()[2] == "t5440-sys-2"
    assert lines[6].startswith("    MODE         live, round 0")
    assert lines[7].startswith("    DATA         ") and "processed" in lines[7] and "remaining" in lines[7]
    assert lines[8].startswith("    RATE         ") and "guest dirties" in lines[8]
    assert lines[9].endswith(" ms expected")
    parsed = lab.ldm("t5440-sys-1", "list -o status -p ldg1").stdout.splitlines()[-1]
    assert parsed.startswith("|op=migration|progress=")
    fields = dict(f.split("=", 1) for f in parsed.split("|")[1:])
    assert fields["mode"] == "live" and fields["error"] == "no" and int(fields["total"]) > 0
    assert {"iteration", "processed", "remaining", "rate", "dirty-rate", "expected-downtime"} <= set(fields)
    target = await wait_for(lambda: (lab.ldm("t5440-sys-2", "list -o status ldg1").stdout.splitlines()
                                     if "ldg1" in [d.name for d in lab["t5440-sys-2"].manager.domains()] else None))
    assert target[4] == "    OPERATION    PROGRESS    SOURCE"
    code, out, err = await asyncio.wait_for(job, 60)
    assert code == 0, err


async def test_a_bandwidth_cap_paces_the_link(lab):
    src = lab["t5440-sys-1"].manager
    random_pages(src, "ldg1", 256)           # 2 MiB that do not compress
    start = time.monotonic()
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], "migrate-domain -b 2M ldg1 t5440-sys-2")
    elapsed = time.monotonic() - start
    assert code == 0, err
    (job,) = [j for j in src.snapshot().jobs if j.domain == "ldg1"]
    # 2 MiB and more on the wire at 2 MiB/s cannot take much less than a second.
    assert job.bytes_on_wire >= 2 << 20 and elapsed >= 0.9 * job.bytes_on_wire / (2 << 20) - 0.2


@pytest.mark.parametrize("option, message", [
    ("-d 0", "Invalid downtime limit: 0 (milliseconds, e.g. 300)"),
    ("downtime=fast", "Invalid downtime limit: fast (milliseconds, e.g. 300)"),
    ("-b nope", "Invalid bandwidth: nope (bytes a second, e.g. 200M)"),
])
async def test_bad_options_are_one_clear_line(lab, option, message):
    code, out, err = await ssh_ldm(lab["t5440-sys-1"], f"migrate-domain --live {option} ldg1 t5440-sys-2",
                                   password_line=None)
    assert code != 0 and err.splitlines()[0] == message
    assert lab["t5440-sys-1"].manager.domain("ldg1").migration is None
