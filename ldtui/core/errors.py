"""Errors are values with a code (for tests and scripts) and a message (for operators)."""

from __future__ import annotations


class LdmError(Exception):
    """An operation was refused. ``message`` is the one line an operator sees.

    ``lines`` may carry further lines (hints, every unmet requirement of a dry run) that are
    printed after the message.
    """

    def __init__(self, code: str, message: str, *, lines: tuple[str, ...] = (), exit_code: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.lines = tuple(lines)
        self.exit_code = exit_code

    def text(self) -> str:
        return "\n".join((self.message, *self.lines))

    def __repr__(self) -> str:
        return f"LdmError({self.code!r}, {self.message!r})"


class UsageError(LdmError):
    """The command line itself is wrong; the subcommand's usage follows the message."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__("usage", message, lines=tuple(usage.splitlines()) if usage else (), exit_code=1)
        self.usage = usage


class AuthError(LdmError):
    def __init__(self, message: str) -> None:
        super().__init__("not-authorized", message)
