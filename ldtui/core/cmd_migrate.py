"""``migrate-domain`` and ``cancel-operation``: a migration asked for, checked, and what became of it.

The core does no network I/O: a migration command is parsed and checked here and handed
back as a request value that the network layer performs. A console that asks for a
migration as a value (not a command line) goes through the same checks,
:func:`migration_request`, and gets a :class:`MigrationResult` back. Reconfiguration
cancels, which are local, are done here.

The target is ``[user@]host[:new-name]`` as in the seed (``root@t5440-sys-2:ldg-tgt``),
read by ``core.migration_target``: a colon always introduces the new name, so a port can
never be mistaken for one; a non-default SSH port of the target's ``ldmd`` is given as
``-P port``; an IPv6 address is written in brackets (``[fd00::2]:ldg-tgt``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

import attrs

from ldtui.core.cmd_args import COMMANDS, Args, CommandSpec, Context, Output, command, parse_rate
from ldtui.core.cmd_domain import notices
from ldtui.core.errors import LdmError
from ldtui.core.migration_target import MigrationTarget

@attrs.frozen(kw_only=True)
class MigrationRequest:
    """``ldm migrate-domain`` as the operator asked for it; the network layer performs it.

    ``password`` is the target password when ``-p FILE`` was readable here or the caller
    supplied it; it never appears in ``repr``, so it is never logged. ``None`` means: ask for it
    (``Target Password:``), or read ``password_file`` where the ``ldm`` command runs.
    """

    source: str
    user: str
    host: str
    new_name: str | None = None
    dry_run: bool = False
    password_file: str | None = None
    live: bool = False
    port: int | None = None
    downtime_ms: float | None = None
    """Live migration's downtime limit (``-d MS`` / ``downtime=MS``); None: the default (300 ms)."""
    bandwidth: int | None = None
    """Cap of the migration's link in bytes a second (``-b RATE`` / ``bandwidth=RATE``); None: no cap."""
    streams: int | None = None
    """Data connections (``--streams N``); None: the host's setting."""
    tunnelled: bool = False
    """``--tunnelled``: every byte through the SSH link, no direct data connection."""
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def target_name(self) -> str:
        """The domain's name on the target: the new name, or its own."""
        return self.new_name or self.source


@attrs.frozen
class CancelMigrationRequest:
    """``ldm cancel-operation migration NAME``: performed by the migration engine."""

    name: str


def parse_target(text: str, default_user: str) -> tuple[str, str, str | None]:
    """``[user@]host[:new-name]`` → ``(user, host, new_name)``."""
    target = MigrationTarget.parse(text)
    return target.user or default_user, target.host, target.name


def _first_line(data: str | bytes) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text.splitlines()[0] if text else ""


MAX_STREAMS = 8


@command("migrate-domain", "migrate-domain [-n] [-p filename] [-P port] [-b rate] [-d ms] [--live] "
         "[--streams n] [--tunnelled] [bandwidth=rate] [downtime=ms] source-ldom [user@]target-host[:target-ldom]",
         aliases=("migrate",), summary="move a domain to another host",
         notes=("-n checks only (dry run); -p reads the target password from the file's first line;",
                "-P is the SSH port of ldmd on the target; --live copies memory while the domain runs;",
                "-d MS (or downtime=MS) limits a live migration's final suspend (default 300 ms);",
                "-b RATE (or bandwidth=RATE, e.g. 200M) caps the bytes on the wire, after compression:",
                "the status shows the memory moved a second (RATE) and the wire's rate against the cap;",
                "--streams N opens N direct data connections (default: the host's setting);",
                "--tunnelled sends everything through the SSH link instead"),
         flags="n", valued="pPdb", long=("live", "tunnelled"), long_valued=("streams",),
         props=("downtime", "bandwidth"))
