"""``ldm``: the operators' command line, run on a remote ``ldmd`` over SSH (SPEC S-1, S-2, G-1).

    ldm [-H [USER@]HOST[:PORT]] [-i IDENTITY] [--known-hosts FILE] SUBCOMMAND [ARGS…]

The command line goes to the host as an SSH ``exec`` of ``ldm …``, exactly what
``ssh -p PORT USER@HOST ldm …`` sends, so the output bytes are the same; ``ldm`` prints them
unchanged and exits with the remote status.

Environment:
  LDM_HOST         default for -H
  LDM_USER         login name when -H gives none (default: the local login name)
  LDM_IDENTITY     private key file for public-key login (default: ~/.ssh's keys)
  LDM_KNOWN_HOSTS  host key file (default: ~/.ldtui/known_hosts)
  LDM_PASSWORD     login password, for scripts and tests only: it is visible to other
                   processes of the same user; interactive use gets a no-echo prompt.

``migrate-domain`` (``migrate``) asks ``Target Password:`` here, without echo, unless
``-p FILE`` names a file on this machine whose first line is the password; the password
travels inside the encrypted session, never on a command line.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

import asyncssh

from ldtui.net.connect import ConnectError, open_connection
from ldtui.net.knownhosts import host_pattern, unknown_key_question
from ldtui.net.secretfile import PasswordFileError, read_password_file
from ldtui.net.server import TARGET_PASSWORD_ENV

DEFAULT_KNOWN_HOSTS = "~/.ldtui/known_hosts"
_MIGRATE = ("migrate-domain", "migrate")
_HELP = ("-h", "--help")

OPTIONS = (
    # (short, long, value, key, what it does): the options of ldm itself, before the subcommand.
    ("-H", "--host", "[USER@]HOST[:PORT]", "host", "the host whose ldmd runs the command (default: $LDM_HOST)"),
    ("-i", "--identity", "FILE", "identity",
     "private key for public-key login (default: $LDM_IDENTITY, ~/.ssh's keys)"),
    ("", "--known-hosts", "FILE", "known_hosts", f"host keys (default: $LDM_KNOWN_HOSTS, {DEFAULT_KNOWN_HOSTS})"),
)


class ClientError(Exception):
    """Something this side can say in one line; exit status 255 like ssh."""


def parse_target(text: str, default_user: str) -> tuple[str, str, int]:
    """``[USER@]HOST[:PORT]`` (``[::1]:PORT`` for IPv6) → (user, host, port)."""
    user, at, rest = text.rpartition("@")
    user = user if at else default_user
    port = 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = _port(p, text)
    else:
        host = rest
    if not host or not user:
        raise ClientError(f"ldm: invalid host {text!r}: expected [USER@]HOST[:PORT]")
    return user, host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ClientError(f"ldm: invalid port in {whole!r}")
    return int(text)


def split_options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """The client's own options come before the subcommand; everything after goes to ldmd."""
    opts: dict[str, str] = {}
    short = {o[0]: o[3] for o in OPTIONS if o[0]}
    long = {o[1]: o[3] for o in OPTIONS}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in short or a in long:
            if i + 1 >= len(argv):
                raise ClientError(f"ldm: option {a} needs a value")
            opts[(short | long)[a]] = argv[i + 1]
            i += 2
        elif a[:2] in short and len(a) > 2:
            opts[short[a[:2]]] = a[2:]
            i += 1
        elif "=" in a and a.split("=", 1)[0] in long:
            key, value = a.split("=", 1)
            opts[long[key]] = value
            i += 1
        else:
            break
    return opts, argv[i:]


def take_password_file(argv: list[str]) -> tuple[list[str], str | None]:
    """Remove ``-p FILE`` from a migrate command line and read the file here (first line)."""
    out, password = [argv[0]], None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-p" and i + 1 < len(argv) or a.startswith("-p") and len(a) > 2:
            path = argv[i + 1] if a == "-p" else a[2:]
            try:
                password = read_password_file(path)
            except PasswordFileError as e:
                raise ClientError(e.message) from None
            i += 2 if a == "-p" else 1
            continue
        out.append(a)
        i += 1
    return out, password


