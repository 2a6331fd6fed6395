"""``ldm``: the operators' command line, run on a remote ``ldmd`` over SSH.

    ldm [-H [USER@]HOST[:PORT]] [-F SSH_CONFIG] [-J [USER@]JUMP[:PORT][,…]] [-i IDENTITY]
        [--known-hosts FILE] [--persist SECONDS] SUBCOMMAND [ARGS…]
    ldm --close [USER@]HOST[:PORT]

The command line goes to the host as an SSH ``exec`` of ``ldm …``, exactly what
``ssh -p PORT USER@HOST ldm …`` sends, so the output bytes are the same; ``ldm`` prints them
unchanged and exits with the remote status. HOST may be an alias of the operator's
``~/.ssh/config`` (or of ``-F FILE``): its HostName, Port, User, IdentityFile, ProxyJump,
ConnectTimeout and ServerAliveInterval apply, and every jump host's key is checked against
the same known_hosts file as the manager's. ``-J`` names jump hosts as OpenSSH's does.

Shared connections (as OpenSSH's ControlMaster/ControlPersist): with ``--persist SECONDS``
(or ``LDM_PERSIST``) a background process keeps the SSH connection open until it has been
idle that long, and every later ``ldm`` for the same ``USER@HOST[:PORT]`` runs its command
over it, printing the same bytes and exiting with the same status as without it; an
``ldm`` that finds one uses it with or without ``--persist``. ``ldm --close HOST`` ends it
once the commands it runs are done. The socket is in a directory only its user may enter
(``$XDG_RUNTIME_DIR/ldtui``, else ``~/.ldtui/sockets``).

Environment:
  LDM_HOST         default for -H
  LDM_USER         login name when -H gives none (before ssh_config's User; default: the
                   local login name)
  LDM_IDENTITY     private key file for public-key login (default: ssh_config's
                   IdentityFile, else ~/.ssh's keys; ssh-agent keys first when
                   SSH_AUTH_SOCK is set)
  LDM_KNOWN_HOSTS  host key file (default: ~/.ldtui/known_hosts)
  LDM_PERSIST      as --persist
  LDM_PASSWORD     login password, for scripts and tests only: it is visible to other
                   processes of the same user; interactive use gets a no-echo prompt.

``migrate-domain`` (``migrate``) asks ``Target Password:`` here, without echo, unless
``-p FILE`` names a file on this machine whose first line is the password; the password
travels inside the encrypted session, never on a command line.

This module loads little of the standard library and nothing else: a command that finds a
shared connection never loads the SSH library (``net.ssh_exec`` makes a connection of its
own), nor pathlib or typing.
"""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading

from ldtui.net import shared
from ldtui.net.ldm_terminal import ClientError, ask_secret
from ldtui.net.names import TARGET_PASSWORD_ENV, host_pattern
from ldtui.net.secretfile import PasswordFileError, read_password_file

DEFAULT_KNOWN_HOSTS = "~/.ldtui/known_hosts"
_MIGRATE = ("migrate-domain", "migrate")
_HELP = ("-h", "--help")

OPTIONS = (
    # (short, long, value, key, what it does): the options of ldm itself, before the subcommand.
    ("-H", "--host", "[USER@]HOST[:PORT]", "host",
     "the host whose ldmd runs the command, or an ssh_config alias (default: $LDM_HOST)"),
    ("-F", "--ssh-config", "FILE", "ssh_config", "ssh_config file to read instead of ~/.ssh/config"),
    ("-J", "--jump", "[USER@]JUMP[:PORT][,...]", "jump", "jump hosts on the way, as OpenSSH's -J ('none': direct)"),
    ("-i", "--identity", "FILE", "identity",
     "private key for public-key login (default: $LDM_IDENTITY, ssh_config's IdentityFile, ~/.ssh's keys)"),
    ("", "--known-hosts", "FILE", "known_hosts", f"host keys (default: $LDM_KNOWN_HOSTS, {DEFAULT_KNOWN_HOSTS})"),
    ("", "--persist", "SECONDS", "persist",
     "keep a shared connection open until idle that long (default: $LDM_PERSIST)"),
    ("", "--close", "[USER@]HOST[:PORT]", "close", "end the shared connection to that host"),
)


