"""Rehearsal controls of the embedded lab, on real ldmd's over loopback SSH (T-1, G-12, G-13).

"Cut link at next handoff" and "lose the confirmation at next handoff" leave the source in
the error state ``e``; the recovery plan the wizard would offer then matches what the target
really holds, and running it settles the domain. "Slow migrations down" gives an operator
time to cancel.
"""

from __future__ import annotations

import asyncio
import time

from ldtui.console.recovery import assess
from tests.tui.labkit import DST, SRC, link_to, row, until

async def connected(lab, *names):
    links = [link_to(lab, n) for n in names]
    for link in links:
        await asyncio.wait_for(link.connect(), 10)
    return links


async def test_lose_the_confirmation_at_handoff_then_destroy_the_source(lab):
    assert lab.can_fault_handoff
    lab.lose_confirmation_at_handoff(SRC, DST)
    fired = []
    lab.fault_listeners.append(fired.append)
    src, dst = await connected(lab, SRC, DST)
    try:
        out = await src.run(["migrate-domain", "ldg1", f"root@{DST}"], password="solaris", timeout=60)
        assert out.exit_code != 0
        assert out.stderr.strip().splitlines()[-1] == "Domain Migration of LDom ldg1 failed"
        snap = await src.snapshot()
        assert row(snap, "ldg1").flags == "-n---e"
        target = await dst.snapshot()
        assert row(target, "ldg1").state == "active"          # GO got through: the target runs it
        assert fired and "confirmation for ldg1 lost" in fired[0]
        plan = assess(SRC, "ldg1", DST, "ldg1", target, source_state=row(snap, "ldg1").state)
        assert plan.action == "destroy-source"
        for argv in plan.commands:
            assert (await src.run(list(argv))).exit_code == 0
        assert row(await src.snapshot(), "ldg1") is None
        assert row(await dst.snapshot(), "ldg1").state == "active"
    finally:
        await src.close()
        await dst.close()


async def test_cut_at_handoff_leaves_e_and_the_plan_matches_the_target(lab):
    lab.cut_link_at_handoff(DST, SRC)                        # either order names the pair
    src, dst = await connected(lab, SRC, DST)
    try:
        out = await src.run(["migrate-domain", "ldg1", f"root@{DST}"], password="solaris", timeout=60)
        assert out.exit_code != 0
        assert row(await src.snapshot(), "ldg1").flags == "-n---e"
        # The target settles on its own: it runs ldg1 (GO arrived) or removes it (it did not).
        async def settled():
            r = row(await dst.snapshot(), "ldg1")
            return r is None or r.flags[5] == "-"
        await until(settled, 40)
        source_row = row(await src.snapshot(), "ldg1")
        plan = assess(SRC, "ldg1", DST, "ldg1", await dst.snapshot(), source_state=source_row.state)
        assert plan.action in ("destroy-source", "restore-source")
        for argv in plan.commands:
            assert (await src.run(list(argv))).exit_code == 0
        on_src, on_dst = row(await src.snapshot(), "ldg1"), row(await dst.snapshot(), "ldg1")
        running = [r for r in (on_src, on_dst) if r is not None and r.state == "active"]
        assert len(running) == 1 and running[0].flags == "-n----"   # never both, never neither
    finally:
        await src.close()
        await dst.close()


async def test_a_slowed_migration_can_be_cancelled(lab):
    lab.slow_migrations()
    src, dst = await connected(lab, SRC, DST)
    try:
        # Give ldg1 memory worth sending at the slowed pace (~640 KiB/s).
        lab.call(_write_pages(lab.ldmds[SRC].manager, "ldg1", 400))
        started = time.monotonic()
        migration = asyncio.ensure_future(
            src.run(["migrate-domain", "ldg1", f"root@{DST}"], password="solaris", timeout=120))

        async def moving():
            r = row(await src.snapshot(), "ldg1")
            return r is not None and r.flags[5] == "s"
        await until(moving, 20)
        cancel = await src.run(["cancel-operation", "migration", "ldg1"])
        assert cancel.exit_code == 0, cancel.stderr
        out = await asyncio.wait_for(migration, 30)
        assert out.exit_code != 0
        assert time.monotonic() - started < 30
        r = row(await src.snapshot(), "ldg1")
        assert (r.state, r.flags) == ("active", "-n----")
        assert row(await dst.snapshot(), "ldg1") is None
        lab.full_speed_migrations()
        assert not lab.slowed
    finally:
        await src.close()
        await dst.close()


async def _write_pages(manager, name: str, count: int) -> None:
    memory = manager.hv.memory(manager.domain(name).uuid)
    for page in range(count):
        memory.write_page(page, page.to_bytes(8, "big") * 1024, track=False)
