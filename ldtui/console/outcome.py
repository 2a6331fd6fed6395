"""A migration the console asked for: submitting it to the source host, and what to tell the operator.

The source's manager takes the request as a value (``HostLink.migrate``) and answers with a
``MigrationResult``; a host that takes only a command line (a manager from before the
``migrate`` request, an in-memory test host) is given the request's ``ldm migrate-domain``
line and its printed answer is read back by ``MigrationResult.from_output``, the one place
that text is read. Either way the console decides on the result's status, never on text.
"""

from __future__ import annotations

from typing import Any

import attrs

from ldtui.core.cmd_migrate import MigrationResult, MigrationStatus
from ldtui.core.errors import LdmError

NO_SUCH_METHOD = "no-such-method"
"""The code a manager answers a method it does not know with."""


def takes_requests(source: Any) -> bool:
    """Whether ``source`` (a host link) takes a migration as a request value."""
    return callable(getattr(source, "migrate", None))


def too_old(exc: BaseException) -> bool:
    """Whether ``exc`` is a manager saying it does not know the ``migrate`` request."""
    return isinstance(exc, LdmError) and exc.code == NO_SUCH_METHOD


def from_command_line(out: Any, *, dry_run: bool) -> MigrationResult:
    """The result of a migration run as ``ldm migrate-domain`` (``out`` has ``stdout``,
    ``stderr`` and ``exit_code``)."""
    return MigrationResult.from_output(out.stdout, out.stderr, out.exit_code, dry_run=dry_run)


def event_text(argv: list[str], result: MigrationResult) -> tuple[str, str]:
    """The event log's line for a migration that the source's manager answered, and its
    level: the same words as for any ``ldm`` command the console runs."""
    first = "\n".join(result.lines).strip().splitlines()
    summary = f" — {first[0]}" if first and result.exit_code else ""
    return f"ldm {' '.join(argv)} → exit {result.exit_code}{summary}", "info" if result.exit_code == 0 else "error"


@attrs.frozen(kw_only=True)
class Toast:
    text: str
    severity: str = "information"


@attrs.frozen(kw_only=True)
class Dialog:
    title: str
    lines: tuple[str, ...]
    failure: bool


@attrs.frozen(kw_only=True)
class Telling:
    """What the console shows when a migration it started has ended: a toast, a dialog, or
    both (the toast first). ``check_error_state``: look at the source domain again, and if
    it is left in the error state, say so in the dialog (:func:`error_state_lines`)."""

    toast: Toast | None = None
    dialog: Dialog | None = None
    check_error_state: bool = False


def what(request: Any) -> str:
    """``ldg1 from t5440-sys-1 to t5440-sys-2 as ldg-tgt``: one migration in the operator's words."""
    text = f"{request.domain} from {request.source_host} to {request.target_host}"
    return text + (f" as {request.new_name}" if request.new_name else "")


def started(request: Any) -> Toast:
    return Toast(text=f"{'Dry run' if request.dry_run else 'Migration'} of {what(request)} started")


def telling(request: Any, result: MigrationResult, *, asked_to_cancel: bool) -> Telling:
    """What to tell the operator about ``result``. ``asked_to_cancel``: this console asked
    to cancel it, and that cancel's own toast has said so already."""
    lines = tuple(line for line in result.lines if line.strip())
    ok = result.succeeded
    if request.dry_run:
        unmet = [line for line in result.unmet if line.strip()]
        count = f"{len(unmet)} unmet requirement" + ("" if len(unmet) == 1 else "s")
        title = f"Dry run: {what(request)} would succeed" if ok else f"Dry run: {what(request)} would fail — {count}"
        return Telling(dialog=Dialog(title=title, lines=lines or ("every check passed",), failure=not ok))
    if ok:
        return Telling(toast=Toast(text=f"Migration of {what(request)} completed"))
    if result.status is MigrationStatus.CANCELLED:
        # An operator asked for it: no alarm. Asked from here, the cancel's own toast said it
        # already; asked elsewhere (cancel-operation on the host), this says it.
        if asked_to_cancel:
            return Telling()
        return Telling(toast=Toast(text=f"Migration of {what(request)} cancelled; {request.domain} stays on "
                                        f"{request.source_host}", severity="warning"))
    return Telling(toast=Toast(text=f"Migration of {request.domain} failed", severity="error"),
                   dialog=Dialog(title=f"Migration of {what(request)} failed", lines=lines, failure=True),
                   check_error_state=True)


def error_state_lines(request: Any) -> tuple[str, ...]:
    """Added to a failure's dialog when the source domain is left in the error state."""
    return ("", f"{request.domain} on {request.source_host} is now in the migration error state "
            "(flag e): close this, select it and press r to recover.")
