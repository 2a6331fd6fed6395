"""Drives both migration engines into every state and feeds each state every kind of event.

Used by ``test_engine_tables.py`` (every pair either moves where the table says or fails
cleanly) and to write the tables of docs/ENGINE.md from what the engines really do:

    python tests/core/migration/engine_walk.py --write
"""

from __future__ import annotations

import copy
import enum
import sys
from pathlib import Path

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.migration import events as ev
from ldtui.core.migration.engine import Guard
from ldtui.core.migration.events import Finished, Journal, ReportProgress, Send
from ldtui.core.migration.messages import (
    Abort, CheckResult, DataChannel, DataPath, DomainDescription, Go, MachineInfo, Offer, PageBatch,
    PagesAck, Ready, Resumed, RuntimeImage, TransferDone,
)
from ldtui.core.migration.source import SourceMigration
from ldtui.core.migration.target import TargetMigration
from ldtui.core.model import Constraints
from ldtui.hv.guest import GuestSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "ENGINE.md"
BEGIN = "<!-- the tables below are written by: python tests/core/migration/engine_walk.py --write -->"
END = "<!-- end of the generated tables -->"

MACHINE = MachineInfo(hostname="t5440-sys-1", processor="UltraSPARC-T2+", clock_mhz=1414, strands_per_core=8,
                      manager_version="1.2")
PAGE = 8192


def domain(state: str) -> DomainDescription:
    return DomainDescription(name="ldg1", uuid="u-1", state=state,
                             constraints=Constraints(vcpus=1, memory=1 << 28), vcpus=1)


def offer(state: str = "active", **kw) -> Offer:
    return Offer(mig_id="m1", source=MACHINE, domain=domain(state), target_name="ldg1", user="root", **kw)


IMAGE = RuntimeImage(generation=3, regs=b"r", devices={}, guest=GuestSettings(), started_at=1.0, vcpus=1,
                     total_pages=2)
PAGES = PageBatch.of(((1, b"\x01" * PAGE), (9, b"\x09" * PAGE)), sent=2, total=4)

MESSAGES = (
    offer(), offer(live=True), offer("bound"), offer(dry_run=True), offer(source_unmet=("no CPU DR",)),
    offer(dry_run=True, source_unmet=("no CPU DR",)),
    CheckResult(ok=True, notes=("kept",)), CheckResult(ok=False, unmet=("too small",)),
    CheckResult(ok=False, refused=True),
    IMAGE, PAGES, TransferDone(checksum="c", pages=2), Ready(), Go(), Resumed(), Abort(reason="why"),
    PagesAck(batches=1), DataPath(transport="tunnelled"),
    DataChannel(address="127.0.0.1", port=1, streams=1, cipher="c", secret="00"),
)
"""One or more of each message class (variants where the content decides the next state)."""

EVENTS = (
    *(ev.Received(m) for m in MESSAGES),
    ev.Cancel(), ev.LinkLost(), ev.Timeout(), ev.LocalFailure("refused by the hypervisor"),
    ev.Suspended(3), ev.StateExported(IMAGE), ev.RoundStarted(2, at=10.0),
    ev.PagesRead.of(PAGES.pages, at=10.5, dirty=2),
    ev.PagesRead.of(PAGES.pages, last=True, at=11.0, dirty=2),
    ev.PagesRead.of(PAGES.pages, last=True, checksum="c", nonzero=2, at=11.0),
    ev.ChecksDone(unmet=(), notes=("kept",)), ev.ChecksDone(unmet=("too small",)),
    ev.ChecksDone(unmet=(), refused=True),
    ev.Created(), ev.Verified(True), ev.Verified(False, "checksums differ"), ev.ResumedLocally(),
)
"""One or more of each event class the engines may be fed, from the peer or the executor."""


def kind(event) -> type:
    return type(event.message) if isinstance(event, ev.Received) else type(event)


KINDS = tuple(dict.fromkeys(kind(e) for e in EVENTS))


