"""The engines and their codec on their own: no hosts, no I/O (DESIGN.md "sans-IO").

Like h2's invalid-frame-sequence tests: every (state, event) pair either moves to a valid
state or ends the migration cleanly, and the safety rules hold for any sequence.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldtui.core.errors import LdmError
from ldtui.core.migration import codec
from ldtui.core.migration.codec import CodecError, decode, encode
from ldtui.core.migration.events import (
    Cancel, ChecksDone, Created, EnterErrorState, Finished, HandOff, LinkLost, LocalFailure, PagesRead,
    Received, ResumedLocally, ResumeReceived, RollBack, RoundStarted, Send, StateExported, Suspended, Timeout,
    Verified,
)
from ldtui.core.migration.messages import (
    Abort, CheckResult, DomainDescription, Go, MachineInfo, Offer, PageBatch, Ready, Resumed, RuntimeImage,
    TransferDone,
)
from ldtui.core.migration.source import SourceMigration, SourceState
from ldtui.core.migration.target import TargetMigration, TargetState
from ldtui.core.model import Constraints, VDisk
from ldtui.hv.guest import GuestSettings
from ldtui.hv.hypervisor import MemoryBlock

MACHINE = MachineInfo(hostname="t5440-sys-1", processor="UltraSPARC-T2+", clock_mhz=1414, strands_per_core=8,
                      manager_version="1.2")
DOMAIN = DomainDescription(name="ldg1", uuid="u-1", state="active",
                           constraints=Constraints(vcpus=8, memory=1 << 30,
                                                   vdisks=[VDisk(name="vdisk1", volume="vol1", service="primary-vds0")]),
                           vcpus=8, blocks=(MemoryBlock(0x8000000, 0x208000000, 1 << 30),))
OFFER = Offer(mig_id="m1", source=MACHINE, domain=DOMAIN, target_name="ldg-tgt", user="root")
IMAGE = RuntimeImage(generation=3, regs=bytes(range(256)), devices={"console": "login: "},
                     guest=GuestSettings(write_rate=5), started_at=12.5, vcpus=1, total_pages=2)
PAGES = PageBatch.of(((1, b"\x01" * 8192), (9, b"\x09" * 8192)), sent=2, total=2)
LIVE_PAGES = PageBatch.of(((4, b"\x04" * 8192), (5, b"\x05" * 8192)), zeros=(7, 8, 9, 12), sent=4, total=9, round=2)
MESSAGES = [OFFER, CheckResult(ok=True, notes=("n",)), CheckResult(ok=False, unmet=("a", "b")), IMAGE, PAGES,
            LIVE_PAGES, TransferDone(checksum="d", pages=2), Ready(), Go(), Resumed(), Abort(reason="why"),
            Offer(mig_id="m2", source=MACHINE, domain=DOMAIN, target_name="ldg1", user="root", live=True)]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_codec(msg):
    assert decode(encode(msg)) == msg


def test_pages_are_compressed_on_the_wire():
    batch = PageBatch.of(tuple((n, b"ldom " * 1638 + b"xy") for n in range(64)), sent=64, total=64)
    assert len(encode(batch)) < 64 * 8192 // 10


@pytest.mark.parametrize("frame, reason", [
    (b"", "truncated migration frame"),
    (b"GET / HTTP/1.1\r\n\r\n", "bad magic"),
    (b"LDMG\x09\x00\x00\x00\x02{}", "unsupported migration protocol version 9"),
    (b"LDMG\x01\x00\x00\x00\x05hello", "header is not valid JSON"),
    (b"LDMG\x01\x00\x00\x00\xff{}", "truncated or too long"),
    (b'LDMG\x01\x00\x00\x00\x1d{"type":"Launch","fields":{}}', "unknown migration message type 'Launch'"),
    (b'LDMG\x01\x00\x00\x00\x19{"type":"Go","fields":[]}', "malformed Go message"),
])
def test_garbage_is_refused_with_one_clear_line(frame, reason):
    with pytest.raises(CodecError, match=reason):
        decode(frame)


def test_a_page_batch_whose_payload_lies_is_refused():
    good = encode(PAGES)
    with pytest.raises(CodecError, match="does not decompress|carries"):
        decode(good[:-5])


def test_only_migration_messages_can_be_encoded():
    with pytest.raises(CodecError):
        encode(object())


# -- the state machines ----------------------------------------------------------------------
def source(live: bool = False):
    s = SourceMigration(mig_id="m1", machine=MACHINE, domain=DOMAIN, target_host="t5440-sys-2",
                        target_name="ldg-tgt", user="root", live=live, downtime_limit_ms=1)
    s.start()
    return s


def test_the_happy_path_of_a_live_source():
    s = source(live=True)
    kinds = lambda actions: [type(a).__name__ if not isinstance(a, Send) else type(a.message).__name__
                             for a in actions]
    assert kinds(s.handle(Received(CheckResult(ok=True)))) == ["Journal", "MarkMigrating", "Journal", "BeginRound"]
    assert s.state is SourceState.PRECOPY
    assert kinds(s.handle(RoundStarted(2, at=10.0))) == ["ReadPages"]
    # Round 0 sent 2 pages in 1 s and left 1 dirty: 0.5 s expected downtime is over 1 ms,
    # but the guest dirtied only half of what went: another round, unthrottled.
    assert kinds(s.handle(PagesRead.of(PAGES.pages, last=True, at=11.0, dirty=1))) == [
        "PageBatch", "ReportProgress", "BeginRound"]
    assert s.round == 1 and s.state is SourceState.PRECOPY
    s.handle(RoundStarted(1, at=11.0))
    # The guest dirtied as much as the round sent: it is throttled.
    actions = s.handle(PagesRead.of(PAGES.pages, last=True, at=12.0, dirty=2))
    assert [a.percent for a in actions if type(a).__name__ == "SetThrottle"] == [20]
    s.handle(RoundStarted(2, at=12.0))
    actions = s.handle(PagesRead(last=True, at=13.0, dirty=0))
    assert kinds(actions)[-1] == "SuspendDomain"
    assert kinds(s.handle(Suspended(3))) == ["Journal", "ExportState"]
    assert kinds(s.handle(StateExported(IMAGE))) == ["RuntimeImage", "BeginRound"]
    s.handle(RoundStarted(0, at=13.0))
    assert kinds(s.handle(PagesRead(last=True, checksum="c", nonzero=4, at=13.0))) == [
        "ReportProgress", "TransferDone"]
    assert kinds(s.handle(Received(Ready()))) == ["Journal", "HandOff", "Go"]


def test_the_happy_path_of_the_source():
    s = source()
    kinds = lambda actions: [type(a).__name__ if not isinstance(a, Send) else type(a.message).__name__
                             for a in actions]
    assert kinds(s.handle(Received(CheckResult(ok=True)))) == ["Journal", "MarkMigrating", "SuspendDomain"]
    assert kinds(s.handle(Suspended(3))) == ["Journal", "ExportState"]
    assert kinds(s.handle(StateExported(IMAGE))) == ["RuntimeImage", "BeginRound"]
    assert kinds(s.handle(RoundStarted(2))) == ["ReadPages"]
    assert kinds(s.handle(PagesRead.of(PAGES.pages, last=True, checksum="d", nonzero=2))) == [
        "PageBatch", "ReportProgress", "TransferDone"]
    # The commit point: journal, give the image away, then GO — in this order.
    assert kinds(s.handle(Received(Ready()))) == ["Journal", "HandOff", "Go"]
    assert s.state is SourceState.GO_SENT
    assert kinds(s.handle(Received(Resumed()))) == ["DestroySource", "Finished"]
    assert s.outcome.status == "completed" and s.progress == 100


def test_cancel_before_go_rolls_back_and_is_idempotent_after_go_it_is_refused():
    s = source()
    s.handle(Received(CheckResult(ok=True)))
    actions = s.handle(Cancel())
    assert any(isinstance(a, RollBack) for a in actions)
    assert s.handle(Cancel()) == []
    s2 = source()
    for ev in (Received(CheckResult(ok=True)), Suspended(3), StateExported(IMAGE), RoundStarted(0),
               PagesRead(last=True, checksum="d"), Received(Ready())):
        s2.handle(ev)
    with pytest.raises(LdmError, match="cannot be cancelled"):
        s2.handle(Cancel())
    assert s2.state is SourceState.GO_SENT


def test_the_target_refuses_every_cancel():
    t = TargetMigration()
    t.handle(Received(OFFER))
    with pytest.raises(LdmError, match="can only be cancelled on the source machine t5440-sys-1"):
        t.handle(Cancel())


SOURCE_EVENTS = st.sampled_from(
    [Received(m) for m in MESSAGES] + [Cancel(), LinkLost(), Timeout(), LocalFailure("no"), Suspended(3),
                                       StateExported(IMAGE), RoundStarted(2), PagesRead.of(PAGES.pages),
                                       PagesRead(last=True, checksum="d"), PagesRead(last=True, dirty=3, at=1.0)])
TARGET_EVENTS = st.sampled_from(
    [Received(m) for m in MESSAGES] + [Cancel(), LinkLost(), Timeout(), LocalFailure("no"),
                                       ChecksDone(unmet=()), ChecksDone(unmet=("x",)), Created(),
                                       Verified(True), Verified(False, "bad"), ResumedLocally()])


@settings(max_examples=400, deadline=None)
@given(st.lists(SOURCE_EVENTS, max_size=30), st.booleans())
def test_any_event_sequence_keeps_the_source_safe(events, live):
    s = source(live=live)
    handed_off = finished = False
    for ev in events:
        try:
            actions = s.handle(ev)
        except LdmError:
            assert isinstance(ev, Cancel) and s.state is SourceState.GO_SENT
            continue
        assert isinstance(s.state, SourceState)
        if finished:
            assert actions == []  # nothing happens after the end
        for a in actions:
            if isinstance(a, HandOff):
                handed_off = True
            if isinstance(a, RollBack) and handed_off:
                # Once the image is given away only the target's Abort may give it back.
                assert a.reclaim and isinstance(ev, Received) and isinstance(ev.message, Abort)
            if isinstance(a, EnterErrorState):
                assert handed_off  # the error state exists only after the commit point
            if isinstance(a, Finished):
                assert not finished
                finished = True
    assert finished == s.finished


@settings(max_examples=400, deadline=None)
@given(st.lists(TARGET_EVENTS, max_size=30))
def test_any_event_sequence_keeps_the_target_safe(events):
    t = TargetMigration()
    go = finished = False
    for ev in events:
        try:
            actions = t.handle(ev)
        except LdmError:
            assert isinstance(ev, Cancel)
            continue
        assert isinstance(t.state, TargetState)
        if finished:
            assert actions == []
        if isinstance(ev, Received) and isinstance(ev.message, Go) and any(
                isinstance(a, ResumeReceived) for a in actions):
            go = True
        for a in actions:
            if isinstance(a, ResumeReceived):
                assert isinstance(ev, Received) and isinstance(ev.message, Go)  # never without GO
            if isinstance(a, Finished):
                assert not finished
                finished = True
        if go and not finished:
            # Past GO nothing the source or the link does stops the resume.
            assert t.state is TargetState.RESUMING
    assert finished == t.finished
