"""Opening an SSH connection to an ``ldmd``: host key checked first, then login (SPEC S-1).

The host key is checked before any password leaves this machine: an unknown host is put to
``on_unknown`` (the ``ldm`` client asks the operator; programs refuse), a changed key is
always refused with OpenSSH's warning. Failures become :class:`ConnectError` with one line
an operator can act on.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

import asyncssh

from ldtui.net.knownhosts import CHANGED, KNOWN, KnownHosts, changed_key_warning, host_pattern

CONNECT_TIMEOUT = 10.0


class ConnectError(Exception):
    """Could not reach or log in to a host; ``str()`` is the line to show.

    ``code`` says why in one word a program can act on: ``refused``, ``unresolvable``,
    ``unreachable``, ``timeout``, ``permission-denied``, ``host-key-changed``,
    ``host-key-unknown``, ``host-key`` or ``connect`` (any other SSH failure).
    """

    def __init__(self, message: str, *, detail: str = "", code: str = "connect") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        """Extra lines printed before the message (the changed-key warning block)."""
        self.code = code


class _Client(asyncssh.SSHClient):
    def __init__(self, host: str, port: int, known: KnownHosts | None,
                 on_unknown: Callable[[asyncssh.SSHKey], bool] | None,
                 password: str | None, ask_password: Callable[[], str | None] | None) -> None:
        self.host, self.port = host, port
        self.known = known
        self.on_unknown = on_unknown
        self.password = password
        self.ask_password = ask_password
        self.refusal: ConnectError | None = None
        self._password_tries = 0

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        if self.known is None:
            return True
        verdict = self.known.check(self.host, self.port, key)
        if verdict == KNOWN:
            return True
        if verdict == CHANGED:
            self.refusal = ConnectError(f"Host key verification failed for {host_pattern(self.host, self.port)}",
                                        detail=changed_key_warning(self.host, self.port, key, self.known),
                                        code="host-key-changed")
            return False
        if self.on_unknown is not None and self.on_unknown(key):
            self.known.add(self.host, self.port, key)
            return True
        self.refusal = ConnectError(
            f"Host key verification failed: {host_pattern(self.host, self.port)} is not in {self.known.path}",
            code="host-key-unknown")
        return False

    def password_auth_requested(self) -> str | None:
        self._password_tries += 1
        if self.password is not None:
            # A given password is tried once: repeating a wrong one only feeds the throttle.
            return self.password if self._password_tries == 1 else None
        if self.ask_password is not None and self._password_tries <= 3:
            return self.ask_password()
        return None


async def open_connection(host: str, port: int, user: str, *, password: str | None = None,
                          ask_password: Callable[[], str | None] | None = None,
                          client_keys=None, known_hosts: str | Path | None = None,
                          on_unknown: Callable[[asyncssh.SSHKey], bool] | None = None,
                          connect_timeout: float = CONNECT_TIMEOUT, keepalive_interval: float = 10.0,
                          keepalive_count_max: int = 3) -> asyncssh.SSHClientConnection:
    """Connect and log in. ``client_keys``: key files or keys; () loads ~/.ssh's; None uses none."""
    known = KnownHosts(known_hosts) if known_hosts is not None else None
    client = _Client(host, port, known, on_unknown, password, ask_password)
    try:
        return await asyncssh.connect(
            host, port, username=user, client_factory=lambda: client,
            known_hosts=([], [], []) if known is not None else None,
            client_keys=client_keys, agent_path=None, password=None,
            preferred_auth="publickey,password", connect_timeout=connect_timeout,
            keepalive_interval=keepalive_interval, keepalive_count_max=keepalive_count_max,
            config=None)
    except asyncssh.HostKeyNotVerifiable:
        raise client.refusal or ConnectError(f"Host key verification failed for {host_pattern(host, port)}",
                                             code="host-key") from None
    except asyncssh.PermissionDenied:
        raise ConnectError(f"Permission denied for {user}@{host_pattern(host, port)}",
                           code="permission-denied") from None
    except (TimeoutError, asyncio.TimeoutError):
        raise ConnectError(f"Connection to {host_pattern(host, port)} timed out", code="timeout") from None
    except asyncssh.Error as e:
        raise ConnectError(f"Connection to {host_pattern(host, port)} failed: {e.reason}") from None
    except socket.gaierror as e:
        raise ConnectError(f"Cannot resolve {host}: {e.strerror or e}", code="unresolvable") from None
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else (e.strerror or str(e))
        code = "refused" if e.errno == errno.ECONNREFUSED else "unreachable"
        raise ConnectError(f"Cannot connect to {host_pattern(host, port)}: {reason}", code=code) from None