def sources() -> dict[str, SourceMigration]:
    """Source engines, started, one for each way a migration can go."""
    made = {}
    for name, state, kw in (("warm", "active", {}), ("live", "active", {"live": True}), ("bound", "bound", {}),
                            ("dry run", "active", {"dry_run": True}), ("unmet", "active", {"source_unmet": ("x",)})):
        s = SourceMigration(mig_id="m1", machine=MACHINE, domain=domain(state), target_host="t5440-sys-2",
                            target_name="ldg1", user="root", downtime_limit_ms=1, max_rounds=3, **kw)
        s.start()
        made[name] = s
    return made


def targets() -> dict[str, TargetMigration]:
    """A fresh target, and one for each kind of offer it may take."""
    made = {"fresh": TargetMigration(source_host="t5440-sys-1")}
    for i, msg in enumerate(m for m in MESSAGES if isinstance(m, Offer)):
        t = TargetMigration(source_host="t5440-sys-1")
        t.handle(ev.Received(msg))
        made[f"offer {i}"] = t
    return made


def reach(engines: dict, depth: int = 14) -> dict:
    """(way, state) → an engine driven there by events of :data:`EVENTS`, breadth first."""
    seen = {(name, e.state): e for name, e in engines.items()}
    frontier = list(seen.items())
    for _ in range(depth):
        nxt = []
        for (name, _state), e in frontier:
            for event in EVENTS:
                e2 = copy.deepcopy(e)
                try:
                    e2.handle(event)
                except LdmError:
                    continue
                if (name, e2.state) not in seen:
                    seen[(name, e2.state)] = e2
                    nxt.append(((name, e2.state), e2))
        frontier = nxt
    return seen


@attrs.frozen
class Step:
    state: enum.Enum
    kind: type
    to: enum.Enum
    actions: tuple
    refused: bool = False


def walk(engines: dict) -> list[Step]:
    """Every reached state fed every event; each result checked against the table."""
    steps = []
    for (_name, state), engine in reach(engines).items():
        for event in EVENTS:
            e = copy.deepcopy(engine)
            steps.append(check(e, event))
    return steps


def check(e, event) -> Step:
    cls = type(e)
    before, was_final, phase = e.state, e.finished, e.migration_phase
    rule = cls.TRANSITIONS.get((before, kind(event)))
    try:
        actions = e.handle(event)
    except LdmError as refusal:
        assert kind(event) is ev.Cancel, f"{before} refused {event}: {refusal}"
        assert rule is before and e.state is before, f"a refused cancel moved {before} to {e.state}"
        return Step(before, kind(event), before, (), refused=True)
    to = e.state
    assert isinstance(to, type(before)), f"{before} + {event} left the enum: {to!r}"
    if rule is None:
        assert to is cls.UNEXPECTED.get(before, before), f"{before} + unexpected {event} went to {to}"
        if was_final:
            assert actions == [], f"{before} is finished, yet {event} asked for {actions}"
    elif isinstance(rule, Guard):
        assert to in rule.outcomes or to is cls.UNEXPECTED.get(before), f"{before} + {event}: {to} not declared"
    else:
        assert to is rule, f"{before} + {event}: the table says {rule}, the engine went to {to}"
    finished = [a for a in actions if isinstance(a, Finished)]
    if to in cls.FINAL and not was_final:
        assert len(finished) == 1 and actions[-1] is finished[0], f"{before} + {event} ended without one Finished"
        assert finished[0].outcome.status == to.value
        if rule is None or (isinstance(rule, Guard) and to not in rule.outcomes):
            assert to.value in ("failed", "error"), f"an unexpected {event} in {before} ended as {to}"
    else:
        assert not finished, f"{before} + {event}: Finished without a final state"
    assert e.migration_phase is cls.PHASE_OF.get(to, phase)
    return Step(before, kind(event), to, tuple(actions))


# -- the tables of docs/ENGINE.md ------------------------------------------------------------

def words(action) -> str:
    if isinstance(action, Send):
        return f"send {type(action.message).__name__}"
    if isinstance(action, Journal):
        return f"journal `{action.phase}`"
    return type(action).__name__


