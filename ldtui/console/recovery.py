"""What to do about a domain left in the migration error state.

After all state was sent and the link died before the target confirmed its resume, the
source keeps a suspended copy flagged ``e``. Exactly one action is safe, and which one
depends only on what the target host says now:

* target domain running normally → the migration did complete: destroy the source copy;
* target domain absent          → the target cleaned up: restore the source with
                                  ``cancel-operation migration``;
* target unreachable, or its copy in any other state → do nothing destructive; wait and
  ask again.

The rule is the manager's own (``core.migration.errorstate``); here it is applied to a
snapshot, so each branch is tested without any network.
"""

from __future__ import annotations

import attrs

from ldtui.core.migration.errorstate import ErrorAction, decide, report_from_snapshot
from ldtui.core.snapshot import HostSnapshot

RUNNING = "running"
ABSENT = "absent"
UNREACHABLE = "unreachable"
UNSETTLED = "unsettled"


@attrs.frozen(kw_only=True)
class RecoveryPlan:
    """The finding on the target and the one safe action, if any."""

    finding: str
    """``running``, ``absent``, ``unreachable`` or ``unsettled``."""
    explanation: tuple[str, ...]
    action: str | None
    """``destroy-source``, ``restore-source`` or ``None`` (nothing safe to do now)."""
    action_label: str = ""
    commands: tuple[tuple[str, ...], ...] = ()
    """``ldm`` argv lists to run on the source host, in order, stopping at the first failure."""


def destroy_source_commands(domain: str) -> tuple[tuple[str, ...], ...]:
    return (("remove-domain", domain),)


def restore_source_commands(domain: str) -> tuple[tuple[str, ...], ...]:
    return (("cancel-operation", "migration", domain),)


def assess(source_host: str, domain: str, target_host: str, target_domain: str,
           target: HostSnapshot | None, *, source_state: str = "suspended", detail: str = "") -> RecoveryPlan:
    """Decide from the target host's snapshot (``None``: it could not be reached, ``detail``
    says why), by the manager's own rule (``core.migration.errorstate.decide``)."""
    report = report_from_snapshot(target, target_domain)
    if target is None and detail:
        report = attrs.evolve(report, detail=detail)
    rec = decide(domain, source_state, target_host, target_domain, report)
    explanation = rec.lines
    if rec.action is ErrorAction.DESTROY_SOURCE:
        return RecoveryPlan(finding=RUNNING, explanation=explanation, action="destroy-source",
                            action_label=f"Destroy {domain} on {source_host}",
                            commands=destroy_source_commands(domain))
    if rec.action is ErrorAction.RESTORE_SOURCE:
        return RecoveryPlan(finding=ABSENT, explanation=explanation, action="restore-source",
                            action_label=f"Restore {domain} on {source_host}",
                            commands=restore_source_commands(domain))
    return RecoveryPlan(finding=UNREACHABLE if not report.reachable else UNSETTLED,
                        explanation=explanation, action=None)
