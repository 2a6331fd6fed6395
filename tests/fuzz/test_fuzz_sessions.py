"""The sessions around the engines under any interleaving of data and control (SPEC B-2, B-5, G-13).

Hypothesis picks the order in which frames cross (data frames overtaking each other and the
control frames, as independent connections allow), whether the migration is live, and a
mishap on the data path: a data frame lost, one delivered twice, the data connections
reset at some step. When nothing can move any more, both sides' timers run out, as they
would. Whatever happened: never two running copies, no receiving domain left behind, no
lock held; the domain either moved with exactly its memory or stayed running with it, or
waits in the error state with its memory intact.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core" / "migration"))

from harness import G, Clock, DataFrame, Host, Pair, copies, machine, make_guest, rewrite_pages, role_of  # noqa: E402
from ldtui.core.migration.codec import encode  # noqa: E402
from ldtui.core.model import MigrationRole  # noqa: E402
from ldtui.hv.machine import MemoryRange  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def fresh(tmp: Path):
    clock = Clock()
    hosts = []
    for name in ("t5440-sys-1", "t5440-sys-2"):
        h = Host(tmp, machine(name, memory=(MemoryRange(0, 4 * G),)), clock)
        h.setup_services(memory=1 * G)
        hosts.append(h)
    return hosts


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), live=st.booleans(),
       mishap=st.sampled_from(["none", "lose", "twice", "reset"]), at=st.integers(0, 400))
def test_any_interleaving_ends_safely(tmp_path_factory, seed, live, mishap, at):
    a, b = fresh(tmp_path_factory.mktemp("pair"))
    try:
        uuid = make_guest(a, memory=1 << 28, seconds=2)
        before = a.m.guest_info("ldg1")["digest"]
        p = Pair(a, b, shuffle=random.Random(seed), window=4, between=rewrite_pages(1) if live else None)
        p.begin("ldg1", batch_pages=8, live=live, downtime_limit_ms=1)
        steps = 0
        while True:
            if steps == at and mishap != "none":
                data = [i for i, f in enumerate(p.to_target) if isinstance(f, DataFrame)]
                if mishap == "reset":
                    p.drop_data()
                elif data and mishap == "lose":
                    del p.to_target[data[0]]
                elif data and mishap == "twice":
                    p.to_target.append(p.to_target[data[0]])
            if p.step():
                steps += 1
                assert steps < 20000
                continue
            if p.ss is None or (p.ss.finished and p.ts.finished):
                break
            # Nothing can move: the waits run out on both sides.
            p.to_source.extend(encode(m) for m in p.ts.timed_out())
            p.ss.timed_out()
            p._flush_source()
            if not p.step() and p.ss.finished and p.ts.finished:
                break
        assert copies(p, uuid) <= 1, "two running copies"
        on_a, on_b = role_of(a, "ldg1"), role_of(b, "ldg1")
        assert on_b in (None, MigrationRole.NONE), f"receiving domain left behind ({on_b})"
        assert a.m.migrating() == {} and b.m.migrating() == {}, "a lock was left behind"
        assert (on_a is None) != (on_b is None), "the domain is on both hosts, or on neither"
        home = a if on_a is not None else b
        assert home.m.guest_info("ldg1")["digest"] == before, "memory changed on the way"
        if on_a is not MigrationRole.ERROR:
            assert home.running_copies(uuid) == 1, "the domain runs nowhere"
    finally:
        a.m.close()
        b.m.close()
