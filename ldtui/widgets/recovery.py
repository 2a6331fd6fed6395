"""What to do about a domain left in the migration error state (SPEC G-13, T-6).

After all state was sent and the link died before the target confirmed its resume, the
source keeps a suspended copy flagged ``e``. Exactly one action is safe, and which one
depends only on what the target host says now:

* target domain running normally → the migration did complete: destroy the source copy;
* target domain absent          → the target cleaned up: restore the source with
                                  ``cancel-operation migration``;
* target unreachable, or its copy in any other state → do nothing destructive; wait and
  ask again.

A pure function of a snapshot, so each branch is tested without any network.
"""

from __future__ import annotations

import attrs

from ldtui.core.snapshot import DomainRow, HostSnapshot

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
           target: HostSnapshot | None, *, source_state: str = "suspended") -> RecoveryPlan:
    """Decide from the target host's snapshot (``None``: it could not be reached).

    The same rule as ``core.migration.errorstate.assess_error`` (which decides on the
    manager's own records): a suspended (active) source needs its target *active*; the
    source of a bound domain's migration needs only its target to exist and be settled.
    """
    where = f"{target_domain} on {target_host}"
    if target is None:
        return RecoveryPlan(
            finding=UNREACHABLE,
            explanation=(
                f"The target host {target_host} cannot be reached, so nobody can tell whether",
                f"{where} is running. Destroying or restoring {domain} on {source_host} now",
                "could leave two running copies or none. Restore the connection and ask again.",
            ),
            action=None,
        )
    row: DomainRow | None = next((d for d in target.domains if d.name == target_domain), None)
    if row is None:
        return RecoveryPlan(
            finding=ABSENT,
            explanation=(
                f"{target_host} has no domain {target_domain}: the target cleaned up and the",
                f"copy on {source_host} is still the master version of {domain}.",
                f"The safe action restores {domain} on {source_host} as it was before the migration",
                f"(ldm cancel-operation migration {domain}).",
            ),
            action="restore-source",
            action_label=f"Restore {domain} on {source_host}",
            commands=restore_source_commands(domain),
        )
    settled = row.flags[5:6] in ("-", "")
    if settled and (row.state == "active" or source_state != "suspended"):
        return RecoveryPlan(
            finding=RUNNING,
            explanation=(
                f"{where} is {row.state} with flags {row.flags}: the migration completed.",
                f"The copy of {domain} left on {source_host} is out of date and must go.",
                f"The safe action destroys {domain} on {source_host} (ldm remove-domain {domain}).",
            ),
            action="destroy-source",
            action_label=f"Destroy {domain} on {source_host}",
            commands=destroy_source_commands(domain),
        )
    return RecoveryPlan(
        finding=UNSETTLED,
        explanation=(
            f"{where} exists but is {row.state} with flags {row.flags}: the target has not",
            "settled yet. Neither destroying nor restoring the source is safe now; ask again",
            "in a moment.",
        ),
        action=None,
    )