def _ask_secret(prompt: str) -> str | None:
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


def _migration_line(argv: list[str]):
    """The parsed ``migrate-domain`` line, or None when ldmd will answer it without a
    password: its usage (``--help``) or a mistake in it comes back without a prompt."""
    from ldtui.core.cmd_args import COMMANDS, Args
    from ldtui.core.errors import LdmError
    if any(w in _HELP for w in argv[1:2]):
        return None
    try:
        a = Args(argv[1:], COMMANDS[argv[0]])
    except LdmError:
        return None
    return a if len(a.operands) == 2 else None


def _no_target_password(line) -> str:
    from ldtui.net.migrate import failure_lines
    return "\n".join(failure_lines(line.operands[0], ["A target password is required"],
                                   dry_run="n" in line.flags)) + "\n"


def local_help(argv: list[str]) -> str | None:
    """``ldm --help``, ``ldm SUBCOMMAND --help`` or a bare ``ldm`` with no host to ask:
    answered from this installation's command table, with ldm's own options."""
    from ldtui.core.commands import COMMANDS, overview
    if argv and argv[0] not in ("help", *_HELP) and not (argv[0] in COMMANDS and argv[1:2] and argv[1] in _HELP):
        return None
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]].usage + "\n"
    own = ["", "Options of ldm itself (before the subcommand):"]
    own += [f"    {(s + ', ' if s else '') + f'{lng} {value}':<40} {what}" for s, lng, value, _, what in OPTIONS]
    mine = " ".join(f"[{s or lng} {value}]" for s, lng, value, _, _ in OPTIONS)
    return overview().replace("Usage:\n    ldm <subcommand>", f"Usage:\n    ldm {mine} <subcommand>", 1) + \
        "\n".join(own) + "\n"


def _ask_unknown(host: str, port: int):
    def ask(key: asyncssh.SSHKey) -> bool:
        if not sys.stdin.isatty():
            return False
        sys.stderr.write(unknown_key_question(host, port, key))
        sys.stderr.flush()
        while True:
            answer = sys.stdin.readline().strip().lower()
            if answer in ("yes", "no", ""):
                break
            sys.stderr.write("Please type 'yes' or 'no': ")
            sys.stderr.flush()
        if answer != "yes":
            return False
        sys.stderr.write(f"Warning: Permanently added '{host_pattern(host, port)}' ({key.get_algorithm()}) "
                         "to the list of known hosts.\n")
        return True
    return ask


async def run_remote(user: str, host: str, port: int, argv: list[str], *, known_hosts: str,
                     identity: str | None) -> int:
    env: dict[str, str] = {}
    forward_stdin = False
    if argv and argv[0] in _MIGRATE:
        argv, target_password = take_password_file(argv)
        line = _migration_line(argv)
        if target_password is None and line is not None and sys.stdin.isatty():
            target_password = _ask_secret("Target Password:")
            if target_password is None:
                sys.stderr.write(_no_target_password(line))
                return 1
        if target_password is not None:
            env[TARGET_PASSWORD_ENV] = target_password
        else:
            # A script pipes the password and ldmd prompts for it; on a terminal the line
            # is one ldmd answers without a password (its usage, a mistake in it).
            forward_stdin = not sys.stdin.isatty()

    hung_up = threading.Event()
    loop = asyncio.get_running_loop()
    try:
        # Hang-up of the operator's shell: keep waiting, silently, so a migration goes on
        # in the background (SPEC G-12). Installed before connecting: no window where a
        # hang-up kills ldm and so cancels the migration.
        loop.add_signal_handler(signal.SIGHUP, hung_up.set)
    except (NotImplementedError, RuntimeError):
        pass
    login_password = os.environ.get("LDM_PASSWORD")
    ask = None
    if login_password is None and sys.stdin.isatty():
        def ask() -> str | None:
            return _ask_secret(f"{user}@{host_pattern(host, port)}'s password: ")
    keys = [identity] if identity else ()
    conn = await open_connection(host, port, user, password=login_password, ask_password=ask,
                                 client_keys=keys, known_hosts=known_hosts, on_unknown=_ask_unknown(host, port))
    async with conn:
        process = await conn.create_process(shlex.join(["ldm", *argv]), env=env, encoding=None)
        if forward_stdin:
            _forward_stdin(process)
        else:
            process.stdin.write_eof()
        await asyncio.gather(_copy(process.stdout, sys.stdout.buffer, hung_up),
                             _copy(process.stderr, sys.stderr.buffer, hung_up))
        completed = await process.wait(check=False)
    if completed.exit_status is None or completed.exit_status < 0:
        raise ClientError(f"ldm: connection to {host_pattern(host, port)} closed before the command finished")
    return completed.exit_status


