"""The recovery wizard's brain: what to do with a source domain in the error state.

A source in ``e`` sent everything and the GO, then heard nothing. Only the target can say
what happened. ``assess_error`` turns what the target reports into the one safe action;
``resolve_error`` performs it on the source. Nothing destructive is ever recommended while
the target cannot be asked.
"""

from __future__ import annotations

import enum

import attrs

from ldtui.core.errors import LdmError
from ldtui.core.migration.errorstate_actions import destroy_after_error, restore_from_error
from ldtui.core.model import Domain, DomainState, MigrationRole


class ErrorAction(str, enum.Enum):
    DESTROY_SOURCE = "destroy-source"
    RESTORE_SOURCE = "restore-source"
    WAIT = "wait"
    """Do nothing destructive: the target's state is unknown or still changing."""


@attrs.frozen(kw_only=True)
class TargetReport:
    """What the target host says about the domain it was to receive."""

    reachable: bool
    exists: bool = False
    state: str = ""
    """``active``, ``bound``, ``inactive`` … as ``ldm list`` shows it there."""
    migrating: bool = False
    """The target still holds it as a migration target (flag ``t``)."""
    detail: str = ""


@attrs.frozen(kw_only=True)
class Recommendation:
    action: ErrorAction
    title: str
    lines: tuple[str, ...]


def target_report(manager, name: str) -> TargetReport:
    """The target host's answer about domain ``name`` (run on the target)."""
    d = next((x for x in manager.domains() if x.name == name), None)
    if d is None:
        return TargetReport(reachable=True, exists=False)
    return TargetReport(reachable=True, exists=True, state=d.state.value,
                        migrating=d.migration_role is MigrationRole.TARGET)


def report_from_snapshot(snapshot, name: str) -> TargetReport:
    """What a target host's snapshot (``core.snapshot.HostSnapshot``, or ``None`` when it
    could not be reached) says about domain ``name``: the console's way to ask."""
    if snapshot is None:
        return TargetReport(reachable=False)
    row = next((d for d in snapshot.domains if d.name == name), None)
    if row is None:
        return TargetReport(reachable=True, exists=False)
    return TargetReport(reachable=True, exists=True, state=row.state, migrating=row.migrating)


def assess_error(source: Domain, report: TargetReport) -> Recommendation:
    if source.migration_role is not MigrationRole.ERROR or source.migration is None:
        raise LdmError("no-migration-error", f"LDom {source.name} is not in the migration error state")
    return decide(source.name, source.state.value, source.migration.peer_host, source.migration.peer_domain,
                  report)


def decide(name: str, state: str, host: str, tname: str, report: TargetReport) -> Recommendation:
    """The one safe action for source domain ``name`` (``state`` here) whose migration to
    ``tname`` on ``host`` ended in ``e``, given what the target reports."""
    if not report.reachable:
        return Recommendation(action=ErrorAction.WAIT, title=f"{host} cannot be reached", lines=(
            f"{host} did not answer{': ' + report.detail if report.detail else ''}.",
            f"LDom {name} stays suspended here until {host} can be checked.",
            "Restoring it now could leave two copies running."))
    if report.exists and report.migrating:
        return Recommendation(action=ErrorAction.WAIT, title=f"{host} is still receiving {tname}", lines=(
            f"LDom {tname} on {host} is still marked as taking part in a migration.",
            "Wait until its manager has settled it, then check again."))
    expected = "active" if state == DomainState.SUSPENDED.value else None
    if report.exists and (expected is None or report.state == expected):
        return Recommendation(action=ErrorAction.DESTROY_SOURCE, title=f"{tname} runs on {host}", lines=(
            f"LDom {tname} is {report.state} on {host}: the migration completed there.",
            f"The copy of LDom {name} left on this host is out of date and can be destroyed",
            f"(ldm remove-domain {name})."))
    if report.exists:
        return Recommendation(action=ErrorAction.WAIT, title=f"{tname} on {host} is {report.state}", lines=(
            f"LDom {tname} exists on {host} but is {report.state}, not running.",
            "It may be another domain of the same name: check it before acting."))
    return Recommendation(action=ErrorAction.RESTORE_SOURCE, title=f"{tname} is not on {host}", lines=(
        f"{host} has no LDom {tname}: it cleaned up and never ran it.",
        f"LDom {name} can be restored here (ldm cancel-operation migration {name})."))


def resolve_error(manager, name: str, action: ErrorAction) -> None:
    """Perform the recommended action on this (the source) host."""
    action = ErrorAction(action)
    if action is ErrorAction.DESTROY_SOURCE:
        destroy_after_error(manager, name)
    elif action is ErrorAction.RESTORE_SOURCE:
        restore_from_error(manager, name)
    else:
        raise LdmError("no-safe-action", f"Nothing is done to LDom {name} until the target can be checked")