def render(cls, steps: list[Step], commit: tuple) -> str:
    """The table of ``cls`` as markdown: each row, its next state(s) and what the engine
    asked for on the way, as the walk saw it (progress reports left out)."""
    seen: dict[tuple, dict[enum.Enum, list[str]]] = {}
    for s in steps:
        if s.refused:
            seq = "refused (LdmError)"
        else:
            seq = ", ".join(words(a) for a in s.actions if not isinstance(a, ReportProgress)) or "nothing"
        by_to = seen.setdefault((s.state, s.kind), {})
        if seq not in by_to.setdefault(s.to, []):
            by_to[s.to].append(seq)
    states = list(type(next(iter(cls.PHASE_OF))))
    lines = ["| State | Event | Next state | Actions |", "|---|---|---|---|"]
    everywhere = [k for k in KINDS if all(cls.TRANSITIONS.get((s, k)) is s for s in states)]
    for k in everywhere:
        lines.append(f"| any | {k.__name__} | the same | refused (LdmError) |")

    def way_back(k, rule) -> bool:
        return not isinstance(rule, Guard) and rule in cls.FINAL and rule.value not in ("completed", "passed")

    for state in states:
        rows = [(k, cls.TRANSITIONS[(state, k)]) for k in KINDS
                if (state, k) in cls.TRANSITIONS and k not in everywhere]
        rows.sort(key=lambda row: way_back(*row))
        for n, (k, rule) in enumerate(rows):
            got = seen.get((state, k), {})
            mark = " **(commit point)**" if (state, k) == commit else ""
            first = f"{state.name}{mark}" if n == 0 or mark else ""
            if isinstance(rule, Guard):
                outcomes = [(to, f"{to.name} if {when}") for to, when in rule.outcomes.items()]
                if rule.refused_when:
                    outcomes.append((cls.UNEXPECTED[state], f"{cls.UNEXPECTED[state].name} if {rule.refused_when} "
                                                            "(protocol error)"))
                if rule.error:
                    outcomes.append((cls.UNEXPECTED[state], f"{cls.UNEXPECTED[state].name} (protocol error: "
                                                            f"{rule.error})"))
                for i, (to, text) in enumerate(outcomes):
                    lines.append(f"| {first if i == 0 else ''} | {k.__name__ if i == 0 else ''} | "
                                 f"{text} | {' / '.join(got.get(to, ['—']))} |")
            else:
                lines.append(f"| {first} | {k.__name__} | {rule.name} | {' / '.join(got.get(rule, ['—']))} |")
    failing: dict = {}
    for state, to in cls.UNEXPECTED.items():
        failing.setdefault(to, []).append(state.name)
    lines.append("")
    lines.append("Any other event is a protocol error: " + "; ".join(
        f"in {', '.join(names)} it leads to {to.name}" for to, names in failing.items())
                 + "; a finished engine ignores it.")
    return "\n".join(lines)


def render_phases(cls) -> str:
    groups: dict = {}
    for state, phase in cls.PHASE_OF.items():
        groups.setdefault(phase, []).append(state.name)
    finals = ", ".join(s.name for s in type(next(iter(cls.PHASE_OF))) if s in cls.FINAL)
    rows = [f"| {p.value} {p.label} | {', '.join(states)} |" for p, states in groups.items()]
    return "\n".join(["| Phase | States |", "|---|---|", *rows, f"| (kept) | {finals} |"])


def generated() -> str:
    src = walk(sources())
    tgt = walk(targets())
    from ldtui.core.migration.source import SourceState
    from ldtui.core.migration.target import TargetState
    return "\n".join([
        BEGIN, "",
        "### The source: `SourceMigration.TRANSITIONS`", "",
        render(SourceMigration, src, (SourceState.AWAITING_READY, Ready)), "",
        "### The target: `TargetMigration.TRANSITIONS`", "",
        render(TargetMigration, tgt, (TargetState.READY, Go)), "",
        "### Phases: `PHASE_OF`", "",
        "The source:", "", render_phases(SourceMigration), "",
        "The target:", "", render_phases(TargetMigration), "",
        END,
    ])


def write() -> None:
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + generated() + tail)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(generated())
