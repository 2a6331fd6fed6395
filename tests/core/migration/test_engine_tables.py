"""Every (state, event) pair of both engines' tables, walked like h2's invalid-frame tests.

``engine_walk`` drives each engine into every state of its enum by legal event sequences,
then feeds each state one of every kind of event and message (with variants where the
content decides): each either moves to the state the table declares (one its guard may
return) or takes the state's clean failure path — never an exception but a refused
cancel, never a state outside the enum, never an end without one ``Finished``.
"""

import pytest
from engine_walk import DOC, KINDS, generated, reach, sources, targets, walk

from ldtui.core.errors import LdmError
from ldtui.core.migration.engine import Guard
from ldtui.core.migration.events import Cancel
from ldtui.core.migration.messages import Go, Ready
from ldtui.core.migration.phase import JournalStep, MigrationPhase
from ldtui.core.migration.source import SourceMigration, SourceState
from ldtui.core.migration.target import TargetMigration, TargetState, cancel_on_target

ENGINES = [(SourceMigration, SourceState, sources), (TargetMigration, TargetState, targets)]


@pytest.mark.parametrize("cls, states, made", ENGINES, ids=["source", "target"])
def test_every_state_is_reached_by_legal_events(cls, states, made):
    assert {state for _way, state in reach(made())} == set(states)


@pytest.mark.parametrize("cls, states, made", ENGINES, ids=["source", "target"])
def test_every_pair_moves_as_the_table_says_or_fails_cleanly(cls, states, made):
    steps = walk(made())  # walk() asserts each step against the table
    assert {(s.state, s.kind) for s in steps} == {(state, k) for state in states for k in KINDS}
    # Each row of the table and each outcome its guard declares happens for some event.
    outcomes = {(s.state, s.kind, s.to) for s in steps}
    for (state, k), rule in cls.TRANSITIONS.items():
        declared = rule.outcomes if isinstance(rule, Guard) else (rule,)
        for to in declared:
            assert (state, k, to) in outcomes, f"{state.name} + {k.__name__} → {to.name} never happens"
        if isinstance(rule, Guard) and (rule.refused_when or rule.error):
            assert (state, k, cls.UNEXPECTED[state]) in outcomes


@pytest.mark.parametrize("cls, states, made", ENGINES, ids=["source", "target"])
def test_the_tables_name_only_states_of_their_engine(cls, states, made):
    for (state, k), rule in cls.TRANSITIONS.items():
        assert isinstance(state, states) and isinstance(k, type)
        for to in (rule.outcomes if isinstance(rule, Guard) else (rule,)):
            assert isinstance(to, states)
    assert set(cls.UNEXPECTED) | set(cls.FINAL) == set(states)
    assert set(cls.PHASE_OF) | set(cls.FINAL) == set(states) and not set(cls.PHASE_OF) & set(cls.FINAL)
    assert not any(state in cls.FINAL for state, k in cls.TRANSITIONS if k is not Cancel)


def test_the_commit_point_is_one_row_on_each_side():
    assert SourceMigration.TRANSITIONS[(SourceState.AWAITING_READY, Ready)] is SourceState.GO_SENT
    assert TargetMigration.TRANSITIONS[(TargetState.READY, Go)] is TargetState.RESUMING
    assert SourceMigration.PHASE_OF[SourceState.GO_SENT] is TargetMigration.PHASE_OF[TargetState.RESUMING] \
        is MigrationPhase.HANDOFF


def test_phases_and_journal_steps_keep_the_numbers_and_strings_printed_and_stored():
    assert [(p.value, p.label) for p in MigrationPhase] == [
        (0, "starting"), (1, "check"), (2, "prepare"), (3, "transfer"), (4, "handoff")]
    assert [str(s) for s in JournalStep] == [
        "check", "prepare", "precopy", "transfer", "ready", "go_sent", "go", "done", "error"]
    assert JournalStep.GO_SENT == "go_sent" and "go" in (JournalStep.GO,)


def test_one_refusal_of_a_cancel_on_the_target():
    t = TargetMigration(source_host="t5440-sys-1")
    with pytest.raises(LdmError) as e:
        t.handle(Cancel())
    assert (e.value.code, e.value.message) == (cancel_on_target("?", "t5440-sys-1").code,
                                               "Migration of LDom ? can only be cancelled on the source machine "
                                               "t5440-sys-1")
    assert cancel_on_target("ldg1", "").message == "Migration of LDom ldg1 can only be cancelled on the source machine"


def test_the_tables_in_the_docs_are_the_tables_in_the_code():
    assert generated() in DOC.read_text(), "run: python tests/core/migration/engine_walk.py --write"
