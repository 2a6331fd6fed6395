"""The names this module had before it was split by job: restart, error-state actions, cancel."""

from ldtui.core.migration.cancel import cancel_migration
from ldtui.core.migration.errorstate_actions import destroy_after_error, error_entry, restore_from_error
from ldtui.core.migration.restart import recover

__all__ = ["cancel_migration", "destroy_after_error", "error_entry", "recover", "restore_from_error"]