def _forward_stdin(process) -> None:
    loop = asyncio.get_running_loop()

    def deliver(line: bytes | None) -> None:
        # The command may have ended (and its channel closed) before our input did.
        try:
            if line is None:
                process.stdin.write_eof()
            else:
                process.stdin.write(line)
        except (OSError, asyncssh.Error, RuntimeError, BrokenPipeError):
            pass

    def pump() -> None:
        # A daemon thread: a blocking read of a pipe must never keep ldm from exiting.
        # The descriptor, not sys.stdin: a read of the buffered file still blocked here at
        # exit holds its lock, and the interpreter aborts when it cannot take it.
        try:
            for line in iter(lambda: os.read(0, 65536), b""):
                loop.call_soon_threadsafe(deliver, line)
            loop.call_soon_threadsafe(deliver, None)
        except (RuntimeError, OSError, ValueError):
            pass            # ldm is exiting: its loop is closed, or stdin went away

    threading.Thread(target=pump, daemon=True).start()


async def _copy(reader, out, hung_up: threading.Event) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            return
        if hung_up.is_set():
            continue
        try:
            out.write(data)
            out.flush()
        except OSError:
            hung_up.set()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        opts, rest = split_options(argv)
        target = opts.get("host") or os.environ.get("LDM_HOST")
        if not target and local_help(rest) is not None:
            # Like ldmd: a bare ldm prints the overview as an error, --help as an answer.
            (sys.stdout if rest else sys.stderr).write(local_help(rest))
            raise SystemExit(0 if rest else 1)
        if not target:
            raise ClientError("ldm: no host given: use -H [USER@]HOST[:PORT] or set LDM_HOST")
        default_user = os.environ.get("LDM_USER") or getpass.getuser()
        user, host, port = parse_target(target, default_user)
        known = opts.get("known_hosts") or os.environ.get("LDM_KNOWN_HOSTS") or DEFAULT_KNOWN_HOSTS
        identity = opts.get("identity") or os.environ.get("LDM_IDENTITY")
        if identity and not Path(identity).expanduser().exists():
            raise ClientError(f"ldm: identity file {identity} not found")
        code = asyncio.run(run_remote(user, host, port, rest, known_hosts=known,
                                      identity=str(Path(identity).expanduser()) if identity else None))
    except ConnectError as e:
        if e.detail:
            sys.stderr.write(e.detail)
        sys.stderr.write(f"ldm: {e.message}\n")
        code = 255
    except ClientError as e:
        sys.stderr.write(f"{e}\n")
        code = 255
    except KeyboardInterrupt:
        # Interrupting ldm ends its session; for a migration that is a cancel (SPEC G-12).
        code = 130
    except (asyncssh.Error, OSError) as e:
        sys.stderr.write(f"ldm: connection failed: {getattr(e, 'reason', None) or e}\n")
        code = 255
    sys.stdout.flush()
    raise SystemExit(code)
