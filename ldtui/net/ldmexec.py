"""A link to a host the console reaches through Oracle's ``ldm`` over stock SSH (protocol ``ldm``).

A real Oracle VM Server for SPARC control domain has no ``ldtui-rpc`` service, but it runs
``ldm`` for whoever logs in: ``ssh root@control-domain ldm list -l -p``. This link keeps one
SSH connection — logged in once, routed like any other link, through jump hosts too — and
opens an ``exec`` channel on it for each command. A snapshot is two listings read at once
(``list -l -p``, ``list -o status -p``), ``list-devices -a -p`` when what the domains hold
changed, and the banner of ``ldm -V`` read when the link comes up. ``ldm migrate-domain`` runs in a session with a
pseudo-terminal, as it asks ``Target Password:`` on one; the link answers the prompt and
never puts the password on a command line or in what it returns. Our own ``ldmd`` prints
the same bytes over ``exec``, so it serves as this link's test host.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import time

import asyncssh

from ldtui.core.commands import CommandResult
from ldtui.core.errors import LdmError
from ldtui.core.ldm_output import Devices, read_devices, read_domains, read_status, read_version
from ldtui.core.ldm_snapshot import JobTracker, build_snapshot
from ldtui.core.parseable import ParseError
from ldtui.core.snapshot import HostSnapshot
from ldtui.net.hostlink import HostLink, LinkDown

log = logging.getLogger("ldtui.net.ldmexec")

PROTOCOL = "ldm"
LISTING = ("list", "-l", "-p")
STATUS = ("list", "-o", "status", "-p")
DEVICES = ("list-devices", "-a", "-p")
POLLED = (LISTING, STATUS)
"""The listings every snapshot is read from, run at once on one connection."""
DEVICES_MAX_AGE = 10.0
"""Seconds a host's ``list-devices`` is reused while its domains' states and sizes stay as
they were (what is free changes only with them, or by a command run through this link)."""
PROMPT = re.compile(r"Target Password:[ \t]*$")
PROMPTED_COMMANDS = ("migrate-domain", "migrate")
"""Subcommands that may ask for the target's password on their terminal."""
TERMINAL = ("vt100", (200, 24, 0, 0))


class ExecService:
    """What a logged-in ``ldm`` link holds: the connection and the host's version banner.
    ``closed`` is set when the connection goes (the link's watcher then marks it down)."""

    def __init__(self, conn: asyncssh.SSHClientConnection, version: str) -> None:
        self.conn = conn
        self.version = version
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._watch = asyncio.get_running_loop().create_task(self._wait())

    async def _wait(self) -> None:
        try:
            await self.conn.wait_closed()
        except Exception as e:  # the reason is all that is wanted of it
            self.close_reason = str(e)
        self.closed.set()

    async def close(self) -> None:
        self.conn.close()


def command_line(argv: list[str] | tuple[str, ...]) -> str:
    """``ldm ARGV`` quoted for the remote shell (a real control domain runs it in one)."""
    return shlex.join(["ldm", *argv])


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


