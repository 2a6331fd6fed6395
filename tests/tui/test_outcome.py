"""What the console tells the operator when a migration it started ends, read off the result's status."""

from __future__ import annotations

import pytest

from ldtui.console import outcome
from ldtui.core.cmd_migrate import MigrationResult, MigrationStatus
from ldtui.screens.migrate import MigrateRequest
from tests.tui.fakes import Result

REQ = MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="root")
DRY = MigrateRequest(source_host="t5440-sys-1", domain="ldg1", target_host="t5440-sys-2", user="root",
                     dry_run=True, new_name="ldg-tgt")


def test_a_completed_migration_is_one_toast():
    told = outcome.telling(REQ, MigrationResult(status=MigrationStatus.COMPLETED), asked_to_cancel=False)
    assert told == outcome.Telling(toast=outcome.Toast(text="Migration of ldg1 from t5440-sys-1 to t5440-sys-2 "
                                                            "completed"))


def test_a_dry_run_counts_its_unmet_requirements():
    result = MigrationResult.failure("ldg1", ["Not enough memory", "No crypto unit"], dry_run=True)
    told = outcome.telling(DRY, result, asked_to_cancel=False)
    assert told.dialog.title == "Dry run: ldg1 from t5440-sys-1 to t5440-sys-2 as ldg-tgt would fail — " \
                                "2 unmet requirements"
    assert told.dialog.lines == ("Not enough memory", "No crypto unit",
                                 "Domain Migration of LDom ldg1 would fail if attempted")
    passed = outcome.telling(DRY, MigrationResult(status=MigrationStatus.PASSED), asked_to_cancel=False)
    assert (passed.dialog.lines, passed.dialog.failure) == (("every check passed",), False)


@pytest.mark.parametrize("asked,toast", [
    (True, None),
    (False, outcome.Toast(text="Migration of ldg1 from t5440-sys-1 to t5440-sys-2 cancelled; ldg1 stays on "
                               "t5440-sys-1", severity="warning")),
])
def test_a_cancelled_migration_is_no_alarm(asked, toast):
    result = MigrationResult.failure("ldg1", ["Migration of LDom ldg1 was cancelled"], dry_run=False,
                                     status=MigrationStatus.CANCELLED)
    assert outcome.telling(REQ, result, asked_to_cancel=asked) == outcome.Telling(toast=toast)


@pytest.mark.parametrize("status", [MigrationStatus.FAILED, MigrationStatus.ERROR, MigrationStatus.REFUSED,
                                    MigrationStatus.INVALID])
def test_every_other_end_is_a_failure_dialog_that_looks_at_the_error_state(status):
    told = outcome.telling(REQ, MigrationResult.refusal(status, ["Lost connection"]), asked_to_cancel=False)
    assert told.toast == outcome.Toast(text="Migration of ldg1 failed", severity="error")
    assert (told.dialog.title, told.dialog.lines, told.check_error_state) == (
        "Migration of ldg1 from t5440-sys-1 to t5440-sys-2 failed", ("Lost connection",), True)


def test_a_command_lines_answer_reads_as_the_same_result():
    cancelled = Result(stderr="Migration of LDom ldg1 was cancelled\nDomain Migration of LDom ldg1 failed\n",
                       exit_code=1)
    typed = MigrationResult.failure("ldg1", ["Migration of LDom ldg1 was cancelled"], dry_run=False,
                                    status=MigrationStatus.CANCELLED)
    assert outcome.from_command_line(cancelled, dry_run=False) == typed
    assert outcome.from_command_line(Result(), dry_run=True).status is MigrationStatus.PASSED
    assert outcome.event_text(["migrate-domain", "ldg1", "t5440-sys-2"], typed) == (
        "ldm migrate-domain ldg1 t5440-sys-2 → exit 1 — Migration of LDom ldg1 was cancelled", "error")
