"""The refusals a migration's lock and its two sides give, each worded in one place."""

from __future__ import annotations

from ldtui.core.errors import LdmError


def being_migrated(name: str) -> LdmError:
    """Nothing changes a domain, and nothing starts moving it again, while it migrates."""
    return LdmError("migrating", f"Operation not allowed: domain {name} is being migrated")


def cancel_on_target(name: str, source_host: str | None) -> LdmError:
    """Only the source can cancel: before the handoff it alone decides whether the domain
    runs there again."""
    return LdmError("cancel-on-target",
                    f"Migration of LDom {name} can only be cancelled on the source machine "
                    f"{source_host or ''}".rstrip())
