"""Domain migration (docs/ENGINE.md): sans-IO engines, their executors, the journal.

``SourceMigration`` / ``TargetMigration`` decide; ``SourceRun`` / ``TargetRun`` apply their
decisions to a Manager; a transport (``ldtui.net.migrate`` or an in-memory queue in tests)
carries the encoded messages between two hosts.
"""

from ldtui.core.migration.codec import CodecError, decode, encode
from ldtui.core.migration.errorstate import (
    ErrorAction, Recommendation, TargetReport, assess_error, resolve_error, target_report,
)
from ldtui.core.migration.events import Cancel, LinkLost, Outcome, Timeout
from ldtui.core.migration.jobs import Jobs, jobs_of
from ldtui.core.migration.cancel import cancel_migration
from ldtui.core.migration.errorstate_actions import restore_from_error
from ldtui.core.migration.restart import recover
from ldtui.core.migration.source import (
    SourceMigration, SourceState, connection_refused_lines, unknown_target_lines,
)
from ldtui.core.migration.source_run import SourceRun, new_migration_id
from ldtui.core.migration.target import TargetMigration, TargetState
from ldtui.core.migration.target_run import TargetRun

__all__ = [
    "Cancel", "CodecError", "ErrorAction", "Jobs", "LinkLost", "Outcome", "Recommendation",
    "SourceMigration", "SourceRun", "SourceState", "TargetMigration", "TargetReport", "TargetRun",
    "TargetState", "Timeout", "assess_error", "cancel_migration", "connection_refused_lines", "decode",
    "encode", "jobs_of", "new_migration_id", "recover", "resolve_error", "restore_from_error",
    "target_report", "unknown_target_lines",
]
