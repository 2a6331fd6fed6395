"""``migrate-domain`` and ``cancel-operation`` (SPEC G-1, G-10, G-12, G-13, G-14, M-4).

The core does no network I/O: a migration command is parsed and checked here and handed
back as a request value that the network layer performs (SPEC G-2). Reconfiguration
cancels, which are local, are done here.

The target is ``[user@]host[:new-name]`` as in the seed (``root@t5440-sys-2:ldg-tgt``).
A colon always introduces the new name, so a port can never be mistaken for one: a
non-default SSH port of the target's ``ldmd`` is given as ``-P port``; an IPv6 address is
written in brackets (``[fd00::2]:ldg-tgt``).
"""

from __future__ import annotations

import re

import attrs

from ldtui.core.cmd_args import Args, CommandSpec, Context, Output, command, parse_rate
from ldtui.core.cmd_domain import notices
from ldtui.core.errors import LdmError

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-_]*[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._\-]*$")


@attrs.frozen(kw_only=True)
class MigrationRequest:
    """``ldm migrate-domain`` as the operator asked for it; the network layer performs it.

    ``password`` is the target password when ``-p FILE`` was readable here or the caller
    supplied it; it never appears in ``repr`` (SPEC S-5). ``None`` means: ask for it
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
        """The domain's name on the target: the new name, or its own (SPEC G-14)."""
        return self.new_name or self.source


@attrs.frozen
class CancelMigrationRequest:
    """``ldm cancel-operation migration NAME``: performed by the migration engine (G-12)."""

    name: str


def parse_target(text: str, default_user: str) -> tuple[str, str, str | None]:
    """``[user@]host[:new-name]`` → ``(user, host, new_name)``."""
    user, at, rest = text.rpartition("@") if "@" in text else ("", "", text)
    if at and not _USER.match(user):
        raise LdmError("bad-target", f"Invalid user name in target: {text}")
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or not host or not re.fullmatch(r"[0-9A-Fa-f:.]+", host):
            raise LdmError("bad-target", f"Invalid target host: {text}")
        if tail and not tail.startswith(":"):
            raise LdmError("bad-target", f"Invalid target: {text} (expected [user@]host[:ldom])")
        new_name = tail[1:] if tail else None
    else:
        host, colon, new = rest.partition(":")
        if not host or not _HOST.match(host):
            raise LdmError("bad-target", f"Invalid target host: {text}")
        new_name = new if colon else None
    if new_name is not None and (not new_name or ":" in new_name or "@" in new_name):
        raise LdmError("bad-target", f"Invalid target domain name: {text} (expected [user@]host[:ldom])")
    return (user if at else default_user), host, new_name


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
        if not 0 < downtime_ms <= 600_000:
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
    password = ctx.password
    password_file = a.values.get("p")
    if password is None and password_file is not None and ctx.read_file is not None:
        try:
            password = _first_line(ctx.read_file(password_file))
        except OSError as e:
            raise LdmError("password-file", f"Unable to read password file {password_file}: "
                           f"{e.strerror or e}") from None
        if not password:
            raise LdmError("password-file", f"Password file {password_file} is empty")
    request = MigrationRequest(source=source, user=user, host=host, new_name=new_name, dry_run="n" in a.flags,
                               password_file=password_file, live="live" in a.flags, port=port, password=password,
                               downtime_ms=downtime_ms, bandwidth=bandwidth, streams=streams,
                               tunnelled="tunnelled" in a.flags)
    return Output(request=request)


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