def migrate_domain(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    source, target = a.exact("source-ldom", "[user@]target-host[:target-ldom]")
    ctx.manager.domain(source)  # an unknown domain is refused here, before any password prompt
    user, host, new_name = parse_target(target, ctx.user)
    port = None
    if "P" in a.values:
        text = a.values["P"]
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise LdmError("bad-port", f"Invalid port: {text}")
        port = int(text)
    downtime = a.values.get("d", a.props.get("downtime"))
    downtime_ms = None
    if downtime is not None:
        try:
            downtime_ms = float(downtime.removesuffix("ms"))
        except ValueError:
            downtime_ms = -1.0
        if not _downtime_ok(downtime_ms):
            raise LdmError("bad-downtime", f"Invalid downtime limit: {downtime} (milliseconds, e.g. 300)")
    rate = a.values.get("b", a.props.get("bandwidth"))
    bandwidth = None
    if rate is not None:
        try:
            bandwidth = parse_rate(rate)
        except LdmError:
            bandwidth = 0
        if bandwidth <= 0:
            raise LdmError("bad-bandwidth", f"Invalid bandwidth: {rate} (bytes a second, e.g. 200M)")
    streams = None
    if "streams" in a.values:
        text = a.values["streams"]
        if not text.isdigit() or not 1 <= int(text) <= MAX_STREAMS:
            raise LdmError("bad-streams", f"Invalid number of streams: {text} (1 to {MAX_STREAMS})")
        streams = int(text)
        if "tunnelled" in a.flags:
            raise a.error("Options --streams and --tunnelled exclude each other")
    request = MigrationRequest(source=source, user=user, host=host, new_name=new_name, dry_run="n" in a.flags,
                               password_file=a.values.get("p"), live="live" in a.flags, port=port,
                               downtime_ms=downtime_ms, bandwidth=bandwidth, streams=streams,
                               tunnelled="tunnelled" in a.flags)
    return Output(request=migration_request(ctx, request))


def _downtime_ok(ms: float) -> bool:
    return 0 < ms <= 600_000


def migration_request(ctx: Context, request: MigrationRequest) -> MigrationRequest:
    """``request`` checked as ``ldm migrate-domain`` checks its command line, with the
    target password settled: the one way into a migration, for a command line and for a
    console's request value alike. An empty ``user`` is the caller's own (``ctx.user``).

    Refusals are the command's own (``LdmError``), in the command's order: an unknown
    domain before the target, every option before the password file is read.
    """
    ctx.manager.domain(request.source)
    target = MigrationTarget(host=request.host, user=request.user or None, name=request.new_name).check()
    if target.host.lower() == ctx.manager.hostname.lower():
        # Checked before any peer lookup: the peers' hint ("add it to [peers]") would mislead.
        raise LdmError("target-is-source", f"Target host {target.host} is the host LDom {request.source} runs on: "
                       "a domain can only be migrated to another machine")
    port, downtime_ms, bandwidth, streams = request.port, request.downtime_ms, request.bandwidth, request.streams
    if port is not None and not 0 < port < 65536:
        raise LdmError("bad-port", f"Invalid port: {port}")
    if downtime_ms is not None and not _downtime_ok(downtime_ms):
        raise LdmError("bad-downtime", f"Invalid downtime limit: {downtime_ms:g} (milliseconds, e.g. 300)")
    if bandwidth is not None and bandwidth <= 0:
        raise LdmError("bad-bandwidth", f"Invalid bandwidth: {bandwidth} (bytes a second, e.g. 200M)")
    if streams is not None:
        if not 1 <= streams <= MAX_STREAMS:
            raise LdmError("bad-streams", f"Invalid number of streams: {streams} (1 to {MAX_STREAMS})")
        if request.tunnelled:
            raise LdmError("usage", "Options --streams and --tunnelled exclude each other")
    password = request.password if request.password is not None else ctx.password
    password_file = request.password_file
    if password is None and password_file is not None and ctx.read_file is not None:
        try:
            password = _first_line(ctx.read_file(password_file))
        except OSError as e:
            raise LdmError("password-file", f"Unable to read password file {password_file}: "
                           f"{e.strerror or e}") from None
        if not password:
            raise LdmError("password-file", f"Password file {password_file} is empty")
    return attrs.evolve(request, user=target.user or ctx.user, password=password)


def check_migration(manager: Any, user: str, request: MigrationRequest, *, password: str | None = None,
                    read_file: Callable[[str], str | bytes] | None = None) -> MigrationRequest | MigrationResult:
    """A console's migration request as ``ldm migrate-domain`` would take it from ``user``:
    the request to perform, or the refusal ``ldm`` would print (``MigrationStatus.INVALID``,
    the same lines and exit status as ``core.commands.execute``)."""
    try:
        manager.authorize(user, COMMANDS["migrate-domain"].auth)
        return migration_request(Context(manager, user, password, read_file), request)
    except LdmError as e:
        return MigrationResult.refusal(MigrationStatus.INVALID, e.text().splitlines(), exit_code=e.exit_code or 1)
    except Exception as e:  # a bug of ours: one line for the operator, as execute says it
        logging.getLogger(__name__).exception("migration request %r failed", request)
        detail = " ".join(f"{type(e).__name__}: {e}".split())
        return MigrationResult.refusal(MigrationStatus.INVALID, [f"Internal error: {detail}"], exit_code=2)


def _lines(texts) -> tuple[str, ...]:
    """Texts as printed lines; a text of several lines (a refusal and its hints) is split so
    that joining the lines prints the same bytes."""
    return tuple(line for text in texts for line in str(text).split("\n"))


class MigrationStatus(str, enum.Enum):
    """How a migration ended, as the engines say it (their ``Outcome.status``) and as a
    console reads it; a ``str`` so it compares equal to the engines' words."""

    COMPLETED = "completed"
    """The domain runs on the target; the source's copy is gone."""
    PASSED = "passed"
    """A dry run: every check passed, nothing was moved."""
    FAILED = "failed"
    """Refused by a check or ended by a failure before the handoff; the source runs on."""
    CANCELLED = "cancelled"
    """An operator cancelled it before the handoff; the source runs on."""
    REFUSED = "refused"
    """The target's manager could not be reached or would not take part."""
    ERROR = "error"
    """The handoff was not confirmed: the source is left in the migration error state."""
    INVALID = "invalid"
    """The request itself was refused (unknown domain, bad target, not authorized); no
    migration began."""

    @property
    def succeeded(self) -> bool:
        return self in (MigrationStatus.COMPLETED, MigrationStatus.PASSED)


@attrs.frozen(kw_only=True)
class MigrationResult:
    """What became of one migration request, for a program to act on.

    ``lines`` are exactly what ``ldm migrate-domain`` prints for it (none for a success);
    ``unmet`` are the reasons among them (every unmet requirement of a dry run), without
    the closing ``Domain Migration of LDom … failed`` line; ``exit_code`` is ``ldm``'s.
    """

    status: MigrationStatus
    lines: tuple[str, ...] = ()
    unmet: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    exit_code: int = 0

    @classmethod
    def failure(cls, name: str, reasons, *, dry_run: bool, status: MigrationStatus = MigrationStatus.FAILED,
                notes=()) -> MigrationResult:
        """``reasons``, closed by the line that says the migration of ``name`` failed (or
        would fail, for a dry run)."""
        end = "would fail if attempted" if dry_run else "failed"
        reasons = _lines(reasons)
        return cls(status=status, lines=(*reasons, f"Domain Migration of LDom {name} {end}"), unmet=reasons,
                   notes=tuple(notes), exit_code=1)

    @classmethod
    def refusal(cls, status: MigrationStatus, lines, *, exit_code: int = 1) -> MigrationResult:
        """Lines printed as they are, with no closing line (the target's manager would not
        take part; the request itself was refused)."""
        lines = _lines(lines)
        return cls(status=status, lines=lines, unmet=lines, exit_code=exit_code)

    @classmethod
    def from_output(cls, stdout: str, stderr: str, exit_code: int, *, dry_run: bool) -> MigrationResult:
        """What ``ldm migrate-domain`` printed, read back into a result: the one reader of
        that text, for a host that takes only a command line (a manager older than the
        ``migrate`` request). Blank lines are dropped."""
        lines = tuple(line for line in (stdout + stderr).splitlines() if line.strip())
        if exit_code == 0:
            return cls(status=MigrationStatus.PASSED if dry_run else MigrationStatus.COMPLETED, lines=lines)
        cancelled = any(line.endswith(" was cancelled") for line in lines)
        return cls(status=MigrationStatus.CANCELLED if cancelled else MigrationStatus.FAILED, lines=lines,
                   unmet=tuple(line for line in lines if not line.startswith("Domain Migration of LDom")),
                   exit_code=exit_code)

    @property
    def succeeded(self) -> bool:
        return self.status.succeeded


@command("cancel-operation", "cancel-operation (migration | reconf) ldom", aliases=("cancel-op",),
         summary="cancel a migration or a delayed reconfiguration")
def cancel_operation(ctx: Context, argv: list[str], spec: CommandSpec) -> Output:
    a = Args(argv, spec)
    what, name = a.exact("migration | reconf", "ldom")
    if what == "reconf":
        return notices(ctx.manager.cancel_reconf(name))
    if what == "migration":
        ctx.manager.domain(name)
        return Output(request=CancelMigrationRequest(name))
    raise a.error(f"Invalid operation: {what} (expected migration or reconf)")