class LdmExecLink(HostLink):
    """One host over stock SSH ``exec`` and its ``ldm``: the same shape as a
    :class:`~ldtui.net.hostlink.HostLink` (connect, reconnect, snapshot, run), no ``migrate``
    request (the console hands a migration over as its command line)."""

    protocol = PROTOCOL
    migrate = None
    """``ldm`` takes a migration only as its command line (``run``), never as a request value."""

    def __init__(self, *args, clock=time.time, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.tracker = JobTracker()
        self._devices: tuple[tuple, float, Devices] | None = None
        """(the domains' states and sizes it was read with, when, what it said)."""

    @property
    def path(self) -> str:
        return f"{super().path} · ldm"

    async def _open_service(self, conn: asyncssh.SSHClientConnection) -> ExecService:
        try:
            result = await asyncio.wait_for(conn.run(command_line(["-V"]), check=False), self.connect_timeout)
        except (asyncssh.Error, OSError, TimeoutError) as e:
            raise LinkDown(f"{self.label}: ldm -V failed: {getattr(e, 'reason', None) or e or 'no answer'}",
                           "no-service") from None
        out = _text(result.stdout)
        version = read_version(out)
        if result.exit_status != 0 or not version:
            said = _first_line(_text(result.stderr)) or _first_line(out) or f"exit {result.exit_status}"
            raise LinkDown(f"{self.label}: no Logical Domains Manager here (ldm -V: {said})", "no-service")
        return ExecService(conn, version)

    async def ping(self) -> dict:
        r = await self._exec(["-V"], None)
        return {"version": read_version(r.stdout)}

    def _service(self) -> ExecService:
        service = self._rpc
        if service is None or service.closed.is_set():
            raise LinkDown(self.last_error or f"{self.label}: not connected", self.last_error_code or "lost")
        return service

    async def _exec(self, argv: tuple[str, ...] | list[str], timeout: float | None) -> CommandResult:
        service = self._service()
        try:
            r = await asyncio.wait_for(service.conn.run(command_line(argv), check=False),
                                       timeout or self.call_timeout)
        except TimeoutError:
            raise LinkDown(f"{self.label}: no answer to ldm {' '.join(argv)} in time", "timeout") from None
        except (asyncssh.Error, OSError) as e:
            raise LinkDown(f"{self.label}: ldm {' '.join(argv)}: {getattr(e, 'reason', None) or e}", "lost") from None
        return CommandResult(stdout=_text(r.stdout), stderr=_text(r.stderr),
                             exit_code=r.exit_status if r.exit_status is not None else 255)

    async def snapshot(self) -> HostSnapshot:
        service = self._service()
        listing, status = await asyncio.gather(*(self._listing(argv) for argv in POLLED))
        try:
            domains = read_domains(listing)
            devices = await self._devices_for(domains)
            return build_snapshot(self.label, service.version, domains, devices, read_status(status), self.tracker,
                                  self.clock())
        except ParseError as e:
            raise LdmError("ldm-output", f"{self.label}: unreadable ldm output: {e}") from None

    async def _listing(self, argv: tuple[str, ...]) -> str:
        r = await self._exec(argv, None)
        if r.exit_code != 0:
            said = _first_line(r.stderr) or _first_line(r.stdout) or f"exit {r.exit_code}"
            raise LdmError("ldm-refused", f"{self.label}: ldm {' '.join(argv)}: {said}")
        return r.stdout

    async def _devices_for(self, domains) -> Devices:
        """``list-devices``, read again only when the domains' states or sizes changed (or it
        is older than ``DEVICES_MAX_AGE``)."""
        shape = tuple((d.name, d.state, d.ncpu, d.memory) for d in domains)
        now = time.monotonic()
        cached = self._devices
        if cached is not None and cached[0] == shape and now - cached[1] < DEVICES_MAX_AGE:
            return cached[2]
        devices = read_devices(await self._listing(DEVICES))
        self._devices = (shape, now, devices)
        return devices

    async def run(self, argv: list[str], *, password: str | None = None,
                  timeout: float | None = None) -> CommandResult:
        """``ldm ARGV`` on the host. A migration runs on a terminal so that ``ldm`` can ask
        for the target password, which is typed in when asked and kept out of the output."""
        if argv and not argv[0].startswith("list"):
            self._devices = None        # a command may bind or free resources
        if argv and argv[0] in PROMPTED_COMMANDS:
            out = await self._run_on_terminal(list(argv), password, timeout)
            domain = migrated_domain(argv)
            if out.exit_code != 0 and domain:
                lines = [x.strip() for x in (out.stdout + out.stderr).splitlines() if x.strip()]
                cancelled = any(x.endswith(" was cancelled") for x in lines)
                said = [x for x in lines if not x.startswith("Domain Migration of LDom")]
                self.tracker.note_outcome(domain, "cancelled" if cancelled else "failed",
                                          said[0] if said else (lines[0] if lines else f"exit {out.exit_code}"))
            return out
        out = await self._exec(argv, timeout)
        if out.exit_code == 0 and list(argv[:2]) in (["cancel-operation", "migration"], ["cancel-op", "migration"]):
            if len(argv) > 2:
                self.tracker.note_outcome(argv[2], "cancelled", "cancelled from this console")
        return out

    async def _run_on_terminal(self, argv: list[str], password: str | None,
                               timeout: float | None) -> CommandResult:
        service = self._service()
        limit = timeout or self.call_timeout
        terminal = {"term_type": TERMINAL[0], "term_size": TERMINAL[1]}
        try:
            try:
                process = await asyncio.wait_for(service.conn.create_process(
                    command_line(argv), encoding="utf-8", errors="replace", **terminal), self.connect_timeout)
            except asyncssh.ChannelOpenError as e:
                if "PTY" not in str(e.reason):
                    raise
                # The host's sshd offers no terminal (PermitTTY no): the prompt then comes on
                # the session's own output and the answer goes to its input.
                log.info("%s: no terminal offered (%s); running ldm %s without one", self.label, e.reason, argv[0])
                process = await asyncio.wait_for(service.conn.create_process(
                    command_line(argv), encoding="utf-8", errors="replace"), self.connect_timeout)
        except (asyncssh.Error, OSError, TimeoutError) as e:
            raise LinkDown(f"{self.label}: ldm {argv[0]}: {getattr(e, 'reason', None) or e}", "lost") from None
        out: list[str] = []
        err: list[str] = []
        answered = False

        async def read_out() -> None:
            nonlocal answered
            pending = ""
            echo = False
            while True:
                chunk = await process.stdout.read(4096)
                if not chunk:
                    break
                pending += chunk
                if not answered:
                    if not PROMPT.search(pending):
                        # A prompt has no line end after it: hold back the last, unended
                        # line, which may be the first part of one.
                        head, end, pending = pending.rpartition("\n")
                        out.append(head + end)
                        continue
                    answered = True
                    pending = PROMPT.sub("", pending)
                    if password is None:
                        # No password to give: end the session rather than leave ldm waiting.
                        process.stdin.write_eof()
                    else:
                        process.stdin.write(password + "\n")
                    echo = True
                    out.append(pending)
                    pending = ""
                    continue
                if echo:
                    # The prompt's line ends once answered; a terminal that echoes shows the
                    # answer on it first. That line goes with the prompt.
                    if "\n" not in pending:
                        continue
                    first, _, rest = pending.partition("\n")
                    pending = rest if first.rstrip("\r") in ("", password) else pending
                    echo = False
                out.append(pending)
                pending = ""
            if not (echo and pending.rstrip("\r") in ("", password)):
                out.append(pending)

        async def read_err() -> None:
            while True:
                chunk = await process.stderr.read(4096)
                if not chunk:
                    break
                err.append(chunk)

        try:
            await asyncio.wait_for(asyncio.gather(read_out(), read_err(), process.wait()), limit)
        except TimeoutError:
            process.close()
            raise LinkDown(f"{self.label}: ldm {argv[0]} gave no answer in time", "timeout") from None
        except (asyncssh.Error, OSError) as e:
            raise LinkDown(f"{self.label}: ldm {argv[0]}: {getattr(e, 'reason', None) or e}", "lost") from None
        finally:
            process.close()
        stdout = _terminal_text("".join(out))
        stderr = _terminal_text("".join(err))
        if password is None and answered and not stdout.strip() and not stderr.strip():
            stderr = "A target password is required\n"
        code = process.exit_status if process.exit_status is not None else 255
        return CommandResult(stdout=stdout, stderr=stderr, exit_code=code)


VALUED_OPTIONS = {"-p", "-d", "-b", "-P"}
"""``migrate-domain`` options followed by a value (a password file, our downtime, cap, port)."""


def migrated_domain(argv: list[str] | tuple[str, ...]) -> str:
    """The domain a ``migrate-domain`` command line moves: its first operand."""
    words = iter(argv[1:])
    for word in words:
        if word in VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def _text(data) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _terminal_text(text: str) -> str:
    """A terminal's output as lines: ``\\r\\n`` ends, no leading blank line left by the
    answered prompt."""
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\n")
