"""Host key checking against an OpenSSH-style known_hosts file.

Entries look like OpenSSH's: ``host key-type base64`` for port 22, ``[host]:port key-type
base64`` otherwise, several comma-separated names allowed, ``#`` comments kept. A host seen
for the first time is *unknown* (the ``ldm`` client asks the operator), a host whose key
differs from the recorded one is *changed* (always refused: it may be an impostor).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ldtui.net.names import host_pattern

if TYPE_CHECKING:
    import asyncssh

KNOWN, UNKNOWN, CHANGED = "known", "unknown", "changed"


def fingerprint(key: asyncssh.SSHKey) -> str:
    digest = hashlib.sha256(key.public_data).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def key_fields(key: asyncssh.SSHKey) -> tuple[str, str]:
    kind, blob = key.export_public_key("openssh").decode().split()[:2]
    return kind, blob


class KnownHosts:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    def _entries(self) -> list[tuple[set[str], str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 3 or fields[0].startswith("#") or fields[0].startswith("@"):
                continue
            out.append((set(fields[0].split(",")), fields[1], fields[2]))
        return out

    def check(self, host: str, port: int, key: asyncssh.SSHKey) -> str:
        """KNOWN, UNKNOWN or CHANGED for this host's offered key."""
        names = {host_pattern(host, port)}
        kind, blob = key_fields(key)
        seen_other = False
        for patterns, k, b in self._entries():
            if not names & patterns:
                continue
            if (k, b) == (kind, blob):
                return KNOWN
            seen_other = True
        return CHANGED if seen_other else UNKNOWN

    def recorded(self, host: str, port: int) -> list[int]:
        """Line numbers (1-based) that hold keys for this host, for the warning text."""
        name = host_pattern(host, port)
        lines = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        for n, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if len(fields) >= 3 and name in fields[0].split(","):
                lines.append(n)
        return lines

    def add(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        kind, blob = key_fields(key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            os.chmod(self.path, 0o600)
            f.write(f"{host_pattern(host, port)} {kind} {blob}\n")


def changed_key_warning(host: str, port: int, key: asyncssh.SSHKey, known: KnownHosts) -> str:
    lines = known.recorded(host, port)
    where = f"{known.path}:{lines[0]}" if lines else str(known.path)
    return "\n".join((
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
        "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
        "Someone could be eavesdropping on you right now (man-in-the-middle attack)!",
        "It is also possible that a host key has just been changed.",
        f"The fingerprint for the {key.get_algorithm()} key sent by the remote host is",
        f"{fingerprint(key)}.",
        f"Offending key for {host_pattern(host, port)} in {where}",
        f"Host key verification failed for {host_pattern(host, port)}.",
    )) + "\n"


def unknown_key_question(host: str, port: int, key: asyncssh.SSHKey) -> str:
    return (f"The authenticity of host '{host_pattern(host, port)}' can't be established.\n"
            f"{key.get_algorithm()} key fingerprint is {fingerprint(key)}.\n"
            "Are you sure you want to continue connecting (yes/no)? ")
