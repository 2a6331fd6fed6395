"""What ``ldm`` says and asks on the operator's terminal: its one-line failures and its no-echo prompt."""

from __future__ import annotations

import getpass
import sys


class ClientError(Exception):
    """Something this side can say in one line; exit status 255 like ssh. ``detail`` is
    printed before it (the changed-key warning block)."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def ask_secret(prompt: str) -> str | None:
    """A no-echo prompt on the terminal; None when the operator ends it with ctrl-D."""
    try:
        return getpass.getpass(prompt)
    except EOFError:
        # getpass ends the prompt's line only for a line typed: end it, so that what is
        # printed next starts on a line of its own.
        try:
            with open("/dev/tty", "w") as tty:
                tty.write("\n")
        except OSError:
            sys.stderr.write("\n")
            sys.stderr.flush()
        return None