def split_target(text: str) -> tuple[str | None, str, int | None]:
    """``[USER@]HOST[:PORT]`` (``[::1]:PORT`` for IPv6) → (user, host, port), None for what
    the operator did not give."""
    user, at, rest = text.rpartition("@")
    port = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = _port(p, text)
    else:
        host = rest
    if not host or at and not user:
        raise ClientError(f"ldm: invalid host {text!r}: expected [USER@]HOST[:PORT]")
    return (user if at else None), host, port


def parse_target(text: str, default_user: str) -> tuple[str, str, int]:
    """``[USER@]HOST[:PORT]`` (``[::1]:PORT`` for IPv6) → (user, host, port)."""
    user, host, port = split_target(text)
    if not (user or default_user):
        raise ClientError(f"ldm: invalid host {text!r}: expected [USER@]HOST[:PORT]")
    return user or default_user, host, port or 22


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ClientError(f"ldm: invalid port in {whole!r}")
    return int(text)


class Destination:
    """The manager a command goes to, as the operator named it. Its ssh_config is read only
    when a connection of its own is made; a shared one is found by ``share_key``."""

    def __init__(self, text: str, *, ssh_config: str | None = None, jump: str | None = None,
                 identity: str | None = None, known_hosts: str = DEFAULT_KNOWN_HOSTS) -> None:
        user, self.host, self.port = split_target(text)
        self.text = text
        self.user = user or os.environ.get("LDM_USER") or None
        """The login name the operator gave (``USER@`` or ``$LDM_USER``); None: ssh_config's
        User, else the local login name."""
        self.ssh_config, self.jump, self.identity, self.known_hosts = ssh_config, jump, identity, known_hosts

    @property
    def label(self) -> str:
        return host_pattern(self.host, self.port or 22)

    @property
    def share_key(self) -> str:
        return shared.share_key(self.user or getpass.getuser(), self.host, self.port)

    def options(self) -> list[str]:
        """The ``ldm`` options that reach it (what a holder is started with)."""
        out = ["-H", self.text, "--known-hosts", self.known_hosts]
        for flag, value in (("-F", self.ssh_config), ("-J", self.jump), ("-i", self.identity)):
            if value:
                out += [flag, value]
        return out


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


def _migration_line(argv: list[str]):
    """The parsed ``migrate-domain`` line, or None when ldmd will answer it without a
    password: its usage (``--help``) or a mistake in it comes back without a prompt."""
    from ldtui.core.cmd_args import Args
    from ldtui.core.commands import COMMANDS     # the command table, filled as its modules load
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
    # The synopsis wrapped as ssh(1) wraps its own: whole [option VALUE] groups per line.
    lines = ["    ldm"]
    for group in [f"[{s or lng} {value}]" for s, lng, value, _, _ in OPTIONS] + ["<subcommand>"]:
        if len(lines[-1]) + 1 + len(group) > 80:
            lines.append("       ")
        lines[-1] += " " + group
    return overview().replace("Usage:\n    ldm <subcommand>", "Usage:\n" + "\n".join(lines), 1) + \
        "\n".join(own) + "\n"


def run_remote(dest: Destination, argv: list[str], *, persist: float = 0.0) -> int:
    env: dict[str, str] = {}
    forward_stdin = False
    if argv and argv[0] in _MIGRATE:
        argv, target_password = take_password_file(argv)
        line = _migration_line(argv)
        if target_password is None and line is not None and sys.stdin.isatty():
            target_password = ask_secret("Target Password:")
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
    try:
        # Hang-up of the operator's shell: keep waiting, silently, so a migration goes on
        # in the background (only killing ldm cancels it). Installed before connecting: no
        # window where a hang-up kills ldm and so cancels the migration.
        signal.signal(signal.SIGHUP, lambda *_: hung_up.set())
    except (ValueError, OSError):
        pass            # not the main thread: whoever runs us owns the signals
    code = _run_shared(dest, argv, env, forward_stdin, hung_up, persist)
    if code is None:
        from ldtui.net.ssh_exec import run_direct

        code = run_direct(dest, argv, env, forward_stdin=forward_stdin, hung_up=hung_up)
    if code < 0:
        raise ClientError(f"ldm: connection to {dest.label} closed before the command finished")
    return code


