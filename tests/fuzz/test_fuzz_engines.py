"""The migration state machines against what a confused or hostile peer may send (SPEC G-12, G-13).

Complements the sequence tests in ``tests/core/migration/test_engine.py``: here every
message first goes through the wire codec (as it would arrive), its free-text fields are
random, the source runs warm and live, and the target is fed messages that only a source
may send as well as those only a target may send. Whatever arrives, in whatever state:
the engine returns actions or refuses a cancel with one line, stays in a state of its own
enum, does nothing more once finished, and resumes on the target only after a GO.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldtui.core.errors import LdmError
from ldtui.core.migration.codec import decode, encode
from ldtui.core.migration.events import Cancel, Finished, LinkLost, Received, ResumeReceived, Timeout
from ldtui.core.migration.messages import (
    Abort, CheckResult, DomainDescription, Go, MachineInfo, Offer, Ready, Resumed,
)
from ldtui.core.migration.source import SourceMigration, SourceState
from ldtui.core.migration.target import TargetMigration, TargetState
from ldtui.core.model import Constraints

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MACHINE = MachineInfo(hostname="t5440-sys-1", processor="UltraSPARC-T2+", clock_mhz=1414, strands_per_core=8,
                      manager_version="1.2")
TEXT = st.text(max_size=40)
LINES = st.lists(TEXT, max_size=3).map(tuple)


def _domain(state: str) -> DomainDescription:
    return DomainDescription(name="ldg1", uuid="u-1", state=state,
                             constraints=Constraints(vcpus=1, memory=1 << 28), vcpus=1)


MESSAGES = st.one_of(
    st.builds(CheckResult, ok=st.booleans(), unmet=LINES, notes=LINES, refused=st.booleans()),
    st.builds(Abort, reason=TEXT),
    st.just(Ready()), st.just(Go()), st.just(Resumed()),
    st.builds(Offer, mig_id=st.text(min_size=1, max_size=12), source=st.just(MACHINE),
              domain=st.sampled_from(["active", "bound", "inactive"]).map(_domain),
              target_name=st.sampled_from(["ldg1", "ldg-tgt", ""]), user=st.sampled_from(["root", "nobody"]),
              dry_run=st.booleans(), live=st.booleans()),
)
EVENTS = st.one_of(MESSAGES.map(lambda m: Received(decode(encode(m)))),
                   st.sampled_from([Cancel(), LinkLost(), LinkLost("cut"), Timeout()]))


@SETTINGS
@given(st.booleans(), st.sampled_from(["active", "bound"]), st.lists(EVENTS, max_size=25))
def test_the_source_survives_any_peer(live, state, events):
    s = SourceMigration(mig_id="m1", machine=MACHINE, domain=_domain(state), target_host="t5440-sys-2",
                        target_name="ldg1", user="root", live=live)
    s.start()
    finished = False
    for ev in events:
        try:
            actions = s.handle(ev)
        except LdmError as e:
            assert isinstance(ev, Cancel) and "\n" not in e.message
            continue
        assert isinstance(s.state, SourceState)
        if finished:
            assert actions == []
        finished = finished or any(isinstance(a, Finished) for a in actions)
    assert finished == s.finished


@SETTINGS
@given(st.lists(EVENTS, max_size=25))
def test_the_target_survives_any_peer_and_resumes_only_after_go(events):
    t = TargetMigration(source_host="t5440-sys-1")
    finished = False
    for ev in events:
        try:
            actions = t.handle(ev)
        except LdmError as e:
            assert isinstance(ev, Cancel) and "\n" not in e.message
            continue
        assert isinstance(t.state, TargetState)
        if finished:
            assert actions == []
        for a in actions:
            if isinstance(a, ResumeReceived):
                assert isinstance(ev, Received) and isinstance(ev.message, Go)
        finished = finished or any(isinstance(a, Finished) for a in actions)
    assert finished == t.finished
