"""B-3, G-12, G-13: a fault at every message boundary ends in a defined, safe state.

For each boundary of a real migration we inject one fault — the link drops, either
manager crashes and restarts from its journal, or the operator cancels — and check what
an operator would: never two running copies, never none without ``e``; the copy that
survives holds exactly the memory that left; no receiving domain is left behind; the
journal says what the managers show; a domain in ``e`` is settled by the wizard's advice.
"""

import pytest

from harness import Pair, copies, make_guest, rewrite_pages, role_of
from ldtui.core.migration import assess_error, resolve_error, target_report
from ldtui.core.migration.errorstate import ErrorAction
from ldtui.core.model import MigrationRole

FAULTS = ("drop", "crash_source", "crash_target", "crash_both", "cancel")


def pair_for(a, b, mode: str) -> Pair:
    """``live``: pre-copy while the guest stores into a few pages after every batch (the
    same bytes again, so the digest holds) — several rounds, each a boundary of its own."""
    if mode == "live":
        p = Pair(a, b, between=rewrite_pages(2))
        p.begin("ldg1", live=True, downtime_limit_ms=1)
    else:
        p = Pair(a, b)
        p.begin("ldg1")
    return p


def boundaries(hosts, state: str) -> int:
    a, b = hosts
    make_guest(a, state="active" if state == "live" else state)
    p = pair_for(a, b, state)
    p.run()
    if state == "live":
        assert p.src.engine.round >= 2, "the live run should take several rounds"
    assert p.src.outcome.status == "completed"
    return p.steps


def inject(pair: Pair, fault: str) -> None:
    if fault == "drop":
        pair.drop_link()
    elif fault == "crash_source":
        pair.crash_source()
    elif fault == "crash_target":
        pair.crash_target()
    elif fault == "crash_both":
        pair.crash_both()
    elif fault == "cancel":
        pair.cancel("ldg1")


def settle_error(pair: Pair) -> str:
    """What the recovery wizard does for a source in ``e`` (T-6)."""
    a, b = pair.source, pair.target
    src = a.m.domain("ldg1")
    rec = assess_error(src, target_report(b.m, "ldg1"))
    assert rec.action is not ErrorAction.WAIT, rec
    resolve_error(a.m, "ldg1", rec.action)
    return rec.action.value


def check_invariants(pair: Pair, uuid: str, digest: str, was_active: bool) -> str:
    """Returns where the domain ended: 'source', 'target' or 'error'."""
    a, b = pair.source, pair.target
    assert copies(pair, uuid) <= 1, "two running copies"
    on_a, on_b = role_of(a, "ldg1"), role_of(b, "ldg1")
    assert on_b in (None, MigrationRole.NONE), f"orphan receiving domain on the target ({on_b})"
    assert a.m.migrating() == {} and b.m.migrating() == {}, "a migration lock was left behind"
    assert b.m.store.journal_entries() == []
    if on_a is MigrationRole.ERROR:
        # Suspended with its data intact, journal kept; never running by itself.
        assert a.running_copies(uuid) == 0
        assert a.m.guest_info("ldg1")["digest"] == digest
        assert [e["phase"] for e in a.m.store.journal_entries()] == ["error"]
        return "error"
    assert a.m.store.journal_entries() == []
    assert (on_a is None) != (on_b is None), "the domain is on both hosts, or on neither"
    home = a if on_a is not None else b
    info = home.m.guest_info("ldg1")
    assert info["digest"] == digest
    if was_active:
        assert home.running_copies(uuid) == 1, "the domain is not running anywhere"
    return "source" if home is a else "target"


@pytest.mark.parametrize("state", ["active", "bound", "live"])
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_at_every_message_boundary(hosts, tmp_path, fault, state):
    a, b = hosts
    total = boundaries(hosts, state)
    # Bring the domain home again so every round starts alike.
    back = Pair(b, a)
    back.begin("ldg1")
    back.run()
    assert back.src.outcome.status == "completed"
    uuid = a.m.domain("ldg1").uuid
    digest = a.m.guest_info("ldg1")["digest"]
    ends = set()
    refusals = set()
    for k in range(total + 1):
        p = pair_for(a, b, state)
        for _ in range(k):
            p.step()
        if fault == "cancel":
            refusals.add(p.cancel("ldg1"))
        else:
            inject(p, fault)
        p.run()
        a, b = p.source, p.target  # a crash replaced a manager
        where = check_invariants(p, uuid, digest, state != "bound")
        if where == "error":
            action = settle_error(p)
            ends.add(f"error→{action}")
            where = "target" if action == "destroy-source" else "source"
            assert check_invariants(p, uuid, digest, state != "bound") == where
        ends.add(where)
        if where == "target":
            back = Pair(b, a)
            back.begin("ldg1")
            back.run()
            assert back.src.outcome.status == "completed", back.src.outcome
        assert a.m.domain("ldg1").uuid == uuid
        if state != "bound":
            assert a.running_copies(uuid) == 1
            assert a.m.hv.get(uuid).throttle == 0
        hosts = (a, b)
    # Early faults keep the domain home; a fault after the last boundary lets it arrive.
    assert "source" in ends and "target" in ends
    if fault == "cancel":
        # Before GO a cancel rolls back; after it, it is refused with the reason (G-12).
        assert {"cancelled", "cancel-too-late"} <= refusals
        assert not any(e.startswith("error") for e in ends)
    else:
        # A GO lost on the way, or a confirmation lost on the way back: both end in e,
        # and the wizard's advice (restore, or destroy the source) settles each (G-13).
        assert {"error→restore-source", "error→destroy-source"} <= ends