def _run_shared(dest: Destination, argv: list[str], env: dict[str, str], forward_stdin: bool,
                hung_up: threading.Event, persist: float) -> int | None:
    """The command's status through a shared connection; None when there is none to use."""
    try:
        path = shared.socket_path(dest.share_key, create=persist > 0)
    except (shared.UnsafeDirectory, OSError) as e:
        if persist:
            sys.stderr.write(f"ldm: not sharing the connection: {e}\n")
        return None
    if path is None:
        return None
    try:
        code = shared.run(path, argv, env, forward_stdin=forward_stdin, hung_up=hung_up)
        if code is not None or not persist:
            return code
        failed = shared.start_holder(path, persist, dest.options())
        if failed is not None:
            return failed               # the holder said why, as this ldm would have
        return shared.run(path, argv, env, forward_stdin=forward_stdin, hung_up=hung_up)
    except shared.NoAnswer:
        raise ClientError(f"ldm: no answer from the shared connection to {dest.text} (the command may have "
                          f"started); 'ldm --close {dest.text}' ends it") from None


def close_shared(dest: Destination) -> int:
    """``ldm --close HOST``: the holder stops taking commands and leaves once its running
    ones are done."""
    try:
        path = shared.socket_path(dest.share_key)
    except shared.UnsafeDirectory as e:
        raise ClientError(f"ldm: {e}") from None
    if path is None or shared.request(path, "close") is None:
        raise ClientError(f"ldm: no shared connection to {dest.text}")
    return 0


def persist_seconds(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 1e9:
        raise ClientError(f"ldm: invalid --persist {text!r}: expected seconds")
    return seconds


def report(e: ClientError) -> int:
    """Print a client-side failure as ``ldm`` does; its exit status."""
    if e.detail:
        sys.stderr.write(e.detail)
    sys.stderr.write(f"{e}\n")
    return 255


def destination(opts: dict[str, str], target: str | None) -> Destination:
    if not target:
        raise ClientError("ldm: no host given: use -H [USER@]HOST[:PORT] or set LDM_HOST")
    identity = opts.get("identity") or os.environ.get("LDM_IDENTITY")
    if identity:
        identity = os.path.expanduser(identity)
    known = opts.get("known_hosts") or os.environ.get("LDM_KNOWN_HOSTS") or DEFAULT_KNOWN_HOSTS
    return Destination(target, ssh_config=opts.get("ssh_config"), jump=opts.get("jump"), identity=identity,
                       known_hosts=known)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if any("\0" in a for a in argv):
            # Never from a shell (a C string ends there); only from a program calling us.
            raise ClientError("ldm: an argument holds a NUL character")
        opts, rest = split_options(argv)
        target = opts.get("host") or os.environ.get("LDM_HOST")
        if "close" not in opts and not target and local_help(rest) is not None:
            # Like ldmd: a bare ldm prints the overview as an error, --help as an answer.
            (sys.stdout if rest else sys.stderr).write(local_help(rest))
            raise SystemExit(0 if rest else 1)
        if "close" in opts:
            code = close_shared(destination(opts, opts["close"]))
        else:
            dest = destination(opts, target)
            if dest.identity and not os.path.exists(dest.identity):
                raise ClientError(f"ldm: identity file {opts.get('identity') or os.environ.get('LDM_IDENTITY')} "
                                  "not found")
            persist = persist_seconds(opts.get("persist") or os.environ.get("LDM_PERSIST"))
            code = run_remote(dest, rest, persist=persist)
    except ClientError as e:
        code = report(e)
    except KeyboardInterrupt:
        # Interrupting ldm ends its session; for a migration that is a cancel, as KILL is.
        code = 130
    except OSError as e:
        sys.stderr.write(f"ldm: connection failed: {e.strerror or e}\n")
        code = 255
    sys.stdout.flush()
    raise SystemExit(code)
