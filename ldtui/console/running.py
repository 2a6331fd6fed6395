"""Running ``ldm`` on a host through its link, each result a line in the event log."""

from __future__ import annotations

import asyncio
from typing import Callable

from ldtui.console.fleet import Event
from ldtui.console.source import CommandOutcome, HostSource
from ldtui.core.errors import LdmError


def describe(exc: BaseException) -> str:
    """A failure in the words of the event log and the failure dialogs."""
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def failure_title(hostname: str, exc: BaseException) -> str:
    if isinstance(exc, LdmError):
        return f"{hostname} refused the command"
    return f"{hostname} unreachable"


async def run_ldm(source: HostSource, hostname: str, argv: list[str], *, timeout: float,
                  record: Callable[[list[Event]], None], clock: Callable[[], float],
                  password: str | None = None, quiet: bool = False) -> CommandOutcome:
    """``ldm ARGV`` on ``hostname`` through ``source``; what came of it goes to ``record``
    (a failure always, the exit status unless ``quiet``)."""
    try:
        # The link's own call timeout must not end a long command before ours does.
        out = await asyncio.wait_for(source.run(argv, password=password, timeout=timeout), timeout + 5)
    except Exception as exc:
        record([Event(clock(), hostname, f"ldm {' '.join(argv)}: {describe(exc)}", "error")])
        raise
    if not quiet:
        first = (out.stderr or out.stdout).strip().splitlines()
        summary = f" — {first[0]}" if first and out.exit_code else ""
        record([Event(clock(), hostname, f"ldm {' '.join(argv)} → exit {out.exit_code}{summary}",
                      "info" if out.exit_code == 0 else "error")])
    return out
