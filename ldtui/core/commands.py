"""The ``ldm`` command language: one entry point, :func:`execute` (docs/CONTRACTS.md).

``execute`` turns an argv into what ``ldm`` prints and its exit status. It never raises for
anything an operator can do wrong: refusals (``LdmError``) print their one line (and any
hint lines) on stderr with status 1; a malformed command line prints the reason and the
subcommand's usage. Authorization is checked first, before the command line is even read
``list``/``list-*`` need ``solaris.ldoms.read``, every change needs
``solaris.ldoms.write``. A failure of our own is reported as one ``Internal error:`` line
with status 2, never as a traceback on an operator's terminal.

Subcommands live by idea in ``cmd_list``, ``cmd_domain``, ``cmd_vio`` and ``cmd_migrate``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs

from ldtui.core import cmd_domain, cmd_list, cmd_migrate, cmd_vio  # noqa: F401  (they register subcommands)
from ldtui.core.cmd_args import COMMANDS, ORDERED, CommandSpec, Context
from ldtui.core.cmd_domain import PartialFailure
from ldtui.core.cmd_migrate import CancelMigrationRequest, MigrationRequest
from ldtui.core.errors import LdmError, UsageError
from ldtui.core.model import READ

__all__ = ["COMMANDS", "CancelMigrationRequest", "CommandResult", "MigrationRequest", "execute", "command_names",
           "overview"]

log = logging.getLogger(__name__)


@attrs.frozen
class CommandResult:
    """What ``ldm`` prints and returns. ``request`` carries a migration or a migration cancel
    for the network layer to perform; the texts are then empty and ``exit_code`` is 0."""

    stdout: str
    stderr: str
    exit_code: int
    request: MigrationRequest | CancelMigrationRequest | None = None


_COMMON = ("list-domain", "list-devices", "list-services", "add-domain", "bind-domain", "start-domain",
           "stop-domain", "migrate-domain", "cancel-operation")
"""What an operator most likely meant, for the hint after an unknown subcommand."""


def _ordered() -> list[CommandSpec]:
    # Listings first, then the changes in the order they are declared.
    return sorted(ORDERED, key=lambda s: s.auth != READ)


def command_names() -> list[str]:
    """The subcommands' own names (not their aliases), in the order ``ldm`` lists them."""
    return [spec.name for spec in _ordered()]


def overview() -> str:
    """``ldm`` without a subcommand, or ``ldm --help``: every subcommand and its aliases."""
    lines = ["Usage:", "    ldm <subcommand> [options] [operands]", "    ldm -V", "", "Subcommands:"]
    for spec in _ordered():
        names = spec.name + (f" ({', '.join(spec.aliases)})" if spec.aliases else "")
        lines.append(f"    {names:<52} {spec.summary}".rstrip())
    lines.append("Use 'ldm <subcommand> --help' for the usage of one subcommand.")
    return "\n".join(lines) + "\n"


def version_banner(machine: Any) -> str:
    """``ldm -V``: the manager's version and the firmware it runs on, in the layout of the
    1.x releases."""
    return (f"\nLogical Domain Manager (v {machine.manager_version})\n"
            "\tHypervisor control protocol v 1.3\n"
            "\tUsing Hypervisor MD v 0.1\n\n"
            "System PROM:\n"
            f"\tSystem Firmware\tv. {machine.firmware}\n")


def _fail(text: str, code: int = 1, stdout: str = "") -> CommandResult:
    return CommandResult(stdout=stdout, stderr=text if text.endswith("\n") else text + "\n", exit_code=code)


def execute(manager: Any, user: str, argv: list[str], *, password: str | None = None,
            read_file: Callable[[str], str | bytes] | None = None) -> CommandResult:
    """Run one ``ldm`` command line (``argv`` without the leading ``ldm``) as ``user``."""
    argv = list(argv)
    if not argv:
        return _fail(overview())
    if argv[0] in ("-h", "--help", "help"):
        return CommandResult(stdout=overview(), stderr="", exit_code=0)
    if argv[0] == "-V" and len(argv) == 1:
        return CommandResult(stdout=version_banner(manager.machine), stderr="", exit_code=0)
    spec: CommandSpec | None = COMMANDS.get(argv[0])
    if spec is None:
        return _fail(f"Unknown subcommand: {argv[0]}\n"
                     f"Common subcommands: {', '.join(_COMMON)}\nRun 'ldm --help' for the full list.")
    try:
        manager.authorize(user, spec.auth)
        if any(w in ("-h", "--help") for w in argv[1:2]):
            return CommandResult(stdout=spec.usage + "\n", stderr="", exit_code=0)
        out = spec.handler(Context(manager, user, password, read_file), argv[1:], spec)
    except PartialFailure as e:
        return _fail(e.text(), e.exit_code or 1, stdout=e.done)
    except UsageError as e:
        return _fail(e.text(), 1)
    except LdmError as e:
        return _fail(e.text(), e.exit_code or 1)
    except Exception as e:  # a bug of ours: one line for the operator, the trace for the log
        log.exception("ldm %s failed", argv[0])
        detail = " ".join(f"{type(e).__name__}: {e}".split())
        return _fail(f"Internal error: {detail}", 2)
    return CommandResult(stdout=out.stdout, stderr="", exit_code=0, request=out.request)
